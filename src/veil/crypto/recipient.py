"""Recipient and identity base classes, as in age: ``wrap(file_key)`` and ``unwrap(stanza)``.

Each key type wraps a random 32-byte file key into one header stanza (docs/format-sealed.md):

* X25519 and ML-KEM-768+X25519: HPKE base mode, RFC 9180, through ``cryptography``;
* RSA-OAEP-256: RFC 8017 §7.1, SHA-256 / MGF1-SHA-256, keys of 3072 bits or more;
* scrypt: a passphrase (only ever the single stanza of a file);
* Ed25519: signing only, never a recipient.

Keys travel as ``veil:<kind>:<b64url>`` recipient strings and ``VEIL-IDENTITY:<kind>:<b64url>``
identity lines; RSA keys may also come as PEM or OpenSSH files.
"""

from __future__ import annotations

import hashlib
import hmac
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from veil.crypto.encoding import b64decode, b64url_encode

FILE_KEY_SIZE = 32
TAG_SIZE = 4
RECIPIENT_PREFIX = "veil:"
IDENTITY_PREFIX = "VEIL-IDENTITY:"
MIN_RSA_BITS = 3072
SCRYPT_DEFAULT_LOG_N = 18
SCRYPT_MIN_LOG_N, SCRYPT_MAX_LOG_N = 10, 22
KINDS = ("x25519", "mlkem768x25519", "rsa", "ed25519")


@dataclass(frozen=True)
class Stanza:
    """One header stanza: ``-> type args…`` and a binary body."""

    type: str
    args: tuple[str, ...]
    body: bytes


def _fingerprint(kind: str, public: bytes) -> str:
    return "SHA256:" + hashlib.sha256(kind.encode() + b"\x00" + public).hexdigest()[:16]


class Recipient(ABC):
    """A public key a file key can be wrapped to (or, for Ed25519, a signature checked with)."""

    kind: ClassVar[str]
    stanza_type: ClassVar[str]

    @abstractmethod
    def public_bytes(self) -> bytes:
        """The canonical public bytes (also what the tag and fingerprint hash)."""

    @abstractmethod
    def wrap(self, file_key: bytes, salt: bytes) -> Stanza:
        """Wrap ``file_key`` into a stanza; ``salt`` is the file's payload salt (for the tag)."""

    def tag(self, salt: bytes) -> bytes:
        """The 4-byte recipient tag of a file with this payload salt."""
        material = b"veil/v1/tag" + salt + self.stanza_type.encode() + b"\x00" + self.public_bytes()
        return hashlib.sha256(material).digest()[:TAG_SIZE]

    @property
    def fingerprint(self) -> str:
        """Short, stable fingerprint: ``SHA256:`` + 16 hex digits."""
        return _fingerprint(self.kind, self.public_bytes())

    def __str__(self) -> str:
        return f"{RECIPIENT_PREFIX}{self.kind}:{b64url_encode(self.public_bytes())}"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Recipient)
            and other.kind == self.kind
            and hmac.compare_digest(other.public_bytes(), self.public_bytes())
        )

    def __hash__(self) -> int:
        return hash((self.kind, self.public_bytes()))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.fingerprint}>"


class Identity(ABC):
    """A private key that may unwrap stanzas (or, for Ed25519, sign)."""

    kind: ClassVar[str]

    @abstractmethod
    def recipient(self) -> Recipient:
        """The matching public key."""

    @abstractmethod
    def unwrap(self, stanza: Stanza) -> bytes | None:
        """The file key if this identity opens ``stanza``, else ``None`` (a miss never raises)."""

    @abstractmethod
    def private_bytes(self) -> bytes:
        """Canonical private bytes (secret: never log them)."""

    def matches(self, stanza: Stanza, salt: bytes) -> bool:
        """Whether the stanza's tag names this identity's recipient."""
        if stanza.type != self.recipient().stanza_type or not stanza.args:
            return False
        try:
            tag = b64decode(stanza.args[0])
        except ValueError:
            return False
        return hmac.compare_digest(tag, self.recipient().tag(salt))

    def to_string(self) -> str:
        """The identity line ``VEIL-IDENTITY:<kind>:<b64url>`` (a secret)."""
        return f"{IDENTITY_PREFIX}{self.kind}:{b64url_encode(self.private_bytes())}"

    @property
    def fingerprint(self) -> str:
        return self.recipient().fingerprint

    def __repr__(self) -> str:  # never show key material
        return f"<{type(self).__name__} {self.fingerprint}>"
