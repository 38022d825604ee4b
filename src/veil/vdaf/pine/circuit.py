"""PINE's validity circuits and encoding (draft-chen-cfrg-vdaf-pine-02, reference ``flp_pine.py``).

Notation (as in ``docs/vdaf.md``): ``d`` the dimension, ``x`` the encoded gradient, ``S`` the
number of shares, ``B`` = ``wr_check_bound``. The encoded measurement is

``x (d) || bits(v_sq) || bits(u_sq) || for each test i: bits(v_i), g_i``

followed, inside the FLP only, by the ``num_wr_checks`` dot products ``z_i·x``.

* **Norm-equality circuit** (no joint randomness): ``v_sq − Σ x_j²``, gadget
  ``ParallelSum(PolyEval([0, 0, 1]), chunk_length_norm_equality)``.
* **Main circuit** (joint randomness ``r_bit, r_wr, r_final``), gadget
  ``ParallelSum(Mul, chunk_length)``; output
  ``bit_check + r_final·range + r_final²·wr_quadratic + r_final³·success_count``.
"""

from __future__ import annotations

import numpy as np

from veil.errors import VdafEncodingError
from veil.vdaf import kernels
from veil.vdaf.field import Field
from veil.vdaf.pine.flp11 import Flp11, GadgetKind, ParallelSumGadget
from veil.vdaf.pine.params import PineParams
from veil.vdaf.pine.xof11 import Xof


def chunk_count(chunk_length: int, length: int) -> int:
    return (length + chunk_length - 1) // chunk_length


def _chunk_rows(fld: type[Field], flat: np.ndarray, arity: int) -> np.ndarray:
    """Split into rows of ``arity`` inputs, zero-padding the last (reference ``parallel_sum``)."""
    rows = chunk_count(arity, len(flat))
    out = fld.zeros(rows * arity)
    out[: len(flat)] = flat
    return out.reshape((rows, arity, *fld.elem_shape()))


def _dot(fld: type[Field], a: np.ndarray, b: np.ndarray) -> int:
    """Inner product of two vectors as a Python int (the circuits' scalar arithmetic)."""
    return fld.to_int(fld.inner(a, b, axis=0))


def bits_le(value: int, n: int) -> list[int]:
    return [(value >> i) & 1 for i in range(n)]


