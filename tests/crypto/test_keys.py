"""Keys: generation, string forms, fingerprints, PEM / OpenSSH loading, malformed input."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

import veil
from veil.crypto.keys import (
    Ed25519PublicKey,
    RSARecipient,
    X25519Recipient,
    generate_identity,
    identity_file_text,
    load_identities,
    load_recipients,
    parse_identities,
    parse_recipient,
)
from veil.errors import KeyFormatError, PassphraseError


@pytest.mark.parametrize("kind", ["x25519", "mlkem768-x25519", "rsa-3072", "ed25519"])
def test_recipient_and_identity_strings_round_trip(identities, signer, kind: str) -> None:
    ident = signer if kind == "ed25519" else identities[kind]
    rec = ident.recipient()
    assert parse_recipient(str(rec)) == rec
    (again,) = parse_identities(identity_file_text(ident))
    assert again.recipient() == rec and again.private_bytes() == ident.private_bytes()
    assert rec.fingerprint.startswith("SHA256:") and len(rec.fingerprint) == 7 + 16
    assert "VEIL-IDENTITY" not in repr(ident)  # secrets never in repr


def test_rsa_4096_keygen() -> None:
    ident = generate_identity("rsa-4096")
    assert ident.key.key_size == 4096  # type: ignore[attr-defined]
    assert veil.open(veil.seal(b"ok", [ident.recipient()]), [ident]) == b"ok"


def test_rsa_public_key_from_pem_and_openssh(identities, tmp_path) -> None:
    key = identities["rsa-3072"].key
    pub = key.public_key()
    pem = pub.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pkcs1 = pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
    ssh = pub.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    expected = identities["rsa-3072"].recipient()
    assert parse_recipient(pem.decode()) == expected
    assert parse_recipient(pkcs1.decode()) == expected
    assert parse_recipient(ssh.decode() + " alice@bank") == expected
    (tmp_path / "id_rsa.pub").write_bytes(ssh)
    (tmp_path / "pub.pem").write_bytes(pem)
    recs = load_recipients([str(tmp_path / "id_rsa.pub"), str(tmp_path / "pub.pem")])
    assert recs == [expected, expected]
    blob = veil.seal(b"from an ssh key", recs[:1])
    assert veil.open(blob, [identities["rsa-3072"]]) == b"from an ssh key"


def test_rsa_private_key_pem_is_an_identity(identities, tmp_path) -> None:
    key = identities["rsa-3072"].key
    for fmt in (serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL):
        pem = key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())
        (tmp_path / "key.pem").write_bytes(pem)
        (ident,) = load_identities([tmp_path / "key.pem"])
        assert ident.recipient() == identities["rsa-3072"].recipient()


def test_small_rsa_keys_are_refused() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(KeyFormatError, match="3072"):
        RSARecipient(small.public_key())


def test_recipients_file_with_comments(identities, tmp_path) -> None:
    f = tmp_path / "consortium.txt"
    f.write_text(
        "# the consortium\n"
        + str(identities["x25519"].recipient())
        + "\n\n"
        + str(identities["rsa-3072"].recipient())
        + "\n"
    )
    assert len(load_recipients([], [f])) == 2


@pytest.mark.parametrize(
    "text",
    [
        "veil:x25519:AAAA",
        "veil:x25519:" + "A" * 43 + "=",
        "veil:nosuch:AAAA",
        "veil:rsa:" + "A" * 100,
        "ssh-rsa AAAAnotbase64!!",
        "hello",
        "veil:mlkem768x25519:" + "A" * 10,
        "veil:x25519:" + "_" * 43 + "/",
    ],
)
def test_malformed_recipients(text: str) -> None:
    with pytest.raises(KeyFormatError):
        parse_recipient(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "# only a comment\n",
        "VEIL-IDENTITY:x25519:AAAA",
        "VEIL-IDENTITY:zzz:AAAA",
        "garbage line",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    ],
)
def test_malformed_identity_files(text: str) -> None:
    with pytest.raises(KeyFormatError):
        parse_identities(text)


def test_ed25519_cannot_be_a_recipient(signer) -> None:
    with pytest.raises(KeyFormatError):
        veil.seal(b"x", [signer.recipient()])


def test_other_key_types_from_pem() -> None:
    k = ed25519.Ed25519PrivateKey.generate().public_key()
    pem = k.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert isinstance(parse_recipient(pem.decode()), Ed25519PublicKey)


def test_passphrase_protected_identity_file(tmp_path) -> None:
    from veil.crypto.keys import ScryptRecipient

    ident = generate_identity("x25519")
    sealed = veil.seal(identity_file_text(ident).encode(), [ScryptRecipient("pw", log_n=10)])
    (tmp_path / "k").write_bytes(sealed)
    with pytest.raises(PassphraseError):
        load_identities([tmp_path / "k"])
    with pytest.raises(PassphraseError):
        load_identities([tmp_path / "k"], "wrong")
    (again,) = load_identities([tmp_path / "k"], "pw")
    assert again.recipient() == ident.recipient()


def test_fingerprint_is_stable() -> None:
    rec = X25519Recipient.from_bytes(bytes(range(32)))
    assert rec.fingerprint == X25519Recipient.from_bytes(bytes(range(32))).fingerprint
    assert rec.fingerprint != X25519Recipient.from_bytes(bytes(32)).fingerprint


@pytest.fixture(scope="module")
def odd_rsa_key() -> rsa.RSAPrivateKey:
    """A real 3076-bit key: above the minimum, but not a whole number of bytes.

    (OpenSSL turns an odd requested size into the even size below it: 3073 gives 3072.)
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=3076)
    assert key.key_size == 3076
    return key


