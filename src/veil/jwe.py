"""Small messages as JWE: RSA-OAEP-256 + A256GCM, compact serialisation (RFC 7516, RFC 7518).

The seed's "AES, then RSA" in the standard envelope any JOSE library reads: a random 256-bit
content key encrypts the message with AES-256-GCM (RFC 7518 §5.3); the key is wrapped with
RSAES-OAEP using SHA-256 and MGF1-SHA-256 (RFC 7518 §4.3). The AAD is the ASCII of the
encoded protected header (RFC 7516 §5.1 step 14). For files, use :func:`veil.seal`.

Every failure to decrypt a token raises :class:`~veil.errors.IntegrityError`, whatever the
cause (no padding or decoding oracle).
"""

from __future__ import annotations

import json
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from veil.crypto.encoding import b64url_decode, b64url_encode
from veil.crypto.rsa_keys import RSAIdentity, RSARecipient
from veil.errors import IntegrityError

ALG = "RSA-OAEP-256"
ENC = "A256GCM"
MAX_TOKEN = 16 << 20  # a JWE is for messages; larger data belongs in a sealed file

_OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def _rsa_public(recipient: RSARecipient | rsa.RSAPublicKey) -> rsa.RSAPublicKey:
    if isinstance(recipient, RSARecipient):
        return recipient.key
    if isinstance(recipient, rsa.RSAPublicKey):
        RSARecipient(recipient)  # enforces the minimum key size
        return recipient
    raise TypeError("a JWE recipient is an RSARecipient or an RSA public key")


def encrypt(
    plaintext: bytes, recipient: RSARecipient | rsa.RSAPublicKey, *, kid: str | None = None
) -> str:
    """Encrypt ``plaintext`` to an RSA recipient; returns the compact JWE string."""
    if not isinstance(plaintext, bytes | bytearray):
        raise TypeError("plaintext must be bytes")
    header: dict[str, str] = {"alg": ALG, "enc": ENC}
    if kid is not None:
        header["kid"] = kid
    protected = b64url_encode(json.dumps(header, separators=(",", ":")).encode())
    cek, iv = AESGCM.generate_key(256), os.urandom(12)
    sealed = AESGCM(cek).encrypt(iv, bytes(plaintext), protected.encode("ascii"))
    wrapped = _rsa_public(recipient).encrypt(cek, _OAEP)
    parts = (protected, b64url_encode(wrapped), b64url_encode(iv), sealed[:-16], sealed[-16:])
    return ".".join(p if isinstance(p, str) else b64url_encode(p) for p in parts)


def _fail() -> IntegrityError:
    return IntegrityError("invalid JWE: malformed, not for this key, or tampered with")


def decrypt(token: str | bytes, identity: RSAIdentity | rsa.RSAPrivateKey) -> bytes:
    """Decrypt a compact RSA-OAEP-256/A256GCM JWE; IntegrityError on any failure."""
    key = identity.key if isinstance(identity, RSAIdentity) else identity
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError("a JWE identity is an RSAIdentity or an RSA private key")
    if isinstance(token, bytes):
        try:
            token = token.decode("ascii")
        except UnicodeDecodeError:
            raise _fail() from None
    if len(token) > MAX_TOKEN:
        raise _fail()
    parts = token.strip().split(".")
    if len(parts) != 5:
        raise _fail()
    try:
        header = json.loads(b64url_decode(parts[0]))
        wrapped, iv, ct, tag = (b64url_decode(p) for p in parts[1:])
    except (ValueError, RecursionError):  # RecursionError: a deeply nested JSON header
        raise _fail() from None
    # only the one algorithm pair; "zip" and "crit" would change semantics we do not implement
    if (
        not isinstance(header, dict)
        or header.get("alg") != ALG
        or header.get("enc") != ENC
        or "zip" in header
        or "crit" in header
        or len(iv) != 12
        or len(tag) != 16
        or len(wrapped) != key.key_size // 8
    ):
        raise _fail()
    # RFC 7516 §11.5: on an unwrap failure carry on with a random key, so that a bad wrapped
    # key and a bad ciphertext fail the same way (no Manger/Bleichenbacher-style oracle)
    try:
        cek = key.decrypt(wrapped, _OAEP)
    except ValueError:
        cek = b""
    if len(cek) != 32:
        cek = AESGCM.generate_key(256)
    try:
        return AESGCM(cek).decrypt(iv, ct + tag, parts[0].encode("ascii"))
    except InvalidTag:
        raise _fail() from None