class PineCircuits:
    """Both PINE circuits for one parameter set, plus the Client-side encoding."""

    def __init__(self, params: PineParams) -> None:
        self.params = params
        fld = self.field = params.field
        pr = params
        self.norm_gadget = ParallelSumGadget(GadgetKind.SQUARE, pr.chunk_length_norm_equality)
        self.main_gadget = ParallelSumGadget(GadgetKind.MUL, pr.chunk_length)
        self.calls_bit = chunk_count(pr.chunk_length, pr.bit_checked_len)
        self.calls_wr = chunk_count(pr.chunk_length, pr.num_wr_checks)
        self.flp_norm = Flp11(
            fld, self.norm_gadget, chunk_count(pr.chunk_length_norm_equality, pr.dimension)
        )
        self.flp_main = Flp11(fld, self.main_gadget, self.calls_bit + self.calls_wr)
        self.MAIN_JOINT_RAND_LEN = 3
        self._pow2_sq = fld.powers(2, pr.num_bits_for_sq_norm)
        self._pow2_wr = fld.powers(2, pr.num_bits_for_wr_check)

    # ----- Client encoding -------------------------------------------------------------------
    def gradient_to_field(self, ints: np.ndarray) -> np.ndarray:
        """Signed fixed-point integers → field elements; |v| ≥ p is rejected (as the reference)."""
        fld = self.field
        p = fld.MODULUS
        if ints.dtype == np.int64:
            if p < 2**63 and np.any(np.abs(ints) >= p):
                raise VdafEncodingError("gradient entry too large for the field", operation="shard")
            return fld.vec(ints)  # reduces negatives mod p without a Python loop
        vals = [int(v) for v in ints]
        if any(abs(v) >= p for v in vals):
            raise VdafEncodingError("gradient entry too large for the field", operation="shard")
        return fld.vec(vals)

    def encode_norm(self, ints: np.ndarray) -> tuple[int, list[int]]:
        """Squared norm mod p and the bits of v = sq and u = sq_norm_bound − sq (mod p)."""
        pr = self.params
        p = self.field.MODULUS
        if ints.dtype == np.int64 and np.all(np.abs(ints) < 2**31):
            sq = ints * ints  # < 2^62 each
            sq_norm = (int(np.sum(sq & 0xFFFFFFFF)) + (int(np.sum(sq >> 32)) << 32)) % p
        else:
            sq_norm = sum((int(v) % p) ** 2 for v in ints) % p
        v = sq_norm
        u = (pr.sq_norm_bound - sq_norm) % p
        n = pr.num_bits_for_sq_norm
        if v > pr.sq_norm_bound:
            # The reference cannot bit-encode an out-of-range norm (it raises): neither do we.
            raise VdafEncodingError("measurement exceeds the L2-norm bound", operation="shard")
        return sq_norm, bits_le(v, n) + bits_le(u, n)

    def encode_wr_checks(self, dots: list[int]) -> tuple[list[int], int]:
        """Bits of v_i = dot_i + B − 1 and success bits g_i; returns (bits, successes)."""
        pr = self.params
        p = self.field.MODULUS
        B = pr.wr_check_bound
        out: list[int] = []
        passed = 0
        for dot in dots:
            v = (dot + B - 1) % p
            ok = v <= 2 * B - 1
            g = 1 if ok and passed < pr.num_wr_successes else 0
            passed += g
            # A failed test's bits are unconstrained (g = 0); the reference cannot encode
            # them at all, we send zeros.
            out += bits_le(v if ok else 0, pr.num_bits_for_wr_check)
            out.append(g)
        return out, passed

    # ----- gadget inputs ---------------------------------------------------------------------
    def norm_call_inputs(self, meas: np.ndarray) -> np.ndarray:
        return _chunk_rows(self.field, meas[: self.params.dimension], self.norm_gadget.arity)

    def norm_output(self, meas: np.ndarray) -> callable:
        fld = self.field
        pr = self.params
        bits = meas[pr.dimension : pr.dimension + pr.num_bits_for_sq_norm]
        sq_v = _dot(fld, bits, self._pow2_sq)

        def out(gadget_outputs: np.ndarray) -> int:
            return (sq_v - fld.to_int(fld.sum(gadget_outputs))) % fld.MODULUS

        return out

    def main_call_inputs(
        self, meas: np.ndarray, dots: np.ndarray, joint_rand: np.ndarray, num_shares: int
    ) -> tuple[np.ndarray, callable]:
        """Gadget input rows of the main circuit and a function giving its output."""
        fld = self.field
        pr = self.params
        p = fld.MODULUS
        inv_s = fld.inv(num_shares)
        r_bit, r_wr, r_final = fld.to_ints(joint_rand)
        d = pr.dimension
        nsq = pr.num_bits_for_sq_norm
        es = fld.elem_shape()
        bits = meas[d : d + pr.bit_checked_len]
        # bit checks: pairs (r_bit^i·b_i, b_i − 1/S)
        bit_pairs = fld.zeros((pr.bit_checked_len, 2))
        bit_pairs[:, 0] = fld.mul(bits, fld.powers(r_bit, pr.bit_checked_len))
        bit_pairs[:, 1] = fld.sub(bits, fld.elem(inv_s))
        rows_bit = _chunk_rows(fld, bit_pairs.reshape((-1, *es)), self.main_gadget.arity)
        # wraparound: pairs (r_wr^i·(dot_i − (v_i − (B − 1)/S)), g_i)
        wr = bits[2 * nsq :].reshape((pr.num_wr_checks, pr.num_bits_for_wr_check + 1, *es))
        v = fld.sum(fld.mul(wr[:, :-1], self._pow2_wr[None, :]), axis=1)
        g = wr[:, -1]
        computed = fld.sub(v, fld.elem((pr.wr_check_bound - 1) * inv_s))
        wr_pairs = fld.zeros((pr.num_wr_checks, 2))
        wr_pairs[:, 0] = fld.mul(fld.sub(dots, computed), fld.powers(r_wr, pr.num_wr_checks))
        wr_pairs[:, 1] = g
        rows_wr = _chunk_rows(fld, wr_pairs.reshape((-1, *es)), self.main_gadget.arity)
        sq_v = _dot(fld, bits[:nsq], self._pow2_sq)
        sq_u = _dot(fld, bits[nsq : 2 * nsq], self._pow2_sq)
        range_check = (sq_v + sq_u - pr.sq_norm_bound * inv_s) % p
        success = (fld.to_int(fld.sum(g)) - pr.num_wr_successes * inv_s) % p
        nb = self.calls_bit

        def out(gadget_outputs: np.ndarray) -> int:
            bit_check = fld.to_int(fld.sum(gadget_outputs[:nb]))
            wr_quad = fld.to_int(fld.sum(gadget_outputs[nb:]))
            return (
                bit_check
                + r_final * range_check
                + r_final * r_final % p * wr_quad
                + pow(r_final, 3, p) * success
            ) % p

        return np.concatenate([rows_bit, rows_wr]), out


