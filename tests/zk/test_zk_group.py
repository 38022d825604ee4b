"""ristretto255 through libsodium: RFC 9496 Appendix A vectors and encoding discipline."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from zk_paths import conformance_dir

from veil.errors import EncodingError
from veil.zk import group

VECTORS = json.loads((conformance_dir() / "ristretto255.json").read_text())
MULTIPLES = VECTORS["multiples_of_generator"]["encodings"]
INVALID = VECTORS["invalid_encodings"]["vectors"]
UNIFORM = VECTORS["from_uniform_bytes"]["vectors"]

scalars = st.integers(min_value=0, max_value=group.ORDER - 1)


def test_vector_counts() -> None:
    assert (len(MULTIPLES), len(INVALID), len(UNIFORM)) == (16, 29, 11)


@pytest.mark.parametrize("k", range(16))
def test_a1_multiples_of_generator(k: int) -> None:
    """RFC 9496 A.1: ENCODE(k·B), by fixed-base multiplication and by repeated addition."""
    expected = bytes.fromhex(MULTIPLES[k])
    assert group.mul_base(k) == expected
    assert group.mul(k, group.BASEPOINT) == expected
    acc = group.IDENTITY
    for _ in range(k):
        acc = group.add(acc, group.BASEPOINT)
    assert acc == expected
    assert group.decode_point(expected) == expected


@pytest.mark.parametrize("vec", INVALID, ids=lambda v: v["reason"])
def test_a2_invalid_encodings_rejected(vec: dict[str, str]) -> None:
    with pytest.raises(EncodingError):
        group.decode_point(bytes.fromhex(vec["encoding"]))


@pytest.mark.parametrize("vec", UNIFORM, ids=range(len(UNIFORM)))
def test_a3_from_uniform_bytes(vec: dict[str, str]) -> None:
    assert group.hash_to_group(bytes.fromhex(vec["input"])) == bytes.fromhex(vec["output"])


def test_identity_rules() -> None:
    assert group.decode_point(group.IDENTITY) == group.IDENTITY
    with pytest.raises(EncodingError):
        group.decode_point(group.IDENTITY, allow_identity=False)
    assert group.mul(0, group.BASEPOINT) == group.IDENTITY
    assert group.mul(5, group.IDENTITY) == group.IDENTITY
    assert group.mul(group.ORDER, group.BASEPOINT) == group.IDENTITY


@pytest.mark.parametrize("bad", [b"", b"\x00" * 31, b"\x00" * 33])
def test_wrong_lengths_rejected(bad: bytes) -> None:
    with pytest.raises(EncodingError):
        group.decode_point(bad)
    with pytest.raises(EncodingError):
        group.decode_scalar(bad)


@pytest.mark.parametrize("s", [group.ORDER, group.ORDER + 1, 2**256 - 1, 2**255])
def test_non_canonical_scalars_rejected(s: int) -> None:
    with pytest.raises(EncodingError):
        group.decode_scalar(s.to_bytes(32, "little"))


@settings(max_examples=25, deadline=None)
@given(scalars, scalars)
def test_scalar_multiplication_is_linear(a: int, b: int) -> None:
    P = group.hash_to_point(b"test point")
    assert group.add(group.mul(a, P), group.mul(b, P)) == group.mul(a + b, P)
    assert group.mul(a, group.mul(b, P)) == group.mul(a * b, P)
    assert group.sub(group.mul_base(a), group.mul_base(b)) == group.mul_base(a - b)
    assert group.decode_scalar(group.encode_scalar(a)) == a


@settings(max_examples=10, deadline=None)
@given(st.lists(scalars, min_size=0, max_size=6))
def test_msm_matches_naive_sum(ss: list[int]) -> None:
    points = [group.hash_to_point(bytes([i])) for i in range(len(ss))]
    ss = [*ss[:2], 1, group.ORDER - 1, 0][: len(ss)] + ss[5:] if len(ss) > 4 else ss
    naive = group.IDENTITY
    for s, p in zip(ss, points, strict=True):
        naive = group.add(naive, group.mul(s, p))
    assert group.msm(ss, points, base_scalar=7) == group.add(naive, group.mul_base(7))


def test_count_ops() -> None:
    with group.count_ops() as outer:
        group.mul(3, group.BASEPOINT)
        with group.count_ops() as inner:
            group.mul_base(5)
            group.msm([1, 2, group.ORDER - 1, 0], [group.BASEPOINT] * 4)
        group.add(group.BASEPOINT, group.BASEPOINT)
    assert (inner.mul, inner.mul_base, inner.add) == (1, 1, 2)
    assert (outer.mul, outer.mul_base, outer.add) == (2, 1, 3)
    assert outer.scalar_mults == 3


@pytest.mark.parametrize("vec", INVALID[:6], ids=lambda v: v["reason"])
def test_unvalidated_points_never_act_as_identity(vec: dict[str, str]) -> None:
    bad = bytes.fromhex(vec["encoding"])
    with pytest.raises(EncodingError):
        group.mul(5, bad)
    with pytest.raises(EncodingError):
        group.add(group.BASEPOINT, bad)
    with pytest.raises(EncodingError):
        group.sub(bad, group.BASEPOINT)


# Issue 13 finding 7. None of the 29 A.2 vectors above gets past libsodium 1.0.18 (rbcl's):
# it checks s < p and the sign of s. What it misses is bit 255: it decodes ``P | 1 << 255``
# as ``P``, so the identity has a second encoding that ``== IDENTITY`` does not catch.
P_LE = (2**255 - 19).to_bytes(32, "little")
HIGH_BIT_IDENTITY = bytes(31) + b"\x80"


def _with_bit_255(encoding: bytes) -> bytes:
    return encoding[:31] + bytes([encoding[31] | 0x80])


@pytest.mark.parametrize(
    "encoding",
    [
        HIGH_BIT_IDENTITY,  # 0 + 2^255: libsodium 1.0.18 accepts it (the bypass)
        P_LE,  # 0 + p: libsodium already refuses it
        _with_bit_255(P_LE),
        (2**256 - 1).to_bytes(32, "little"),
    ],
    ids=["0+2^255", "0+p", "0+p+2^255", "2^256-1"],
)
def test_non_canonical_identity_rejected(encoding: bytes) -> None:
    for allow_identity in (True, False):
        with pytest.raises(EncodingError):
            group.decode_point(encoding, allow_identity=allow_identity)


@pytest.mark.parametrize("k", range(16))
def test_bit_255_set_is_rejected(k: int) -> None:
    """``ENCODE(k·B)`` with bit 255 set is another name for ``k·B``: refused."""
    canonical = bytes.fromhex(MULTIPLES[k])
    assert group.decode_point(canonical) == canonical
    with pytest.raises(EncodingError):
        group.decode_point(_with_bit_255(canonical))


def test_non_canonical_identity_cannot_pass_the_transcript_identity_rule() -> None:
    """dalek's rule (no identity ``A``, ``S``, ``T₁``…) must not be bypassed by re-encoding."""
    from veil.zk.transcript import Transcript

    with pytest.raises(EncodingError):
        Transcript(b"p").validate_and_append_point(b"A", HIGH_BIT_IDENTITY)
