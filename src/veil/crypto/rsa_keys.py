"""RSA-OAEP-256 recipients (RFC 8017 §7.1, SHA-256 and MGF1-SHA-256, 3072 bits or more)."""

from __future__ import annotations

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from veil.crypto.encoding import b64encode
from veil.crypto.recipient import FILE_KEY_SIZE, MIN_RSA_BITS, Identity, Recipient, Stanza
from veil.errors import KeyFormatError

_RSA_LABEL = b"veil/v1/stanza/RSA-OAEP-256"


def _oaep() -> padding.OAEP:
    return padding.OAEP(
        mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=_RSA_LABEL
    )


def _check_rsa_size(bits: int) -> None:
    """Refuse small moduli, and moduli whose size is not a whole number of bytes.

    An OAEP ciphertext is as long as the modulus in bytes (``ceil(bits / 8)``), but
    :meth:`RSAIdentity.unwrap` (and the format) expect ``bits / 8`` bytes: a 3073-bit key
    would seal files that nobody can open. Every import path and key generation come here.
    """
    if bits < MIN_RSA_BITS:
        raise KeyFormatError(f"RSA keys must have at least {MIN_RSA_BITS} bits (got {bits})")
    if bits % 8:
        raise KeyFormatError(f"RSA key sizes must be a multiple of 8 bits (got {bits})")


class RSARecipient(Recipient):
    kind = "rsa"
    stanza_type = "RSA-OAEP-256"

    def __init__(self, key: rsa.RSAPublicKey) -> None:
        _check_rsa_size(key.key_size)
        self._key = key

    @classmethod
    def from_bytes(cls, data: bytes) -> RSARecipient:
        try:
            key = serialization.load_der_public_key(data)
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise KeyFormatError(
                "invalid RSA public key (expected DER SubjectPublicKeyInfo)"
            ) from exc
        if not isinstance(key, rsa.RSAPublicKey):
            raise KeyFormatError("not an RSA public key")
        return cls(key)

    def public_bytes(self) -> bytes:
        return self._key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @property
    def key(self) -> rsa.RSAPublicKey:
        return self._key

    def wrap(self, file_key: bytes, salt: bytes) -> Stanza:
        body = self._key.encrypt(file_key, _oaep())
        return Stanza(self.stanza_type, (b64encode(self.tag(salt)),), body)


class RSAIdentity(Identity):
    kind = "rsa"

    def __init__(self, key: rsa.RSAPrivateKey) -> None:
        _check_rsa_size(key.key_size)
        self._key = key

    @classmethod
    def generate(cls, bits: int = 3072) -> RSAIdentity:
        _check_rsa_size(bits)  # before spending seconds on a key that would be refused
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=bits))

    @classmethod
    def from_bytes(cls, data: bytes) -> RSAIdentity:
        try:
            key = serialization.load_der_private_key(data, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise KeyFormatError("invalid RSA private key (expected PKCS#8 DER)") from exc
        if not isinstance(key, rsa.RSAPrivateKey):
            raise KeyFormatError("not an RSA private key")
        return cls(key)

    @property
    def key(self) -> rsa.RSAPrivateKey:
        return self._key

    def private_bytes(self) -> bytes:
        return self._key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def recipient(self) -> RSARecipient:
        return RSARecipient(self._key.public_key())

    def unwrap(self, stanza: Stanza) -> bytes | None:
        if stanza.type != RSARecipient.stanza_type or len(stanza.body) != self._key.key_size // 8:
            return None
        try:
            key = self._key.decrypt(stanza.body, _oaep())
        except ValueError:
            return None
        return key if len(key) == FILE_KEY_SIZE else None
