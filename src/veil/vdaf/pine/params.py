"""PINE parameters: validation, derived quantities, and the fixed-point encoding.

Follows the constructor of ``PineValidBase`` in PINE's reference code (the draft,
draft-chen-cfrg-vdaf-pine-02, leaves §"Encoding" and §"Validity circuit" to that code). The
L2-norm bound is the *fixed-point* integer ``round(b·2^num_frac_bits)``; use
:func:`norm_bound_from_float` to get it from a real bound ``b``.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np

from veil.errors import ConfigError, VdafEncodingError
from veil.vdaf.field import Field
from veil.vdaf.flp import next_power_of_2

ALPHA = 8.7
NUM_WR_CHECKS = 100
NUM_WR_SUCCESSES = 100


def _int_param(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ConfigError(f"{name} must be an integer, got {type(value).__name__}")
    return int(value)


def norm_bound_from_float(bound: float, num_frac_bits: int) -> int:
    """The fixed-point L2-norm bound PINE's constructor takes: round(bound·2^num_frac_bits)."""
    if not math.isfinite(bound) or bound <= 0:
        raise ConfigError(f"L2-norm bound must be positive and finite, got {bound!r}")
    return round(bound * 2**num_frac_bits)


@dataclass(frozen=True)
class PineParams:
    """Validated PINE parameters and everything derived from them (see module docstring)."""

    field: type[Field]
    l2_norm_bound: int
    num_frac_bits: int
    dimension: int
    chunk_length: int
    chunk_length_norm_equality: int
    alpha: float
    num_wr_checks: int
    num_wr_successes: int
    # derived
    sq_norm_bound: int
    num_bits_for_sq_norm: int
    wr_check_bound: int
    num_bits_for_wr_check: int
    bit_checked_len: int

    @classmethod
    def create(
        cls,
        fld: type[Field],
        l2_norm_bound: int,
        num_frac_bits: int,
        dimension: int,
        chunk_length: int,
        chunk_length_norm_equality: int,
        alpha: float = ALPHA,
        num_wr_checks: int = NUM_WR_CHECKS,
        num_wr_successes: int = NUM_WR_SUCCESSES,
    ) -> PineParams:
        """Validate as the reference constructor does; raise :class:`ConfigError` otherwise."""
        p = fld.MODULUS
        l2_norm_bound = _int_param("l2_norm_bound", l2_norm_bound)
        num_frac_bits = _int_param("num_frac_bits", num_frac_bits)
        dimension = _int_param("dimension", dimension)
        chunk_length = _int_param("chunk_length", chunk_length)
        chunk_length_norm_equality = _int_param(
            "chunk_length_norm_equality", chunk_length_norm_equality
        )
        num_wr_checks = _int_param("num_wr_checks", num_wr_checks)
        num_wr_successes = _int_param("num_wr_successes", num_wr_successes)
        if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not alpha > 0:
            raise ConfigError(f"alpha must be a positive number, got {alpha!r}")
        if l2_norm_bound <= 0 or l2_norm_bound > p / 2:
            raise ConfigError(f"invalid L2-norm bound {l2_norm_bound}: must be in (0, p/2]")
        if not 0 <= num_frac_bits < 128:
            raise ConfigError(f"invalid num_frac_bits {num_frac_bits}: must be in [0, 128)")
        if dimension <= 0:
            raise ConfigError(f"invalid dimension {dimension}: must be positive")
        if chunk_length <= 0 or chunk_length_norm_equality <= 0:
            raise ConfigError("chunk lengths must be positive")
        if num_wr_checks <= 0 or not 0 <= num_wr_successes <= num_wr_checks:
            raise ConfigError("need num_wr_checks > 0 and 0 ≤ num_wr_successes ≤ num_wr_checks")
        if p / l2_norm_bound <= l2_norm_bound:
            raise ConfigError("squared L2-norm bound exceeds the field modulus")
        sq_norm_bound = l2_norm_bound**2
        wr_check_bound = next_power_of_2(math.ceil(alpha * l2_norm_bound) + 1)
        # Figure 1 of [ROCT23]: q > 3·sq_norm_bound + 2.
        if (p - 2) / sq_norm_bound <= 3:
            raise ConfigError(
                f"L2-norm bound {l2_norm_bound} is too large for a range check in {fld.__name__}"
            )
        # Lemma 3.3 of [ROCT23].
        if p / num_wr_checks < 2 or p / wr_check_bound < 2600 or wr_check_bound**2 / p > 4000:
            raise ConfigError(
                f"wraparound check infeasible in {fld.__name__} with bound {l2_norm_bound}, "
                f"alpha {alpha} and {num_wr_checks} checks"
            )
        num_bits_for_sq_norm = sq_norm_bound.bit_length()
        num_bits_for_wr_check = (2 * wr_check_bound - 1).bit_length()
        # Wire polynomials live on a P-th root of unity subgroup: P must divide GEN_ORDER.
        return cls(
            field=fld,
            l2_norm_bound=l2_norm_bound,
            num_frac_bits=num_frac_bits,
            dimension=dimension,
            chunk_length=chunk_length,
            chunk_length_norm_equality=chunk_length_norm_equality,
            alpha=float(alpha),
            num_wr_checks=num_wr_checks,
            num_wr_successes=num_wr_successes,
            sq_norm_bound=sq_norm_bound,
            num_bits_for_sq_norm=num_bits_for_sq_norm,
            wr_check_bound=wr_check_bound,
            num_bits_for_wr_check=num_bits_for_wr_check,
            bit_checked_len=2 * num_bits_for_sq_norm + (num_bits_for_wr_check + 1) * num_wr_checks,
        )

    @property
    def encoded_gradient_and_norm_len(self) -> int:
        return self.dimension + 2 * self.num_bits_for_sq_norm

    @property
    def meas_len(self) -> int:
        """Length of the secret-shared encoded measurement (the dot products are not sent)."""
        return self.dimension + self.bit_checked_len


