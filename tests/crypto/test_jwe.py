"""JWE (RSA-OAEP-256 + A256GCM, compact): interoperability with jwcrypto in both directions."""

from __future__ import annotations

import json

import pytest
from jwcrypto import jwe as jc_jwe
from jwcrypto import jwk

from veil import jwe
from veil.crypto.encoding import b64url_decode, b64url_encode
from veil.errors import IntegrityError


@pytest.fixture(scope="module")
def key(identities):
    return identities["rsa-3072"]


def _jwk(ident, private: bool) -> jwk.JWK:
    from cryptography.hazmat.primitives import serialization

    if private:
        pem = ident.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    else:
        pem = ident.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    return jwk.JWK.from_pem(pem)


# (jwcrypto treats an empty plaintext as a failure, so the empty message is tested one way only)
@pytest.mark.parametrize("message", [b"x", b"transfer 100 to alice", bytes(range(256)) * 40])
def test_veil_encrypts_jwcrypto_decrypts(key, message: bytes) -> None:
    token = jwe.encrypt(message, key.recipient(), kid="bank-1")
    obj = jc_jwe.JWE()
    obj.deserialize(token, key=_jwk(key, private=True))
    assert obj.payload == message
    assert json.loads(b64url_decode(token.split(".")[0])) == {
        "alg": "RSA-OAEP-256",
        "enc": "A256GCM",
        "kid": "bank-1",
    }


@pytest.mark.parametrize("message", [b"", b"interop", b"\x00" * 5000])
def test_jwcrypto_encrypts_veil_decrypts(key, message: bytes) -> None:
    obj = jc_jwe.JWE(message, json.dumps({"alg": "RSA-OAEP-256", "enc": "A256GCM"}))
    obj.add_recipient(_jwk(key, private=False))
    assert jwe.decrypt(obj.serialize(compact=True), key) == message


def test_every_tampered_part_is_the_same_error(key) -> None:
    token = jwe.encrypt(b"payload", key.recipient())
    parts = token.split(".")
    for i in range(5):
        raw = bytearray(b64url_decode(parts[i]))
        if not raw:
            continue
        raw[len(raw) // 2] ^= 1
        bad = parts.copy()
        bad[i] = b64url_encode(bytes(raw))
        with pytest.raises(IntegrityError):
            jwe.decrypt(".".join(bad), key)


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "RSA1_5", "enc": "A256GCM"},
        {"alg": "RSA-OAEP-256", "enc": "A128GCM"},
        {"alg": "RSA-OAEP-256", "enc": "A256GCM", "zip": "DEF"},
        {"alg": "dir"},
    ],
)
def test_other_algorithms_are_refused(key, header: dict) -> None:
    token = jwe.encrypt(b"x", key.recipient()).split(".")
    token[0] = b64url_encode(json.dumps(header).encode())
    with pytest.raises(IntegrityError):
        jwe.decrypt(".".join(token), key)


@pytest.mark.parametrize("junk", ["", "a.b", "a.b.c.d.e", "....", "x" * 100])
def test_malformed_tokens(key, junk: str) -> None:
    with pytest.raises(IntegrityError):
        jwe.decrypt(junk, key)


def test_wrong_key(key) -> None:
    from veil.crypto.keys import generate_identity

    token = jwe.encrypt(b"x", key.recipient())
    with pytest.raises(IntegrityError):
        jwe.decrypt(token, generate_identity("rsa-3072"))
