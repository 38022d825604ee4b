"""Ed25519 (RFC 8032) signing keys: a sealed file's sender, reports, audit records.

They share the recipient/identity string forms, but an Ed25519 key is never a recipient.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from veil.crypto.recipient import Identity, Recipient, Stanza
from veil.errors import KeyFormatError


class Ed25519PublicKey(Recipient):
    """A sender's verification key; it checks signatures and is never a sealing recipient."""

    kind = "ed25519"
    stanza_type = "ed25519"

    def __init__(self, key: ed25519.Ed25519PublicKey) -> None:
        self._key = key

    @classmethod
    def from_bytes(cls, data: bytes) -> Ed25519PublicKey:
        if len(data) != 32:
            raise KeyFormatError("an Ed25519 public key is 32 bytes")
        try:
            return cls(ed25519.Ed25519PublicKey.from_public_bytes(data))
        except ValueError as exc:
            raise KeyFormatError("invalid Ed25519 public key") from exc

    def public_bytes(self) -> bytes:
        return self._key.public_bytes_raw()

    def wrap(self, file_key: bytes, salt: bytes) -> Stanza:
        raise KeyFormatError("an ed25519 key signs; it cannot be a recipient (use --sign)")

    def verify(self, signature: bytes, message: bytes) -> bool:
        """True iff ``signature`` is valid for ``message`` under this key."""
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


class Ed25519Identity(Identity):
    """A signing key (reports, audit records, sealed files' sender signature)."""

    kind = "ed25519"

    def __init__(self, key: ed25519.Ed25519PrivateKey) -> None:
        self._key = key

    @classmethod
    def generate(cls) -> Ed25519Identity:
        return cls(ed25519.Ed25519PrivateKey.generate())

    @classmethod
    def from_bytes(cls, data: bytes) -> Ed25519Identity:
        if len(data) != 32:
            raise KeyFormatError("an Ed25519 private key is 32 bytes")
        return cls(ed25519.Ed25519PrivateKey.from_private_bytes(data))

    def private_bytes(self) -> bytes:
        return self._key.private_bytes_raw()

    def recipient(self) -> Ed25519PublicKey:
        return Ed25519PublicKey(self._key.public_key())

    def unwrap(self, stanza: Stanza) -> bytes | None:
        return None

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)
