"""Keys: generate, parse and load recipients and identities of every kind.

The classes live by kind (``hpke_keys``, ``rsa_keys``, ``signing``, ``passphrase``) on the
base classes of ``recipient``; this module is where callers get them from.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa, x25519

from veil.crypto.encoding import b64url_decode
from veil.crypto.hpke_keys import (
    MLKEM768X25519Identity,
    MLKEM768X25519Recipient,
    X25519Identity,
    X25519Recipient,
)
from veil.crypto.passphrase import ScryptIdentity, ScryptRecipient
from veil.crypto.recipient import (
    FILE_KEY_SIZE,
    IDENTITY_PREFIX,
    RECIPIENT_PREFIX,
    Identity,
    Recipient,
    Stanza,
)
from veil.crypto.rsa_keys import RSAIdentity, RSARecipient
from veil.crypto.seal import MAGIC
from veil.crypto.seal import open as open_sealed
from veil.crypto.signing import Ed25519Identity, Ed25519PublicKey
from veil.errors import KeyFormatError, PassphraseError

__all__ = [
    "FILE_KEY_SIZE",
    "Ed25519Identity",
    "Ed25519PublicKey",
    "Identity",
    "MLKEM768X25519Identity",
    "MLKEM768X25519Recipient",
    "RSAIdentity",
    "RSARecipient",
    "Recipient",
    "ScryptIdentity",
    "ScryptRecipient",
    "Stanza",
    "X25519Identity",
    "X25519Recipient",
    "generate_identity",
    "identity_file_text",
    "load_identities",
    "load_recipients",
    "parse_identities",
    "parse_recipient",
]
_KEYGEN_TYPES = ("x25519", "mlkem768-x25519", "rsa-3072", "rsa-4096", "ed25519")

_RECIPIENT_CLASSES: dict[str, type] = {
    "x25519": X25519Recipient,
    "mlkem768x25519": MLKEM768X25519Recipient,
    "rsa": RSARecipient,
    "ed25519": Ed25519PublicKey,
}
_IDENTITY_CLASSES: dict[str, type] = {
    "x25519": X25519Identity,
    "mlkem768x25519": MLKEM768X25519Identity,
    "rsa": RSAIdentity,
    "ed25519": Ed25519Identity,
}


def generate_identity(kind: str = "x25519") -> Identity:
    """A fresh identity: x25519, mlkem768-x25519, rsa-3072, rsa-4096 or ed25519."""
    kind = kind.lower()
    if kind == "x25519":
        return X25519Identity.generate()
    if kind in ("mlkem768-x25519", "mlkem768x25519"):
        return MLKEM768X25519Identity.generate()
    if kind in ("rsa", "rsa-3072"):
        return RSAIdentity.generate(3072)
    if kind == "rsa-4096":
        return RSAIdentity.generate(4096)
    if kind == "ed25519":
        return Ed25519Identity.generate()
    raise KeyFormatError(f"unknown key type {kind!r}; choose one of {', '.join(_KEYGEN_TYPES)}")


# the pyca key classes a PEM/OpenSSH file may hold, and the veil class that wraps each
_PUBLIC_WRAPPERS: tuple[tuple[type, type], ...] = (
    (rsa.RSAPublicKey, RSARecipient),
    (ed25519.Ed25519PublicKey, Ed25519PublicKey),
    (x25519.X25519PublicKey, X25519Recipient),
)
_PRIVATE_WRAPPERS: tuple[tuple[type, type], ...] = (
    (rsa.RSAPrivateKey, RSAIdentity),
    (ed25519.Ed25519PrivateKey, Ed25519Identity),
    (x25519.X25519PrivateKey, X25519Identity),
)


def _wrap(key: object, table: tuple[tuple[type, type], ...]) -> Any:
    for pyca_class, veil_class in table:
        if isinstance(key, pyca_class):
            return veil_class(key)
    raise KeyFormatError(f"unsupported key type {type(key).__name__}")


def _public_from_pem_or_ssh(data: bytes) -> Recipient:
    text = data.strip()
    try:
        if text.startswith(b"ssh-"):
            key = serialization.load_ssh_public_key(text.split(b"\n")[0])
        elif b"PRIVATE KEY" in text:
            return parse_identities(data.decode("ascii", "replace"))[0].recipient()
        else:
            key = serialization.load_pem_public_key(text)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyFormatError("could not parse the public key (PEM or OpenSSH expected)") from exc
    return _wrap(key, _PUBLIC_WRAPPERS)


def parse_recipient(text: str) -> Recipient:
    """Parse a ``veil:<kind>:…`` string, an OpenSSH ``ssh-rsa …`` line or a PEM public key."""
    text = text.strip()
    if text.startswith(RECIPIENT_PREFIX):
        parts = text.split(":")
        if len(parts) != 3 or parts[1] not in _RECIPIENT_CLASSES:
            raise KeyFormatError(f"unknown recipient kind in {text[:40]!r}")
        try:
            raw = b64url_decode(parts[2])
        except ValueError as exc:
            raise KeyFormatError("recipient string is not valid base64url") from exc
        return _RECIPIENT_CLASSES[parts[1]].from_bytes(raw)
    if text.startswith(("ssh-", "-----BEGIN")):
        return _public_from_pem_or_ssh(text.encode())
    raise KeyFormatError(f"not a recipient: {text[:40]!r} (expected veil:<kind>:…, ssh-rsa or PEM)")


def load_recipients(sources: Iterable[str], files: Iterable[str | Path] = ()) -> list[Recipient]:
    """Recipients from strings (or paths to key files) and from recipients files (one a line)."""
    out: list[Recipient] = []
    for src in sources:
        path = Path(src)
        if not src.startswith((RECIPIENT_PREFIX, "ssh-", "-----BEGIN")) and path.is_file():
            out.append(_public_from_pem_or_ssh(path.read_bytes()))
        else:
            out.append(parse_recipient(src))
    for f in files:
        for line in Path(f).read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                out.append(parse_recipient(line))
    return out


def _identity_from_pem(data: bytes) -> Identity:
    try:
        if b"OPENSSH PRIVATE KEY" in data:
            key = serialization.load_ssh_private_key(data, password=None)
        else:
            key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeyFormatError("could not parse the private key (unencrypted PEM/OpenSSH)") from exc
    return _wrap(key, _PRIVATE_WRAPPERS)


def parse_identities(text: str) -> list[Identity]:
    """Identities from the text of an identity file (``VEIL-IDENTITY:`` lines, or one PEM key)."""
    if "-----BEGIN" in text:
        return [_identity_from_pem(text.encode())]
    out: list[Identity] = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if (
            len(parts) != 3
            or parts[0] + ":" != IDENTITY_PREFIX
            or parts[1] not in _IDENTITY_CLASSES
        ):
            raise KeyFormatError(f"line {n} of the identity file is not a veil identity")
        try:
            raw = b64url_decode(parts[2])
        except ValueError as exc:
            raise KeyFormatError(f"line {n} of the identity file is not valid base64url") from exc
        out.append(_IDENTITY_CLASSES[parts[1]].from_bytes(raw))
    if not out:
        raise KeyFormatError("the identity file holds no identity")
    return out


def identity_file_text(identity: Identity) -> str:
    """The text of a new identity file: comments naming the recipient, then the identity line."""
    return (
        f"# veil identity, created {datetime.now(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}\n"
        f"# fingerprint: {identity.fingerprint}\n"
        f"# recipient: {identity.recipient()}\n"
        f"{identity.to_string()}\n"
    )


def load_identities(
    paths: Sequence[str | Path], passphrase: str | bytes | None = None
) -> list[Identity]:
    """Load identity files; a passphrase-protected one (a sealed file) needs ``passphrase``."""
    out: list[Identity] = []
    for p in paths:
        data = Path(p).read_bytes()
        if data.startswith(MAGIC):
            if passphrase is None:
                raise PassphraseError(f"{p} is passphrase-protected; a passphrase is needed")
            data = open_sealed(data, [ScryptIdentity(passphrase)])
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise KeyFormatError(f"{p} is not an identity file") from exc
        out.extend(parse_identities(text))
    return out
