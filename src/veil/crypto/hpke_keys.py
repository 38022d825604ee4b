"""HPKE recipients (RFC 9180 base mode): DHKEM(X25519) and the ML-KEM-768+X25519 hybrid.

Both wrap the file key with ``cryptography``'s single-shot HPKE (suite KEM / HKDF-SHA256 /
AES-256-GCM), info ``veil/v1/stanza/<type>`` (docs/format-sealed.md, *Stanzas*).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import ClassVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

from veil.crypto.encoding import b64encode
from veil.crypto.recipient import FILE_KEY_SIZE, Identity, Recipient, Stanza
from veil.errors import KeyFormatError

_HPKE_LABEL = "veil/v1/stanza/"


class _HpkeRecipient(Recipient):
    _kem: ClassVar[hpke.KEM]

    @abstractmethod
    def _public_key(self) -> object:
        """The key object ``cryptography``'s HPKE suite takes."""

    def wrap(self, file_key: bytes, salt: bytes) -> Stanza:
        suite = hpke.Suite(self._kem, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
        body = suite.encrypt(
            file_key, self._public_key(), info=(_HPKE_LABEL + self.stanza_type).encode()
        )
        return Stanza(self.stanza_type, (b64encode(self.tag(salt)),), body)


class _HpkeIdentity(Identity):
    _kem: ClassVar[hpke.KEM]
    _body_size: ClassVar[int]

    @abstractmethod
    def _private_key(self) -> object:
        """The key object ``cryptography``'s HPKE suite takes."""

    def unwrap(self, stanza: Stanza) -> bytes | None:
        stype = self.recipient().stanza_type
        if stanza.type != stype or len(stanza.body) != self._body_size:
            return None
        suite = hpke.Suite(self._kem, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
        try:
            key = suite.decrypt(
                stanza.body, self._private_key(), info=(_HPKE_LABEL + stype).encode()
            )
        except (InvalidTag, ValueError):
            return None
        return key if len(key) == FILE_KEY_SIZE else None


class X25519Recipient(_HpkeRecipient):
    kind = "x25519"
    stanza_type = "X25519"
    _kem = hpke.KEM.X25519

    def __init__(self, key: x25519.X25519PublicKey) -> None:
        self._key = key

    @classmethod
    def from_bytes(cls, data: bytes) -> X25519Recipient:
        if len(data) != 32:
            raise KeyFormatError("an X25519 public key is 32 bytes")
        return cls(x25519.X25519PublicKey.from_public_bytes(data))

    def public_bytes(self) -> bytes:
        return self._key.public_bytes_raw()

    def _public_key(self) -> object:
        return self._key


class X25519Identity(_HpkeIdentity):
    kind = "x25519"
    _kem = hpke.KEM.X25519
    _body_size = 32 + FILE_KEY_SIZE + 16

    def __init__(self, key: x25519.X25519PrivateKey) -> None:
        self._key = key

    @classmethod
    def generate(cls) -> X25519Identity:
        return cls(x25519.X25519PrivateKey.generate())

    @classmethod
    def from_bytes(cls, data: bytes) -> X25519Identity:
        if len(data) != 32:
            raise KeyFormatError("an X25519 private key is 32 bytes")
        return cls(x25519.X25519PrivateKey.from_private_bytes(data))

    def private_bytes(self) -> bytes:
        return self._key.private_bytes_raw()

    def recipient(self) -> X25519Recipient:
        return X25519Recipient(self._key.public_key())

    def _private_key(self) -> object:
        return self._key


_MLKEM_PUB = 1184


class MLKEM768X25519Recipient(_HpkeRecipient):
    kind = "mlkem768x25519"
    stanza_type = "MLKEM768-X25519"
    _kem = hpke.KEM.MLKEM768_X25519

    def __init__(self, mlkem_key: mlkem.MLKEM768PublicKey, x_key: x25519.X25519PublicKey) -> None:
        self._mlkem, self._x = mlkem_key, x_key

    @classmethod
    def from_bytes(cls, data: bytes) -> MLKEM768X25519Recipient:
        if len(data) != _MLKEM_PUB + 32:
            raise KeyFormatError("an ML-KEM-768+X25519 public key is 1216 bytes")
        try:
            m = mlkem.MLKEM768PublicKey.from_public_bytes(data[:_MLKEM_PUB])
        except ValueError as exc:
            raise KeyFormatError("invalid ML-KEM-768 public key") from exc
        return cls(m, x25519.X25519PublicKey.from_public_bytes(data[_MLKEM_PUB:]))

    def public_bytes(self) -> bytes:
        return self._mlkem.public_bytes_raw() + self._x.public_bytes_raw()

    def _public_key(self) -> object:
        return hpke.MLKEM768X25519PublicKey(self._mlkem, self._x)


class MLKEM768X25519Identity(_HpkeIdentity):
    kind = "mlkem768x25519"
    _kem = hpke.KEM.MLKEM768_X25519
    _body_size = 1120 + FILE_KEY_SIZE + 16

    def __init__(self, mlkem_key: mlkem.MLKEM768PrivateKey, x_key: x25519.X25519PrivateKey) -> None:
        self._mlkem, self._x = mlkem_key, x_key

    @classmethod
    def generate(cls) -> MLKEM768X25519Identity:
        return cls(mlkem.MLKEM768PrivateKey.generate(), x25519.X25519PrivateKey.generate())

    @classmethod
    def from_bytes(cls, data: bytes) -> MLKEM768X25519Identity:
        if len(data) != 64 + 32:
            raise KeyFormatError("an ML-KEM-768+X25519 private key is 96 bytes (seed ‖ X25519)")
        m = mlkem.MLKEM768PrivateKey.from_seed_bytes(data[:64])
        return cls(m, x25519.X25519PrivateKey.from_private_bytes(data[64:]))

    def private_bytes(self) -> bytes:
        return self._mlkem.private_bytes_raw() + self._x.private_bytes_raw()

    def recipient(self) -> MLKEM768X25519Recipient:
        return MLKEM768X25519Recipient(self._mlkem.public_key(), self._x.public_key())

    def _private_key(self) -> object:
        return hpke.MLKEM768X25519PrivateKey(self._mlkem, self._x)