# ----- wraparound dot products -----------------------------------------------------------


def wr_random_bytes(xof: Xof, num_checks: int, dimension: int) -> np.ndarray:
    """The wraparound XOF output, one row of ⌈d/4⌉ bytes per test."""
    nb = (dimension + 3) // 4
    return np.frombuffer(xof.next(num_checks * nb), dtype=np.uint8).reshape(num_checks, nb)


def _limbs32(fld: type[Field], x: np.ndarray) -> np.ndarray:
    """``L × d`` int64 matrix of the 32-bit limbs of the field elements ``x`` (low first)."""
    nlimbs = (fld.MODULUS.bit_length() + 31) // 32
    words = x.reshape(len(x), fld.LIMBS)  # uint64 words, low first (Field128: [lo, hi])
    limbs = [
        (words[:, i // 2] >> np.uint64(32 * (i % 2)) & np.uint64(0xFFFFFFFF)).astype(np.int64)
        for i in range(nlimbs)
    ]
    return np.stack(limbs)


def wr_dot_products(
    fld: type[Field],
    x: np.ndarray,
    zbytes: np.ndarray,
    dimension: int,
    signed: np.ndarray | None = None,
) -> list[int]:
    """z_i·x mod p for every test i, with z_i ∈ {−1, 0, 1}^d read from ``zbytes``.

    Runs the compiled kernel on 32-bit limbs of ``x`` (exact int64 sums for d < 2^31). When
    the Client's signed fixed-point gradient is given and small, one signed limb suffices.
    """
    p = fld.MODULUS
    if dimension >= 2**31:
        raise ValueError("dimension too large for the wraparound kernel")
    limbs = None
    if (
        signed is not None
        and signed.dtype == np.int64
        and dimension
        and int(np.max(np.abs(signed))) < 2**31
    ):
        limbs = signed[None, :]
    if limbs is None:
        limbs = _limbs32(fld, x)
    acc = kernels.wr_dots_limbs(zbytes, limbs, dimension)
    return [
        sum(int(acc[i, k]) << (32 * k) for k in range(acc.shape[1])) % p
        for i in range(acc.shape[0])
    ]


def wr_dot_products_reference(
    fld: type[Field], x: list[int], zbytes: bytes, num_checks: int, dimension: int
) -> list[int]:
    """Plain-Python transcription of the reference ``run_wr_checks`` (for tests)."""
    p = fld.MODULUS
    nb = (dimension + 3) // 4
    out = []
    for i in range(num_checks):
        acc = 0
        row = zbytes[i * nb : (i + 1) * nb]
        for j in range(dimension):
            c = (row[j // 4] >> (2 * (j % 4))) & 3
            acc += {0: -1, 1: 0, 2: 0, 3: 1}[c] * x[j]
        out.append(acc % p)
    return out
