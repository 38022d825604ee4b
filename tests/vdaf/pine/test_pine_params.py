"""Every parameter check of the reference constructor, and the derived parameters."""

from __future__ import annotations

import pytest

from veil.errors import ConfigError
from veil.vdaf.field import Field32, Field64
from veil.vdaf.pine import Pine32HmacSha256Aes128, Pine64, Pine128, norm_bound_from_float
from veil.vdaf.pine.params import PineParams


def test_derived_parameters_match_the_readme_example() -> None:
    # Pine64_0: d = 20, 7 frac bits, B = 128, 100 tests, chunk 150 / 4, 2 + 1 proofs
    v = Pine64(128, 7, 20, 150, 2, chunk_length_norm_equality=4)
    pr = v.params
    assert pr.sq_norm_bound == 128**2
    assert pr.num_bits_for_sq_norm == 15
    assert pr.wr_check_bound == 2048  # next_power_of_2(ceil(8.7·128) + 1)
    assert pr.num_bits_for_wr_check == 12
    assert v.MEAS_LEN == 1350
    assert v.PROOFS_LEN == 681
    assert v.VERIFIERS_LEN == 610
    assert v.RAND_SIZE == 7 * 16


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"l2_norm_bound": 0}, "L2-norm bound"),
        ({"l2_norm_bound": -5}, "L2-norm bound"),
        ({"l2_norm_bound": Field64.MODULUS // 2 + 1}, "L2-norm bound"),
        ({"l2_norm_bound": 2**32}, "squared L2-norm bound"),
        ({"num_frac_bits": -1}, "num_frac_bits"),
        ({"num_frac_bits": 128}, "num_frac_bits"),
        ({"dimension": 0}, "dimension"),
        ({"chunk_length": 0}, "chunk"),
        ({"num_wr_checks": 0}, "num_wr_checks"),
        ({"num_wr_successes": 101}, "num_wr_successes"),
        ({"l2_norm_bound": 1.0}, "integer"),
        ({"dimension": True}, "integer"),
        ({"alpha": -1.0}, "alpha"),
    ],
)
def test_constructor_rejects(kwargs: dict, match: str) -> None:
    args = {
        "l2_norm_bound": 1024,
        "num_frac_bits": 10,
        "dimension": 10,
        "chunk_length": 10,
        "chunk_length_norm_equality": 4,
        "num_wr_checks": 100,
        "num_wr_successes": 100,
        "alpha": 8.7,
    }
    args.update(kwargs)
    with pytest.raises(ConfigError, match=match):
        PineParams.create(Field64, **args)


def test_range_check_field_size() -> None:
    # (p − 2)/B² ≤ 3: B² just below p passes the first check but fails this one.
    b = int((Field32.MODULUS // 3) ** 0.5) + 1
    with pytest.raises(ConfigError):
        PineParams.create(Field32, b, 0, 4, 4, 4)


def test_wraparound_field_size_checks() -> None:
    # p / wr_check_bound < 2600: Field32 with a large alpha (wr_check_bound = 2^21)
    with pytest.raises(ConfigError, match="wraparound"):
        PineParams.create(Field32, 20000, 9, 4, 4, 4, alpha=100.0)
    PineParams.create(Field32, 20000, 9, 4, 4, 4, alpha=8.7)  # fine with the default alpha
    # p / num_wr_checks < 2
    with pytest.raises(ConfigError, match="wraparound"):
        PineParams.create(Field32, 4, 2, 4, 4, 4, num_wr_checks=Field32.MODULUS, num_wr_successes=1)
    # wr_check_bound² / p > 4000 (while p / wr_check_bound ≥ 2600): Field64, alpha = 2^29
    with pytest.raises(ConfigError, match="wraparound"):
        PineParams.create(Field64, 2**10, 10, 4, 4, 4, alpha=float(2**29))
    PineParams.create(Field64, 2**10, 10, 4, 4, 4, alpha=float(2**20))


def test_variant_defaults_and_shares() -> None:
    assert Pine64(1024, 10, 5, 4, 2).PROOFS == 2
    assert Pine128(1024, 10, 5, 4, 2).PROOFS == 1
    assert Pine32HmacSha256Aes128(128, 7, 5, 4, 2).PROOFS == 5
    with pytest.raises(ConfigError):
        Pine64(1024, 10, 5, 4, 1)
    with pytest.raises(ConfigError):
        Pine64(1024, 10, 5, 4, 2, num_proofs=0)


def test_norm_bound_from_float() -> None:
    assert norm_bound_from_float(1.0, 15) == 2**15
    assert norm_bound_from_float(0.5, 3) == 4
    with pytest.raises(ConfigError):
        norm_bound_from_float(float("nan"), 3)


def test_too_many_gadget_calls_for_the_field_is_a_config_error() -> None:
    # Field32 has roots of unity of order 2^20 only: 2^19 calls need order 2^21
    with pytest.raises(ConfigError, match="chunk length"):
        Pine32HmacSha256Aes128(128, 7, 2**19, 150, 2, chunk_length_norm_equality=1)


@pytest.mark.parametrize("n", [1, 7, 100, 2262, 10**4, 10**6])
@pytest.mark.parametrize("arity", [1, 2])
def test_optimal_chunk_length_is_optimal(n: int, arity: int) -> None:
    from veil.vdaf.flp import next_power_of_2
    from veil.vdaf.pine import optimal_chunk_length

    def cost(chunk: int) -> int:
        calls = -(-n // chunk)
        return arity * chunk + 2 * next_power_of_2(1 + calls) - 1

    best = min(cost(c) for c in range(1, min(n, 5000) + 1))
    assert cost(optimal_chunk_length(n, arity)) == best