# ----- fixed-point encoding ----------------------------------------------------------------


def encode_gradient_ints(measurement: object, dimension: int, num_frac_bits: int) -> np.ndarray:
    """round-half-even(x·2^num_frac_bits) for each entry, as int64 when it fits, else object.

    Rejects NaN, ±inf and subnormal floats (as the reference encoder does) and a wrong length.
    """
    op = "shard"
    try:
        x = np.asarray(measurement, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise VdafEncodingError(
            f"measurement is not a vector of floats: {exc}", operation=op
        ) from None
    if x.ndim != 1 or x.shape[0] != dimension:
        raise VdafEncodingError(
            f"measurement must have {dimension} entries, got shape {x.shape}", operation=op
        )
    if not np.all(np.isfinite(x)):
        raise VdafEncodingError("NaN or infinite entry in measurement", operation=op)
    ax = np.abs(x)
    if np.any((ax != 0.0) & (ax < sys.float_info.min)):
        raise VdafEncodingError("subnormal entry in measurement", operation=op)
    scaled = x * float(2**num_frac_bits)  # exact: scaling by a power of two
    if not np.all(np.isfinite(scaled)):
        raise VdafEncodingError("measurement entry overflows after scaling", operation=op)
    if np.all(np.abs(scaled) < 2.0**62):
        return np.rint(scaled).astype(np.int64)  # rint rounds half to even
    out = np.empty(dimension, dtype=object)
    out[:] = [round(float(v)) for v in scaled]  # Python round: half to even
    return out


def decode_fixed_point(fld: type[Field], values: np.ndarray, num_frac_bits: int) -> list[float]:
    """Field elements → floats: values above ⌊p/2⌋ are negative; divide by 2^num_frac_bits."""
    p = fld.MODULUS
    half = p // 2
    scale = 2**num_frac_bits
    if fld.LIMBS == 1:
        v = values.astype(np.uint64)
        neg = v > np.uint64(half)
        mag = np.where(neg, np.uint64(p) - v, v)
        # float conversion of ints < 2^64 then exact division by a power of two
        out = np.where(neg, -(mag.astype(np.float64)), mag.astype(np.float64)) / float(scale)
        if p >= 2**53 and np.any(mag >= np.uint64(2**53)):
            return [(int(x) - p if int(x) > half else int(x)) / scale for x in values]
        return out.tolist()
    return [(x - p if x > half else x) / scale for x in fld.to_ints(values)]
