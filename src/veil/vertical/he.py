"""Additive homomorphic encryption for the vertical protocols, from SecretFlow's HEU.

veil does not implement Paillier: it uses ``sf-heu`` (SecretFlow's Homomorphic Encryption
processing Unit, C++), chosen over ``phe`` + ``gmpy2`` by measurement (``python -m bench
vertical_he``; docs/vertical.md, *Homomorphic encryption*). The label party holds a
:class:`SecretKit`; the other parties get a :class:`PublicKit` from its public key bytes.
Ciphertext matrices travel as HEU's own serialisation, parsed here with their shape checked.

Schemes: ``paillier`` (Z-Paillier, the default; Paillier 1999; 2048-bit modulus: 112-bit
security, NIST SP 800-57) and ``ou`` (Okamoto–Uchiyama 1998, SecretFlow's default for
boosting: ~18× faster encryption). HEU 0.5.2's OU draws only a 110-bit random exponent per
encryption (``kRandomBits2048``), so testing a guessed plaintext costs about 2⁵⁵ work
(kangaroo): below 112 bits whatever the key size. Use it for speed where that is acceptable
(tests, benchmarks), never by default (docs/vertical.md, *Homomorphic encryption*).
"""

from __future__ import annotations

import numpy as np
from heu import numpy as hnp
from heu import phe

from veil.errors import FormatError, KeyFormatError

SCHEMES = {"paillier": phe.SchemaType.ZPaillier, "ou": phe.SchemaType.OU}
#: smallest key veil accepts from a peer (NIST SP 800-57: 2048-bit factoring ≈ 112-bit security)
MIN_KEY_BITS = 2048

CipherMatrix = hnp.CiphertextArray


def _scheme(name: str) -> phe.SchemaType:
    try:
        return SCHEMES[name]
    except KeyError:
        raise KeyFormatError(f"unknown HE scheme {name!r}; choose from {sorted(SCHEMES)}") from None


class PublicKit:
    """What a non-label party holds: encrypt (masks), add, multiply by plaintext, serialise."""

    def __init__(self, kit: hnp.HeKit | hnp.DestinationHeKit, scheme: str) -> None:
        self.kit, self.scheme = kit, scheme
        # scale 1: HEU's default integer encoder multiplies by 10⁶, which breaks ct × pt
        self.encoder = phe.IntegerEncoder(kit.get_schema(), scale=1)
        self.evaluator = kit.evaluator()

    @classmethod
    def from_bytes(cls, scheme: str, data: bytes) -> PublicKit:
        _scheme(scheme)
        try:
            key = phe.PublicKey.load_from(data)
            kit = hnp.setup(key)
        except Exception as exc:  # HEU raises its own runtime errors on junk
            raise KeyFormatError("not an HE public key") from exc
        if kit.get_schema() != SCHEMES[scheme]:
            raise KeyFormatError("HE public key is of another scheme")
        if key_bits(key, scheme) < MIN_KEY_BITS:
            raise KeyFormatError(f"HE key below {MIN_KEY_BITS} bits")
        return cls(kit, scheme)

    def public_bytes(self) -> bytes:
        return bytes(self.kit.public_key().serialize())

    def plain(self, values: np.ndarray) -> hnp.PlaintextArray:
        """Integers (int64, any shape up to 2-D) as HEU plaintexts."""
        return self.kit.array(np.asarray(values, dtype=np.int64), self.encoder)

    def encrypt(self, values: np.ndarray) -> CipherMatrix:
        return self.kit.encryptor().encrypt(self.plain(values))

    def parse(self, data: bytes, shape: tuple[int, ...]) -> CipherMatrix:
        """Ciphertexts from a peer, refused unless they have exactly ``shape``."""
        try:
            ct = hnp.CiphertextArray.load_from(data)
        except Exception as exc:
            raise FormatError("not a ciphertext matrix") from exc
        if tuple(ct.shape) != tuple(shape):
            raise FormatError(f"ciphertext matrix has shape {tuple(ct.shape)}, expected {shape}")
        return ct


class SecretKit(PublicKit):
    """The label party's key pair: it alone decrypts."""

    @classmethod
    def generate(cls, scheme: str = "paillier", bits: int = MIN_KEY_BITS) -> SecretKit:
        if bits < MIN_KEY_BITS:
            raise KeyFormatError(f"HE keys are at least {MIN_KEY_BITS} bits")
        return cls(hnp.setup(_scheme(scheme), bits), scheme)

    def decrypt(self, ct: CipherMatrix) -> np.ndarray:
        """Decrypted integers as int64 (the protocols keep sums within ±2⁶³)."""
        return self.kit.decryptor().decrypt(ct).to_numpy(self.encoder).astype(np.int64)

    def decrypt_big(self, ct: CipherMatrix) -> np.ndarray:
        """Decrypted integers as Python ints (object array) for values beyond int64."""
        plain = self.kit.decryptor().decrypt(ct)
        out = plain.to_numpy(phe.BigintEncoder(self.kit.get_schema()))
        return np.asarray(out, dtype=object)


def to_bytes(ct: CipherMatrix) -> bytes:
    return bytes(ct.serialize(hnp.MatrixSerializeFormat.Best))


def key_bits(key: phe.PublicKey, scheme: str) -> int:
    """The modulus size of an HE public key, from HEU's plaintext bound: n / 2 for
    Paillier, about p (a third of n = p²q) for Okamoto–Uchiyama."""
    bound_bits = int(str(key.plaintext_bound())).bit_length()
    return bound_bits * 3 if scheme == "ou" else bound_bits + 1
