"""Seal then open gives back the input, for every recipient kind and at every chunk boundary."""

from __future__ import annotations

import io
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import veil
from veil.crypto.keys import ScryptIdentity, ScryptRecipient
from veil.crypto.stream import CHUNK, CT_CHUNK, TAG

BOUNDARY_SIZES = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 7]


@pytest.mark.parametrize("kind", ["x25519", "mlkem768-x25519", "rsa-3072"])
@pytest.mark.parametrize("size", BOUNDARY_SIZES)
def test_round_trip_each_kind_at_boundaries(identities, kind: str, size: int) -> None:
    data = os.urandom(size)
    ident = identities[kind]
    blob = veil.seal(data, [ident.recipient()])
    assert veil.open(blob, [ident]) == data


@pytest.mark.parametrize("size", BOUNDARY_SIZES)
def test_payload_length_is_exact(identities, size: int) -> None:
    """Chunks are 64 KiB + tag; the last may be full; only an empty input has an empty chunk."""
    blob = veil.seal(os.urandom(size), [identities["x25519"].recipient()])
    header_len = blob.index(b"\n---") + 1
    header_len = blob.index(b"\n", header_len) + 1
    chunks = max(1, -(-size // CHUNK))
    assert len(blob) - header_len == size + chunks * TAG
    assert (len(blob) - header_len) <= chunks * CT_CHUNK


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.binary(max_size=3 * CHUNK + 100) | st.integers(0, 4 * CHUNK).map(lambda n: b"\xab" * n)
)
def test_round_trip_property(identities, data: bytes) -> None:
    recipients = [i.recipient() for i in identities.values()]
    blob = veil.seal(data, recipients)
    for ident in identities.values():
        assert veil.open(blob, [ident]) == data


def test_every_recipient_of_a_multi_recipient_file_opens_it(identities) -> None:
    data = os.urandom(100_000)
    blob = veil.seal(data, [i.recipient() for i in identities.values()])
    for ident in identities.values():
        assert veil.open(blob, [ident]) == data


def test_streams_round_trip(identities) -> None:
    data = os.urandom(5 * CHUNK + 3)
    sealed = io.BytesIO()
    assert veil.seal_stream(io.BytesIO(data), sealed, [identities["x25519"].recipient()]) == len(
        data
    )
    out = io.BytesIO()
    opened = veil.open_stream(io.BytesIO(sealed.getvalue()), out, [identities["x25519"]])
    assert out.getvalue() == data and opened.size == len(data) and opened.signer is None


def test_open_to_path_writes_atomically(tmp_path, identities) -> None:
    data = os.urandom(2 * CHUNK)
    blob = veil.seal(data, [identities["x25519"].recipient()])
    target = tmp_path / "plain.bin"
    veil.open_stream(io.BytesIO(blob), target, [identities["x25519"]])
    assert target.read_bytes() == data
    assert [p.name for p in tmp_path.iterdir()] == ["plain.bin"]


def test_signed_round_trip(identities, signer) -> None:
    data = os.urandom(CHUNK + 5)
    blob = veil.seal(data, [identities["x25519"].recipient()], sign_with=signer)
    out = io.BytesIO()
    opened = veil.open_stream(
        io.BytesIO(blob), out, [identities["x25519"]], verify_sender=signer.recipient()
    )
    assert out.getvalue() == data and opened.signer == signer.recipient()


def test_passphrase_round_trip() -> None:
    blob = veil.seal(b"secret rows", [ScryptRecipient("correct horse", log_n=10)])
    assert veil.open(blob, [ScryptIdentity("correct horse")]) == b"secret rows"


def test_two_seals_of_the_same_data_differ(identities) -> None:
    r = [identities["x25519"].recipient()]
    assert veil.seal(b"same", r) != veil.seal(b"same", r)


def test_api_checks_types_before_any_crypto(identities) -> None:
    with pytest.raises(TypeError):
        veil.seal("text", [identities["x25519"].recipient()])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        veil.seal(b"x", identities["x25519"].recipient())  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        veil.seal(b"x", [])
    with pytest.raises(TypeError):
        veil.open(b"x", ["not an identity"])  # type: ignore[list-item]
    with pytest.raises(ValueError):
        veil.seal(b"x", [ScryptRecipient("pw", log_n=10), identities["x25519"].recipient()])
