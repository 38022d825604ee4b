"""The text header of a veil/v1 sealed file: grammar, strict parsing, the header MAC.

Implements the *Header* section of docs/format-sealed.md. Parsing is strict and bounded:
any deviation is an :class:`~veil.errors.IntegrityError`, because before the MAC is checked
a malformed header and a tampered one are the same thing.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from hashlib import sha256
from typing import BinaryIO

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from veil.crypto.encoding import b64decode, b64encode
from veil.crypto.recipient import Stanza
from veil.errors import IntegrityError

MAGIC = b"veil/v1\n"
SALT_SIZE = 16
MAC_SIZE = 32
MAX_HEADER = 1 << 20
MAX_LINE = 4096
MAX_STANZAS = 1024
BODY_COLUMNS = 64
STANZA_TYPES = frozenset({"X25519", "MLKEM768-X25519", "RSA-OAEP-256", "scrypt"})
_ARG_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def hkdf(ikm: bytes, salt: bytes, info: bytes, length: int = 32) -> bytes:
    """HKDF-SHA-256 (RFC 5869)."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt or None, info=info).derive(ikm)


def header_mac(file_key: bytes, mac_input: bytes) -> bytes:
    """HMAC-SHA-256 under HKDF(file key, info "veil/v1/header") over the header up to the salt."""
    return hmac.new(hkdf(file_key, b"", b"veil/v1/header"), mac_input, sha256).digest()


@dataclass
class Header:
    """A parsed (or to-be-written) header."""

    stanzas: list[Stanza]
    salt: bytes
    signer: bytes | None = None  # Ed25519 public key, if the file is signed
    mac: bytes = b""
    raw: bytes = field(default=b"", repr=False)  # exact bytes as read or written

    def mac_input(self) -> bytes:
        """The bytes the MAC covers: from the magic line up to and including b64(salt)."""
        out = [MAGIC]
        for st in self.stanzas:
            out.append(("-> " + " ".join((st.type, *st.args)) + "\n").encode("ascii"))
            body = b64encode(st.body)
            lines = [body[i : i + BODY_COLUMNS] for i in range(0, len(body), BODY_COLUMNS)]
            if not lines or len(lines[-1]) == BODY_COLUMNS:
                lines.append("")  # the final line is always shorter than 64 columns
            out.extend((ln + "\n").encode("ascii") for ln in lines)
        if self.signer is not None:
            out.append(f"signed-by ed25519 {b64encode(self.signer)}\n".encode("ascii"))
        out.append(f"--- {b64encode(self.salt)}".encode("ascii"))
        return b"".join(out)

    def seal(self, file_key: bytes) -> bytes:
        """Compute the MAC and return the full header bytes."""
        mac_input = self.mac_input()
        self.mac = header_mac(file_key, mac_input)
        self.raw = mac_input + f" {b64encode(self.mac)}\n".encode("ascii")
        return self.raw

    def verify(self, file_key: bytes) -> bool:
        """Constant-time check of the MAC under ``file_key``."""
        return hmac.compare_digest(header_mac(file_key, self.mac_input()), self.mac)


def _bad(why: str) -> IntegrityError:
    return IntegrityError(
        f"header is malformed ({why}): the file may be corrupted or tampered with"
    )


class _LineReader:
    """Reads LF-terminated ASCII lines from a binary stream within the header bounds."""

    def __init__(self, src: BinaryIO) -> None:
        self.src = src
        self.raw = bytearray()

    def line(self) -> str:
        data = self.src.readline(MAX_LINE + 1)
        if not data.endswith(b"\n"):
            raise _bad("line too long or file truncated")
        self.raw += data
        if len(self.raw) > MAX_HEADER:
            raise _bad("header too large")
        try:
            return data[:-1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise _bad("non-ASCII byte") from exc


def _parse_args(words: list[str]) -> tuple[str, tuple[str, ...]]:
    if len(words) < 2 or words[0] != "->" or words[1] not in STANZA_TYPES:
        raise _bad("unknown stanza")
    stype, args = words[1], tuple(words[2:])
    if any(not a or not set(a) <= _ARG_CHARS for a in args):
        raise _bad("bad stanza argument")
    if stype == "scrypt":
        if len(args) != 2 or not args[1].isdigit() or args[1] != str(int(args[1])):
            raise _bad("bad scrypt stanza")
        _decode(args[0], SALT_SIZE)
    elif len(args) != 1:
        raise _bad("a recipient stanza has exactly one tag")
    else:
        _decode(args[0], 4)
    return stype, args


def _decode(text: str, size: int | None = None) -> bytes:
    try:
        out = b64decode(text)
    except ValueError as exc:
        raise _bad("bad base64") from exc
    if size is not None and len(out) != size:
        raise _bad("wrong length")
    return out


def read_header(src: BinaryIO) -> Header:
    """Parse a header from ``src``, leaving the stream positioned at the payload."""
    reader = _LineReader(src)
    if reader.line() + "\n" != MAGIC.decode():
        raise IntegrityError("not a veil/v1 sealed file (or its first line is damaged)")
    stanzas: list[Stanza] = []
    signer: bytes | None = None
    line = reader.line()
    while line.startswith("->"):
        if len(stanzas) == MAX_STANZAS:
            raise _bad("too many stanzas")
        stype, args = _parse_args(line.split(" "))
        body_lines: list[str] = []
        while True:
            bl = reader.line()
            body_lines.append(bl)
            if len(bl) > BODY_COLUMNS:
                raise _bad("body line too long")
            if len(bl) < BODY_COLUMNS:
                break
        stanzas.append(Stanza(stype, args, _decode("".join(body_lines))))
        line = reader.line()
    if not stanzas:
        raise _bad("no stanza")
    if any(s.type == "scrypt" for s in stanzas) and len(stanzas) != 1:
        raise _bad("an scrypt stanza must be the only stanza")
    if line.startswith("signed-by "):
        words = line.split(" ")
        if len(words) != 3 or words[1] != "ed25519":
            raise _bad("bad signer line")
        signer = _decode(words[2], 32)
        line = reader.line()
    words = line.split(" ")
    if len(words) != 3 or words[0] != "---":
        raise _bad("bad MAC line")
    header = Header(stanzas, _decode(words[1], SALT_SIZE), signer, _decode(words[2], MAC_SIZE))
    header.raw = bytes(reader.raw)
    if header.mac_input() + f" {words[2]}\n".encode() != header.raw:
        raise _bad("non-canonical header")  # e.g. a body wrapped differently
    return header
