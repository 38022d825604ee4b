"""Fixed-point encoding: rounding, rejection of NaN/inf/subnormals, decoding, norms."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.errors import VdafEncodingError
from veil.vdaf.field import FIELDS
from veil.vdaf.pine import Pine64, Pine128
from veil.vdaf.pine.circuit import PineCircuits
from veil.vdaf.pine.params import PineParams, decode_fixed_point, encode_gradient_ints


@pytest.mark.parametrize(
    "bad", [float("nan"), float("inf"), -float("inf"), sys.float_info.min / 2, -5e-324]
)
def test_rejects_nan_inf_subnormal(bad: float) -> None:
    with pytest.raises(VdafEncodingError, match="shard"):
        encode_gradient_ints([0.0, bad, 0.0], 3, 10)


def test_rejects_wrong_length_and_junk() -> None:
    with pytest.raises(VdafEncodingError):
        encode_gradient_ints([0.0, 1.0], 3, 10)
    with pytest.raises(VdafEncodingError):
        encode_gradient_ints([[0.0, 1.0, 2.0]], 3, 10)
    with pytest.raises(VdafEncodingError):
        encode_gradient_ints(["a", "b", "c"], 3, 10)


def test_smallest_normal_is_accepted() -> None:
    assert encode_gradient_ints([sys.float_info.min, 0.0], 2, 10).tolist() == [0, 0]


def test_round_half_to_even() -> None:
    # 2^-11 · 2^10 = 0.5 → 0; 3·2^-11 · 2^10 = 1.5 → 2; −0.5 → −0; 2.5 → 2
    got = encode_gradient_ints([2**-11, 3 * 2**-11, -(2**-11), 5 * 2**-11], 4, 10)
    assert got.tolist() == [0, 2, 0, 2]


def test_huge_values_take_the_exact_path() -> None:
    got = encode_gradient_ints([2.0**70, -(2.0**70)], 2, 0)
    assert [int(v) for v in got] == [2**70, -(2**70)]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(-(2**40), 2**40), min_size=1, max_size=20), st.sampled_from(sorted(FIELDS))
)
def test_encode_decode_round_trip(values: list[int], name: str) -> None:
    fld = FIELDS[name]
    nfb = 7
    floats = [v / 2**nfb for v in values]
    ints = encode_gradient_ints(floats, len(floats), nfb)
    assert [int(v) for v in ints] == values
    if max(abs(v) for v in values) >= fld.MODULUS // 2:
        return
    pr = PineParams.create(fld, 2**7, nfb, len(values), 4, 4)
    x = PineCircuits(pr).gradient_to_field(ints)
    assert decode_fixed_point(fld, x, nfb) == floats


def test_gradient_too_large_for_field_is_rejected() -> None:
    v = Pine64(2**10, 10, 2, 4, 2)
    with pytest.raises(VdafEncodingError):
        v.shard([2.0**60, 0.0], bytes(16), bytes(v.RAND_SIZE))


def test_norm_above_bound_cannot_be_sharded() -> None:
    v = Pine128(2**10, 10, 3, 4, 2)
    with pytest.raises(VdafEncodingError, match="L2-norm"):
        v.shard([0.8, 0.8, 0.0], bytes(16), bytes(v.RAND_SIZE))


def test_squared_norm_bits() -> None:
    pr = PineParams.create(FIELDS["Field64"], 2**4, 4, 3, 4, 4)
    c = PineCircuits(pr)
    sq, bits = c.encode_norm(np.array([3, -4, 0], dtype=np.int64))
    n = pr.num_bits_for_sq_norm
    assert sq == 25
    assert sum(b << i for i, b in enumerate(bits[:n])) == 25
    assert sum(b << i for i, b in enumerate(bits[n:])) == 256 - 25


def test_encode_float_vec_helpers() -> None:
    v = Pine64(2**10, 10, 4, 4, 2)
    enc = v.encode_float_vec([0.5, -0.25, 0.0, 1.0])
    assert v.field.to_ints(enc) == [512, v.field.MODULUS - 256, 0, 1024]
    assert v.decode_float_vec(enc) == [0.5, -0.25, 0.0, 1.0]
    with pytest.raises(VdafEncodingError):
        v.encode_float_vec([0.5, float("nan"), 0.0, 1.0])