def test_odd_size_rsa_keys_are_refused_on_every_import_path(odd_rsa_key, tmp_path) -> None:
    """Issue 13 finding 8: such a key used to be accepted, and files sealed to it could not be
    opened (its OAEP ciphertexts are 385 bytes, ``unwrap`` expects 3076 // 8 = 384)."""
    from veil.crypto.encoding import b64url_encode
    from veil.crypto.keys import RSAIdentity

    pub = odd_rsa_key.public_key()
    spki_der = pub.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    public_forms = [
        pub.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode(),
        pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1).decode(),
        pub.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
        .__add__(" alice@bank"),
        "veil:rsa:" + b64url_encode(spki_der),
    ]
    for text in public_forms:
        with pytest.raises(KeyFormatError, match="multiple of 8"):
            parse_recipient(text)
    (tmp_path / "id_rsa.pub").write_text(public_forms[2])
    with pytest.raises(KeyFormatError, match="multiple of 8"):
        load_recipients([str(tmp_path / "id_rsa.pub")])

    none = serialization.NoEncryption()
    private_files = {
        "pkcs8.pem": odd_rsa_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, none
        ),
        "traditional.pem": odd_rsa_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, none
        ),
        "id_rsa": odd_rsa_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, none
        ),
        "identity.txt": (
            "VEIL-IDENTITY:rsa:"
            + b64url_encode(
                odd_rsa_key.private_bytes(
                    serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, none
                )
            )
            + "\n"
        ).encode(),
    }
    for name, data in private_files.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(KeyFormatError, match="multiple of 8"):
            load_identities([tmp_path / name])
    with pytest.raises(KeyFormatError, match="multiple of 8"):
        RSARecipient(pub)
    with pytest.raises(KeyFormatError, match="multiple of 8"):
        RSAIdentity(odd_rsa_key)


@pytest.mark.parametrize("bits", [3073, 3076, 4095])
def test_odd_size_rsa_generation_is_refused(bits: int, monkeypatch) -> None:
    """Refused before any key is generated (generation is never even attempted)."""
    from veil.crypto import rsa_keys

    def no_keygen(**_: object) -> None:
        raise AssertionError("a key was generated before the size was checked")

    monkeypatch.setattr(rsa_keys.rsa, "generate_private_key", no_keygen)
    with pytest.raises(KeyFormatError, match="multiple of 8"):
        rsa_keys.RSAIdentity.generate(bits)


@pytest.mark.parametrize("bits", [1024, 2047, 2049, 3071])
def test_rsa_generation_below_the_minimum_is_refused(bits: int) -> None:
    from veil.crypto.keys import RSAIdentity

    with pytest.raises(KeyFormatError, match="at least 3072"):
        RSAIdentity.generate(bits)
