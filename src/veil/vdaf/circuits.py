"""Validity circuits of draft-irtf-cfrg-vdaf-20 §7.4 (Count, Sum, SumVec, Histogram,
MultihotCountVec) and the test-only HigherDegree circuit of the draft's repository.

Every circuit evaluates all its gadget calls in one vectorised batch. Range checks
on chunked vectors follow §7.4.3: call i of ``ParallelSum(Mul(), chunk_length)``
gets the pairs ``(r_i^{j+1}·x_{i,j}, x_{i,j} − 1/num_shares)`` with ``r_i`` the
i-th joint randomness element, so the sum is zero for 0/1 entries and nonzero with
high probability otherwise. The bounded-sum encoding (§7.4.2) writes a value in
``bits − 1`` ordinary bits plus one bit of weight ``max − (2^{bits−1} − 1)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from veil.vdaf.field import Field, Vec
from veil.vdaf.flp import GadgetFn, Valid
from veil.vdaf.gadgets import Mul, ParallelSum, PolyEval


def _measurement_error(msg: str) -> ValueError:
    return ValueError(msg)


def _as_int(x: Any) -> int:
    if isinstance(x, bool | np.bool_):
        return int(x)
    if isinstance(x, int | np.integer):
        return int(x)
    raise TypeError(f"measurement entries must be integers, got {type(x).__name__}")


def bounded_bits(field: type[Field], values: Sequence[int], max_measurement: int) -> Vec:
    """§7.4.2 encoding of each value in [0, max] as ``bits`` field elements."""
    bits = max_measurement.bit_length()
    rest = 2 ** (bits - 1) - 1
    last_weight = max_measurement - rest
    arr = np.asarray(values, dtype=np.int64)
    if arr.size and (arr.min() < 0 or arr.max() > max_measurement):
        raise _measurement_error("measurement entry out of range")
    high = arr > rest
    low = np.where(high, arr - last_weight, arr)
    out = np.zeros((arr.size, bits), dtype=np.uint64)
    for b in range(bits - 1):
        out[:, b] = (low >> b) & 1
    out[:, bits - 1] = high
    flat = out.reshape(-1)
    if field.LIMBS == 1:
        return flat
    wide = field.zeros(flat.shape[0])
    wide[:, 0] = flat
    return wide


def decode_bounded(field: type[Field], meas: Vec, count: int, bits: int, last_weight: int) -> Vec:
    """Inverse of :func:`bounded_bits` (linear, so it works on shares)."""
    m = meas.reshape((count, bits, *field.elem_shape()))
    weights = [1 << b for b in range(bits - 1)] + [last_weight]
    w = field.vec(weights)[None]
    return field.sum(field.mul(m, w), axis=1)


def chunked_range_check(
    field: type[Field],
    meas: Vec,
    joint_rand: Vec,
    num_shares: int,
    chunk_length: int,
    calls: int,
    gadget: GadgetFn,
) -> Vec:
    """Σ_i ParallelSum(Mul)(r_i^{j+1}·x_{ij}, x_{ij} − 1/num_shares) (§7.4.3)."""
    n = field.length(meas)
    total = calls * chunk_length
    x = meas if n == total else np.concatenate([meas, field.zeros(total - n)], axis=0)
    x = x.reshape((calls, chunk_length, *field.elem_shape()))
    r = joint_rand[:calls]
    # powers r_i^1 .. r_i^chunk for every call, by doubling
    pw = field.zeros((calls, chunk_length))
    pw[:, 0] = r
    filled = 1
    while filled < chunk_length:
        take = min(filled, chunk_length - filled)
        step = pw[:, filled - 1 : filled]  # r^filled
        pw[:, filled : filled + take] = field.mul(pw[:, :take], step)
        filled += take
    shares_inv = field.elem(field.inv(num_shares))
    inp = np.empty((calls, chunk_length, 2, *field.elem_shape()), dtype=np.uint64)
    inp[:, :, 0] = field.mul(pw, x)
    inp[:, :, 1] = field.sub(x, shares_inv)
    inp = inp.reshape((calls, 2 * chunk_length, *field.elem_shape()))
    return field.sum(gadget(inp), axis=0)


class Count(Valid):
    """§7.4.1: the measurement x is 0 or 1: x·x − x = 0."""

    MEAS_LEN = 1
    JOINT_RAND_LEN = 0
    OUTPUT_LEN = 1
    EVAL_OUTPUT_LEN = 1

    def __init__(self, field: type[Field]) -> None:
        self.field = field
        self.GADGETS = [Mul()]
        self.GADGET_CALLS = [1]

    def encode(self, measurement: Any) -> Vec:
        m = _as_int(measurement)
        if m not in (0, 1):
            raise _measurement_error("Count measurement must be 0 or 1")
        return self.field.vec([m])

    def eval(self, meas: Vec, joint_rand: Vec, num_shares: int, g: Sequence[GadgetFn]) -> Vec:
        F = self.field
        sq = g[0](np.stack([meas, meas], axis=1))
        return F.sub(sq, meas)

    def truncate(self, meas: Vec) -> Vec:
        return meas

    def decode(self, output: Vec, num_measurements: int) -> int:
        return self.field.to_int(output[0])


class Sum(Valid):
    """§7.4.2: an integer in [0, max_measurement], as bits checked by PolyEval(x²−x)."""

    JOINT_RAND_LEN = 0
    OUTPUT_LEN = 1

    def __init__(self, field: type[Field], max_measurement: int) -> None:
        if max_measurement <= 0:
            raise ValueError("max_measurement must be positive")
        self.field = field
        self.max_measurement = max_measurement
        self.bits = max_measurement.bit_length()
        if 2**self.bits >= field.MODULUS:
            raise ValueError("max_measurement too large for the field")
        self.last_weight = max_measurement - (2 ** (self.bits - 1) - 1)
        self.GADGETS = [PolyEval([0, -1, 1])]
        self.GADGET_CALLS = [self.bits]
        self.MEAS_LEN = self.bits
        self.EVAL_OUTPUT_LEN = self.bits

    def encode(self, measurement: Any) -> Vec:
        return bounded_bits(self.field, [_as_int(measurement)], self.max_measurement)

    def eval(self, meas: Vec, joint_rand: Vec, num_shares: int, g: Sequence[GadgetFn]) -> Vec:
        return g[0](meas[:, None])

    def truncate(self, meas: Vec) -> Vec:
        return decode_bounded(self.field, meas, 1, self.bits, self.last_weight)

    def decode(self, output: Vec, num_measurements: int) -> int:
        return self.field.to_int(output[0])


class SumVec(Valid):
    """§7.4.3: a vector of ``length`` integers, each in [0, max_measurement]."""

    EVAL_OUTPUT_LEN = 1

    def __init__(
        self, field: type[Field], length: int, max_measurement: int, chunk_length: int
    ) -> None:
        if length <= 0 or chunk_length <= 0 or max_measurement <= 0:
            raise ValueError("length, max_measurement and chunk_length must be positive")
        self.field = field
        self.length = length
        self.max_measurement = max_measurement
        self.chunk_length = chunk_length
        self.bits = max_measurement.bit_length()
        if 2**self.bits >= field.MODULUS:
            raise ValueError("max_measurement too large for the field")
        self.last_weight = max_measurement - (2 ** (self.bits - 1) - 1)
        self.MEAS_LEN = length * self.bits
        self.OUTPUT_LEN = length
        calls = (self.MEAS_LEN + chunk_length - 1) // chunk_length
        self.GADGETS = [ParallelSum(Mul(), chunk_length)]
        self.GADGET_CALLS = [calls]
        self.JOINT_RAND_LEN = calls

    def encode(self, measurement: Any) -> Vec:
        vals = np.asarray(measurement)
        if vals.ndim != 1 or vals.shape[0] != self.length:
            raise _measurement_error(f"SumVec measurement must have length {self.length}")
        if vals.dtype.kind not in "iub":
            vals = np.array([_as_int(v) for v in vals], dtype=np.int64)
        return bounded_bits(self.field, vals.astype(np.int64), self.max_measurement)

    def eval(self, meas: Vec, joint_rand: Vec, num_shares: int, g: Sequence[GadgetFn]) -> Vec:
        out = chunked_range_check(
            self.field,
            meas,
            joint_rand,
            num_shares,
            self.chunk_length,
            self.GADGET_CALLS[0],
            g[0],
        )
        return out[None]

    def truncate(self, meas: Vec) -> Vec:
        return decode_bounded(self.field, meas, self.length, self.bits, self.last_weight)

    def decode(self, output: Vec, num_measurements: int) -> list[int]:
        return self.field.to_ints(output)


class Histogram(Valid):
    """§7.4.4: a one-hot vector of ``length`` buckets."""

    EVAL_OUTPUT_LEN = 2

    def __init__(self, field: type[Field], length: int, chunk_length: int) -> None:
        if length <= 0 or chunk_length <= 0:
            raise ValueError("length and chunk_length must be positive")
        self.field = field
        self.length = length
        self.chunk_length = chunk_length
        calls = (length + chunk_length - 1) // chunk_length
        self.GADGETS = [ParallelSum(Mul(), chunk_length)]
        self.GADGET_CALLS = [calls]
        self.MEAS_LEN = length
        self.OUTPUT_LEN = length
        self.JOINT_RAND_LEN = calls

    def encode(self, measurement: Any) -> Vec:
        m = _as_int(measurement)
        if not 0 <= m < self.length:
            raise _measurement_error("Histogram bucket out of range")
        enc = [0] * self.length
        enc[m] = 1
        return self.field.vec(enc)

    def eval(self, meas: Vec, joint_rand: Vec, num_shares: int, g: Sequence[GadgetFn]) -> Vec:
        F = self.field
        rc = chunked_range_check(
            F, meas, joint_rand, num_shares, self.chunk_length, self.GADGET_CALLS[0], g[0]
        )
        sc = F.sub(F.sum(meas), F.elem(F.inv(num_shares)))
        return np.stack([rc, sc], axis=0)

    def truncate(self, meas: Vec) -> Vec:
        return meas

    def decode(self, output: Vec, num_measurements: int) -> list[int]:
        return self.field.to_ints(output)


class MultihotCountVec(Valid):
    """§7.4.5: a 0/1 vector of ``length`` entries with at most ``max_weight`` ones."""

    EVAL_OUTPUT_LEN = 2

    def __init__(self, field: type[Field], length: int, max_weight: int, chunk_length: int) -> None:
        if length <= 0 or chunk_length <= 0:
            raise ValueError("length and chunk_length must be positive")
        if not 0 < max_weight <= length:
            raise ValueError("max_weight must be in [1, length]")
        if length >= field.MODULUS:
            raise ValueError("length too large for the field")
        self.field = field
        self.length = length
        self.max_weight = max_weight
        self.chunk_length = chunk_length
        self.bits_for_weight = max_weight.bit_length()
        self.last_weight = max_weight - (2 ** (self.bits_for_weight - 1) - 1)
        self.MEAS_LEN = length + self.bits_for_weight
        self.OUTPUT_LEN = length
        calls = (self.MEAS_LEN + chunk_length - 1) // chunk_length
        self.GADGETS = [ParallelSum(Mul(), chunk_length)]
        self.GADGET_CALLS = [calls]
        self.JOINT_RAND_LEN = calls

    def encode(self, measurement: Any) -> Vec:
        vals = [_as_int(x) for x in measurement]
        if len(vals) != self.length or any(v not in (0, 1) for v in vals):
            raise _measurement_error(f"measurement must be {self.length} booleans")
        weight = sum(vals)
        if weight > self.max_weight:
            raise _measurement_error("measurement weight exceeds max_weight")
        w = bounded_bits(self.field, [weight], self.max_weight)
        return np.concatenate([self.field.vec(vals), w], axis=0)

    def eval(self, meas: Vec, joint_rand: Vec, num_shares: int, g: Sequence[GadgetFn]) -> Vec:
        F = self.field
        rc = chunked_range_check(
            F, meas, joint_rand, num_shares, self.chunk_length, self.GADGET_CALLS[0], g[0]
        )
        weight = F.sum(meas[: self.length])
        reported = decode_bounded(
            F, meas[self.length :], 1, self.bits_for_weight, self.last_weight
        )[0]
        return np.stack([rc, F.sub(weight, reported)], axis=0)

    def truncate(self, meas: Vec) -> Vec:
        return meas[: self.length]

    def decode(self, output: Vec, num_measurements: int) -> list[int]:
        return self.field.to_ints(output)


class HigherDegree(Valid):
    """Test-only circuit of the draft's repository: PolyEval(x(x−1)(x−2)) called once."""

    MEAS_LEN = 1
    JOINT_RAND_LEN = 0
    OUTPUT_LEN = 1
    EVAL_OUTPUT_LEN = 1

    def __init__(self, field: type[Field]) -> None:
        self.field = field
        self.GADGETS = [PolyEval([0, 2, -3, 1])]
        self.GADGET_CALLS = [1]

    def encode(self, measurement: Any) -> Vec:
        m = _as_int(measurement)
        if m not in (0, 1, 2):
            raise _measurement_error("HigherDegree measurement must be 0, 1 or 2")
        return self.field.vec([m])

    def eval(self, meas: Vec, joint_rand: Vec, num_shares: int, g: Sequence[GadgetFn]) -> Vec:
        return g[0](meas[:, None])

    def truncate(self, meas: Vec) -> Vec:
        return meas

    def decode(self, output: Vec, num_measurements: int) -> int:
        return self.field.to_int(output[0])
