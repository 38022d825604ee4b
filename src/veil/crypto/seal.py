"""Seal and open: the small public API over the veil/v1 format (docs/format-sealed.md).

``seal(data, recipients)`` / ``open(blob, identities)`` work on bytes; ``seal_stream`` /
``open_stream`` on binary streams in constant memory. ``open_stream`` to a *path* writes a
temporary file beside the target and renames it only once everything authenticated, so a
tampered file never leaves plaintext on disk. A path that is not a regular file (a FIFO,
a device, ``/dev/fd/N`` from ``-o >(cmd)``) cannot be written that way and is refused
(``ConfigError``): to stream, pass a stream, and trust it only once ``open_stream`` returns.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import stat
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from veil.crypto.header import MAGIC, SALT_SIZE, Header, hkdf, read_header
from veil.crypto.passphrase import ScryptIdentity, ScryptRecipient
from veil.crypto.recipient import FILE_KEY_SIZE, Identity, Recipient
from veil.crypto.signing import Ed25519Identity, Ed25519PublicKey
from veil.crypto.stream import decrypt_stream, encrypt_stream
from veil.errors import (
    ConfigError,
    IntegrityError,
    NoIdentityError,
    PassphraseError,
    SignatureError,
)

__all__ = [
    "MAGIC",
    "Opened",
    "atomic_output",
    "atomic_write",
    "open",
    "open_stream",
    "seal",
    "seal_stream",
]

SIGNATURE_SIZE = 64
_SIG_LABEL = b"veil/v1/signature\x00"


@dataclass(frozen=True)
class Opened:
    """What ``open_stream`` learned: plaintext size and the verified signer, if any."""

    size: int
    signer: Ed25519PublicKey | None


def _payload_key(file_key: bytes, salt: bytes) -> bytes:
    return hkdf(file_key, salt, b"veil/v1/payload")


def _check_recipients(recipients: Sequence[Recipient]) -> None:
    if isinstance(recipients, Recipient | str | bytes):
        raise TypeError("recipients must be a sequence of Recipient objects")
    if not recipients:
        raise ValueError("at least one recipient is needed")
    for r in recipients:
        if not isinstance(r, Recipient):
            raise TypeError(f"not a Recipient: {type(r).__name__} (use veil.parse_recipient)")
    if any(isinstance(r, ScryptRecipient) for r in recipients) and len(recipients) > 1:
        raise ValueError("a passphrase must be the only recipient of a file")


def _check_identities(identities: Sequence[Identity]) -> None:
    if isinstance(identities, Identity | str | bytes):
        raise TypeError("identities must be a sequence of Identity objects")
    if not identities:
        raise ValueError("at least one identity is needed")
    for i in identities:
        if not isinstance(i, Identity):
            raise TypeError(f"not an Identity: {type(i).__name__}")


def seal_stream(
    src: BinaryIO,
    dst: BinaryIO,
    recipients: Sequence[Recipient],
    *,
    sign_with: Ed25519Identity | None = None,
) -> int:
    """Seal everything read from ``src`` to ``recipients``, writing to ``dst``.

    Returns the plaintext size. With ``sign_with``, appends the sender's Ed25519 signature.
    """
    _check_recipients(recipients)
    if sign_with is not None and not isinstance(sign_with, Ed25519Identity):
        raise TypeError("sign_with must be an Ed25519Identity")
    file_key = os.urandom(FILE_KEY_SIZE)
    salt = os.urandom(SALT_SIZE)
    signer = sign_with.recipient().public_bytes() if sign_with else None
    header = Header([r.wrap(file_key, salt) for r in recipients], salt, signer)
    raw = header.seal(file_key)
    dst.write(raw)
    if sign_with is None:
        return encrypt_stream(_payload_key(file_key, salt), src, dst.write)
    digest = hashlib.sha256(raw)

    def write(chunk: bytes | memoryview) -> None:
        digest.update(chunk)
        dst.write(chunk)

    size = encrypt_stream(_payload_key(file_key, salt), src, write)
    dst.write(sign_with.sign(_SIG_LABEL + digest.digest()))
    return size


def _unwrap(header: Header, identities: Sequence[Identity]) -> bytes:
    """Find the file key (see *Recipient tags* in the format spec) and check the header MAC."""
    tried: set[tuple[int, int]] = set()
    tag_matched = False

    def attempt(i: int, s: int) -> bytes | None:
        tried.add((i, s))
        key = identities[i].unwrap(header.stanzas[s])
        if key is not None and not header.verify(key):
            raise IntegrityError("header MAC mismatch: the file may be corrupted or tampered with")
        return key

    for i, ident in enumerate(identities):
        for s, st in enumerate(header.stanzas):
            if ident.matches(st, header.salt):
                tag_matched = True
                if (key := attempt(i, s)) is not None:
                    return key
    for i in range(len(identities)):
        for s in range(len(header.stanzas)):
            if (i, s) not in tried and (key := attempt(i, s)) is not None:
                return key
    if tag_matched:
        raise IntegrityError("a stanza for this identity does not unwrap: corrupted or tampered")
    if header.stanzas[0].type == "scrypt":
        if any(isinstance(i, ScryptIdentity) for i in identities):
            raise PassphraseError("wrong passphrase (or the file is damaged)")
        raise NoIdentityError("the file is passphrase-protected: a passphrase is needed")
    raise NoIdentityError("none of the given identities is a recipient of this file")


def open_stream(
    src: BinaryIO,
    dst: BinaryIO | str | os.PathLike[str],
    identities: Sequence[Identity],
    *,
    verify_sender: Ed25519PublicKey | None = None,
) -> Opened:
    """Open a sealed stream. ``dst`` is a stream, or a path written atomically on success.

    To a stream, each chunk is written once it authenticates; a later failure raises after
    earlier chunks were written (treat such output as untrusted until this returns). A path
    must be a regular file (or not exist yet; ``os.devnull`` is allowed): a FIFO or device
    would receive the chunks of a truncated file before the failure, so it raises
    ``ConfigError`` before anything is read.
    """
    _check_identities(identities)
    if isinstance(dst, str | os.PathLike):
        with atomic_output(Path(dst), durable=False, special="refuse") as tmp:
            return open_stream(src, tmp, identities, verify_sender=verify_sender)
    header = read_header(src)
    if verify_sender is not None:
        if header.signer is None:
            raise SignatureError("the file is not signed, but a sender signature was required")
        if header.signer != verify_sender.public_bytes():
            raise SignatureError("the file was signed by a different sender")
    file_key = _unwrap(header, identities)
    key = _payload_key(file_key, header.salt)
    digest = hashlib.sha256(header.raw) if header.signer is not None else None
    size = 0

    def write(chunk: memoryview) -> None:
        nonlocal size
        size += len(chunk)
        dst.write(chunk)

    trailer = decrypt_stream(
        key,
        src,
        write,
        trailer=SIGNATURE_SIZE if header.signer is not None else 0,
        observe=digest.update if digest is not None else None,
    )
    signer = None
    if header.signer is not None and digest is not None:
        signer = Ed25519PublicKey.from_bytes(header.signer)
        if not signer.verify(trailer, _SIG_LABEL + digest.digest()):
            raise SignatureError("the sender signature does not verify")
    return Opened(size, signer)


def _special_file(path: Path) -> os.stat_result | None:
    """The ``stat`` of ``path`` if it exists and is not a regular file, else ``None``.

    ``os.stat`` follows links, so ``/dev/fd/63`` (bash's ``>(cmd)``) is seen as the pipe it
    is; ``Path.resolve`` would turn it into a ``pipe:[…]`` name that does not exist.
    """
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return None if stat.S_ISREG(st.st_mode) else st


def _is_devnull(st: os.stat_result) -> bool:
    try:
        return os.path.samestat(st, os.stat(os.devnull))
    except OSError:
        return False


@contextlib.contextmanager
def atomic_output(
    target: Path, *, durable: bool = True, special: Literal["stream", "refuse"] = "stream"
) -> Iterator[BinaryIO]:
    """A temporary file beside ``target``, renamed over it only if the block succeeds.

    ``durable`` also fsyncs before the rename, so a crash cannot leave a renamed but empty
    file: state and checkpoints want it; bulk plaintext output (like cp, age, gpg) does not.
    A target that is not a regular file (FIFO, device, ``/dev/fd/N``) cannot be renamed
    over: with ``special="stream"`` it is written through as a stream (fine for output that
    is not released on success only, like a sealed file); with ``special="refuse"`` it raises
    ``ConfigError`` (``os.devnull`` excepted: it releases nothing).
    """
    st = _special_file(target)
    if st is not None:
        if special == "refuse" and not _is_devnull(st):
            raise ConfigError(
                f"{target} is not a regular file (a FIFO, device or /dev/fd path): plaintext "
                "goes to a path only after the whole file authenticated, which a pipe cannot "
                "wait for; write to standard output instead (veil open … -o - | cmd) and "
                "trust that output only if veil exits 0"
            )
        with target.open("wb") as out:
            yield out
        return
    target = target.resolve()
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".veil-tmp", dir=target.parent
    )
    try:
        with os.fdopen(fd, "wb") as tmp:
            yield tmp
            tmp.flush()
            if durable:
                os.fsync(tmp.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def atomic_write(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically and durably (temporary file, fsync, rename)."""
    with atomic_output(Path(path)) as tmp:
        tmp.write(data)


def seal(
    data: bytes, recipients: Sequence[Recipient], *, sign_with: Ed25519Identity | None = None
) -> bytes:
    """Seal ``data`` to ``recipients``; returns the sealed bytes."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError("data must be bytes")
    out = io.BytesIO()
    seal_stream(io.BytesIO(data), out, recipients, sign_with=sign_with)
    return out.getvalue()


def open(
    blob: bytes,
    identities: Sequence[Identity],
    *,
    verify_sender: Ed25519PublicKey | None = None,
) -> bytes:
    """Open sealed bytes with ``identities``; raises IntegrityError / NoIdentityError."""
    if not isinstance(blob, bytes | bytearray | memoryview):
        raise TypeError("blob must be bytes")
    out = io.BytesIO()
    open_stream(io.BytesIO(blob), out, identities, verify_sender=verify_sender)
    return out.getvalue()
