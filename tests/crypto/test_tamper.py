"""Tampering of any kind is the same IntegrityError; not being a recipient is NoIdentityError."""

from __future__ import annotations

import io
import os

import pytest

import veil
from veil.crypto.keys import ScryptIdentity, ScryptRecipient, generate_identity
from veil.crypto.stream import CHUNK, CT_CHUNK
from veil.errors import IntegrityError, NoIdentityError, PassphraseError, SignatureError


def _header_len(blob: bytes) -> int:
    return blob.index(b"\n", blob.index(b"\n---") + 1) + 1


@pytest.fixture(scope="module")
def x(identities):
    return identities["x25519"]


def test_every_bit_of_a_small_file_is_protected(x) -> None:
    blob = veil.seal(b"a small sealed record: 42", [x.recipient()])
    for i in range(len(blob) * 8):
        bad = bytearray(blob)
        bad[i // 8] ^= 1 << (i % 8)
        with pytest.raises(IntegrityError):
            veil.open(bytes(bad), [x])


@pytest.mark.slow
def test_every_bit_of_the_header_and_every_byte_of_two_chunks(identities) -> None:
    """All header bits, and one flip (rotating bit) at every payload byte of a two-chunk file."""
    for kind in ("x25519", "rsa-3072"):
        ident = identities[kind]
        blob = veil.seal(os.urandom(CHUNK + 1000), [ident.recipient()])
        hlen = _header_len(blob)
        positions = [(i // 8, i % 8) for i in range(hlen * 8)]
        if kind == "x25519":
            positions += [(p, p % 8) for p in range(hlen, len(blob))]
        for byte, bit in positions:
            bad = bytearray(blob)
            bad[byte] ^= 1 << bit
            with pytest.raises(IntegrityError):
                veil.open(bytes(bad), [ident])


def test_truncation_at_every_chunk_boundary_and_inside(x) -> None:
    blob = veil.seal(os.urandom(3 * CHUNK + 10), [x.recipient()])
    h = _header_len(blob)
    cuts = [h + k * CT_CHUNK for k in range(4)] + [h + 1, h + 15, len(blob) - 1, len(blob) - 17]
    for cut in cuts:
        with pytest.raises(IntegrityError):
            veil.open(blob[:cut], [x])


def test_exact_multiple_cannot_be_truncated_to_a_full_chunk(x) -> None:
    blob = veil.seal(os.urandom(2 * CHUNK), [x.recipient()])
    with pytest.raises(IntegrityError):
        veil.open(blob[: _header_len(blob) + CT_CHUNK], [x])


@pytest.mark.parametrize("extra", [b"\x00", b"x" * 16, os.urandom(CT_CHUNK)])
def test_appended_bytes_are_rejected(x, extra: bytes) -> None:
    for size in (0, 10, CHUNK, CHUNK + 10):
        blob = veil.seal(os.urandom(size), [x.recipient()])
        with pytest.raises(IntegrityError):
            veil.open(blob + extra, [x])


def test_swapped_chunks_are_rejected(x) -> None:
    blob = veil.seal(os.urandom(3 * CHUNK + 5), [x.recipient()])
    h = _header_len(blob)
    c = [blob[h + k * CT_CHUNK : h + (k + 1) * CT_CHUNK] for k in range(3)]
    with pytest.raises(IntegrityError):
        veil.open(blob[:h] + c[1] + c[0] + c[2] + blob[h + 3 * CT_CHUNK :], [x])


def test_dropped_chunk_is_rejected(x) -> None:
    blob = veil.seal(os.urandom(3 * CHUNK + 5), [x.recipient()])
    h = _header_len(blob)
    with pytest.raises(IntegrityError):
        veil.open(blob[:h] + blob[h + CT_CHUNK :], [x])


def test_stanza_for_a_different_file_key_is_rejected(x) -> None:
    """A stanza lifted from another file unwraps to the wrong key: the header MAC catches it."""
    a = veil.seal(b"file a", [x.recipient()])
    b = veil.seal(b"file b", [x.recipient()])
    stanza_b = b[b.index(b"->") : b.index(b"---")]
    forged = a[: a.index(b"->")] + stanza_b + a[a.index(b"---") :]
    with pytest.raises(IntegrityError):
        veil.open(forged, [x])


def test_payload_from_another_file_is_rejected(x) -> None:
    a = veil.seal(b"file a" * 100, [x.recipient()])
    b = veil.seal(b"file b" * 100, [x.recipient()])
    with pytest.raises(IntegrityError):
        veil.open(a[: _header_len(a)] + b[_header_len(b) :], [x])


def test_wrong_identity_is_no_identity_error(identities) -> None:
    blob = veil.seal(b"x", [identities["x25519"].recipient()])
    for kind in ("mlkem768-x25519", "rsa-3072"):
        with pytest.raises(NoIdentityError) as info:
            veil.open(blob, [identities[kind]])
        assert not isinstance(info.value, IntegrityError)


def test_bad_passphrase() -> None:
    blob = veil.seal(b"x", [ScryptRecipient("right", log_n=10)])
    with pytest.raises(PassphraseError):
        veil.open(blob, [ScryptIdentity("wrong")])
    with pytest.raises(NoIdentityError):
        veil.open(blob, [generate_identity("x25519")])


def test_excessive_scrypt_work_factor_is_refused() -> None:
    blob = veil.seal(b"x", [ScryptRecipient("pw", log_n=10)])
    forged = blob.replace(b" 10\n", b" 30\n", 1)
    with pytest.raises((PassphraseError, IntegrityError)):
        veil.open(forged, [ScryptIdentity("pw")])


def test_not_a_veil_file(x) -> None:
    for junk in (b"", b"hello", b"age-encryption.org/v1\n", os.urandom(1000)):
        with pytest.raises(IntegrityError):
            veil.open(junk, [x])


def test_oversized_header_line_is_refused(x) -> None:
    with pytest.raises(IntegrityError):
        veil.open(b"veil/v1\n-> X25519 " + b"A" * 10_000 + b"\n", [x])


def test_signature_stripped_or_wrong_sender(x, signer) -> None:
    data = os.urandom(1000)
    signed = veil.seal(data, [x.recipient()], sign_with=signer)
    with pytest.raises(IntegrityError):
        veil.open(signed[:-64], [x])  # signature stripped
    bad = bytearray(signed)
    bad[-1] ^= 1
    with pytest.raises(SignatureError):
        veil.open(bytes(bad), [x])
    other = generate_identity("ed25519")
    with pytest.raises(SignatureError):
        veil.open(signed, [x], verify_sender=other.recipient())
    unsigned = veil.seal(data, [x.recipient()])
    with pytest.raises(SignatureError):
        veil.open(unsigned, [x], verify_sender=signer.recipient())


def test_failed_open_to_path_leaves_nothing(tmp_path, x) -> None:
    blob = bytearray(veil.seal(os.urandom(3 * CHUNK), [x.recipient()]))
    blob[-5] ^= 1
    target = tmp_path / "out.bin"
    target.write_bytes(b"previous contents")
    with pytest.raises(IntegrityError):
        veil.open_stream(io.BytesIO(bytes(blob)), target, [x])
    assert target.read_bytes() == b"previous contents"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]
