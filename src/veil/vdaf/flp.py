"""The fully linear proof of BBCGGI19 (Thm 4.3) as specified in draft-irtf-cfrg-vdaf-20 §7.3.

Public API (stable; PINE builds its circuit on it):

* :class:`Valid` — a validity circuit. Set ``field``, ``MEAS_LEN``, ``JOINT_RAND_LEN``,
  ``OUTPUT_LEN``, ``EVAL_OUTPUT_LEN``, ``GADGETS`` and ``GADGET_CALLS``; implement
  ``encode``, ``truncate``, ``decode`` and ``eval(meas, joint_rand, num_shares, g)``.
  In ``eval``, call gadget ``i`` as ``g[i](inputs)`` with ``inputs`` of shape
  ``(k, ARITY)`` (+ limb axis) for a batch of ``k`` consecutive calls; it returns the
  ``k`` outputs. Over one evaluation the calls must add up to ``GADGET_CALLS[i]``.
  ``eval`` returns ``EVAL_OUTPUT_LEN`` elements (all zero iff valid).
* :class:`FlpBBCGGI19(valid, encoding=ProofEncoding.LAGRANGE)` with ``prove``,
  ``query``, ``decide`` and the length constants ``PROVE_RAND_LEN``,
  ``QUERY_RAND_LEN``, ``JOINT_RAND_LEN``, ``MEAS_LEN``, ``OUTPUT_LEN``, ``PROOF_LEN``,
  ``VERIFIER_LEN``. ``encoding`` selects how the gadget polynomial travels in the proof:
  ``LAGRANGE`` (draft-18+: its values at the first ``DEGREE·(P−1)+1`` powers of a
  root of unity of order ``next_power_of_2(DEGREE·(P−1)+1)``) or ``MONOMIAL``
  (VDAF-11, used by PINE: its coefficients). Everything else (wire seeds first, wire
  polynomials through ``root(P)**k``, the verifier layout) is common to both.

Query randomness: if ``EVAL_OUTPUT_LEN > 1`` the first ``EVAL_OUTPUT_LEN`` elements
reduce the circuit output to one element, then one test point per gadget.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import numpy as np

from veil.errors import VdafError
from veil.vdaf.field import Field, Vec
from veil.vdaf.gadgets import Gadget


def next_power_of_2(n: int) -> int:
    return 1 if n <= 1 else 1 << (n - 1).bit_length()


class ProofEncoding(enum.Enum):
    """How the gadget polynomial is carried in the proof."""

    LAGRANGE = "lagrange"  # draft-irtf-cfrg-vdaf-18 and later
    MONOMIAL = "monomial"  # draft-irtf-cfrg-vdaf-11 (PINE)


GadgetFn = Callable[[Vec], Vec]


class Valid(ABC):
    """A validity circuit with its affine-aggregatable encoding (§7.3.2)."""

    field: type[Field]
    MEAS_LEN: int
    JOINT_RAND_LEN: int
    OUTPUT_LEN: int
    EVAL_OUTPUT_LEN: int
    GADGETS: Sequence[Gadget]
    GADGET_CALLS: Sequence[int]

    @abstractmethod
    def encode(self, measurement: Any) -> Vec:
        """Defined by each concrete subclass."""

    @abstractmethod
    def truncate(self, meas: Vec) -> Vec:
        """Defined by each concrete subclass."""

    @abstractmethod
    def decode(self, output: Vec, num_measurements: int) -> Any:
        """Defined by each concrete subclass."""

    @abstractmethod
    def eval(self, meas: Vec, joint_rand: Vec, num_shares: int, g: Sequence[GadgetFn]) -> Vec:
        """Defined by each concrete subclass."""

    # lengths (§7.3.3)
    def prove_rand_len(self) -> int:
        return sum(g.ARITY for g in self.GADGETS)

    def query_rand_len(self) -> int:
        n = len(self.GADGETS)
        return n + (self.EVAL_OUTPUT_LEN if self.EVAL_OUTPUT_LEN > 1 else 0)

    def proof_len(self) -> int:
        total = 0
        for g, calls in zip(self.GADGETS, self.GADGET_CALLS, strict=True):
            p = next_power_of_2(1 + calls)
            total += g.ARITY + g.DEGREE * (p - 1) + 1
        return total

    def verifier_len(self) -> int:
        return 1 + sum(g.ARITY + 1 for g in self.GADGETS)


class _Wires:
    """Records the inputs of every call of one gadget; wire j of call k sits at k+1."""

    def __init__(self, field: type[Field], seeds: Vec, arity: int, calls: int) -> None:
        self.p = next_power_of_2(1 + calls)
        self.calls = calls
        self.arity = arity
        # wire matrix: row j is wire j's values at root(p)**0 .. root(p)**(p-1)
        self.w = field.zeros((arity, self.p))
        self.w[:, 0] = seeds
        self.k = 0

    def record(self, inp: Vec) -> int:
        k = inp.shape[0]
        if inp.shape[1] != self.arity:
            raise VdafError("gadget input has the wrong arity", operation="flp")
        if self.k + k > self.calls:
            raise VdafError("circuit called a gadget too often", operation="flp")
        self.w[:, self.k + 1 : self.k + 1 + k] = np.swapaxes(inp, 0, 1)
        start = self.k
        self.k += k
        return start


@cache
def _completion_matrix(field: type[Field], known: int, m: int) -> list[list[int]]:
    """For a polynomial of degree < ``known`` given by its values at root(m)**j, j <
    ``known``, the missing values at j ≥ known solve: coefficients known..m−1 vanish.
    Returns M with u = M · b[known:], b = intt(values padded with zeros)."""
    p = field.MODULUS
    s = m - known
    w_inv = field.inv(field.root(m))
    inv_m = field.inv(m)
    # A[r][c] = w^{-(known+c)(known+r)} / m ; solve A u = -b  ->  u = (-A^{-1}) b
    a = [[pow(w_inv, (known + c) * (known + r), p) * inv_m % p for c in range(s)] for r in range(s)]
    inv = [[int(i == j) for j in range(s)] for i in range(s)]
    for col in range(s):
        piv = next(r for r in range(col, s) if a[r][col])
        a[col], a[piv] = a[piv], a[col]
        inv[col], inv[piv] = inv[piv], inv[col]
        f = pow(a[col][col], p - 2, p)
        a[col] = [x * f % p for x in a[col]]
        inv[col] = [x * f % p for x in inv[col]]
        for r in range(s):
            if r != col and a[r][col]:
                g = a[r][col]
                a[r] = [(x - g * y) % p for x, y in zip(a[r], a[col], strict=True)]
                inv[r] = [(x - g * y) % p for x, y in zip(inv[r], inv[col], strict=True)]
    return [[(-x) % p for x in row] for row in inv]


def complete_values(field: type[Field], values: Vec, m: int) -> Vec:
    """All ``m`` values of the polynomial of degree < len(values) that takes ``values``
    at root(m)**j for j < len(values) (the draft's extend_values_to_power_of_2)."""
    known = field.length(values)
    if known == m:
        return values
    padded = np.concatenate([values, field.zeros(m - known)], axis=0)
    b = field.intt(padded)
    mat = _completion_matrix(field, known, m)
    tail = field.to_ints(b[known:])
    p = field.MODULUS
    u = [sum(x * y for x, y in zip(row, tail, strict=True)) % p for row in mat]
    padded[known:] = field.vec(u)
    return padded


def _extend(field: type[Field], values: Vec, m: int) -> Vec:
    """Rows of values at root(p)**i (degree < p) -> values at root(m)**i, m = f·p.

    Index f·i + r of the result is A(root(m)**r · root(p)**i): the original values
    for r = 0 and one shifted NTT of the coefficients for each other r."""
    p = values.shape[1]
    if m == p:
        return values
    f = m // p
    # unnormalised inverse NTT (p·coefficients); 1/p is folded into the shift powers
    y = field.ntt(values, p)
    scaled = y[:, (-np.arange(p)) % p]
    out = field.zeros((values.shape[0], m))
    out[:, 0::f] = values
    w, inv_p, q = field.root(m), field.inv(p), field.MODULUS
    for r in range(1, f):
        pw = field.mul(field.powers(pow(w, r, q), p), field.elem(inv_p))
        out[:, r::f] = field.ntt(field.mul(scaled, pw[None]), p)
    return out


def lagrange_weights(field: type[Field], p: int, t: int) -> Vec:
    """Weights λ with A(t) = Σ λ_i·A(root(p)**i) for every A of degree < p (t^p ≠ 1)."""
    nodes = field.powers(field.root(p), p)
    diff = field.sub(field.elem(t), nodes)
    scale = (pow(t, p, field.MODULUS) - 1) * field.inv(p) % field.MODULUS
    return field.mul(field.mul(nodes, field.batch_inv(diff)), field.elem(scale))


class FlpBBCGGI19:
    """Prove / query / decide for a validity circuit (§7.3.3–7.3.5)."""

    def __init__(self, valid: Valid, encoding: ProofEncoding = ProofEncoding.LAGRANGE) -> None:
        if len(valid.GADGETS) != len(valid.GADGET_CALLS):
            raise ValueError("GADGETS and GADGET_CALLS differ in length")
        for g, calls in zip(valid.GADGETS, valid.GADGET_CALLS, strict=True):
            p = next_power_of_2(1 + calls)
            m = next_power_of_2(g.DEGREE * (p - 1) + 1)
            if valid.field.GEN_ORDER % m:
                raise ValueError("too many gadget calls for the field's 2-power subgroup")
        self.valid = valid
        self.field = valid.field
        self.encoding = encoding
        self.PROVE_RAND_LEN = valid.prove_rand_len()
        self.QUERY_RAND_LEN = valid.query_rand_len()
        self.JOINT_RAND_LEN = valid.JOINT_RAND_LEN
        self.MEAS_LEN = valid.MEAS_LEN
        self.OUTPUT_LEN = valid.OUTPUT_LEN
        self.PROOF_LEN = valid.proof_len()
        self.VERIFIER_LEN = valid.verifier_len()

    # --- helpers ---------------------------------------------------------------------
    def _check_len(self, name: str, v: Vec, n: int, op: str) -> None:
        if self.field.length(v) != n:
            raise VdafError(f"{name} has length {self.field.length(v)}, expected {n}", operation=op)

    def encode(self, measurement: Any) -> Vec:
        return self.valid.encode(measurement)

    def truncate(self, meas: Vec) -> Vec:
        return self.valid.truncate(meas)

    def decode(self, output: Vec, num_measurements: int) -> Any:
        return self.valid.decode(output, num_measurements)

    # --- prove (§7.3.3) ----------------------------------------------------------------
    def prove(self, meas: Vec, prove_rand: Vec, joint_rand: Vec) -> Vec:
        F = self.field
        self._check_len("meas", meas, self.MEAS_LEN, "prove")
        self._check_len("prove_rand", prove_rand, self.PROVE_RAND_LEN, "prove")
        self._check_len("joint_rand", joint_rand, self.JOINT_RAND_LEN, "prove")
        wires: list[_Wires] = []
        fns: list[GadgetFn] = []
        off = 0
        for g, calls in zip(self.valid.GADGETS, self.valid.GADGET_CALLS, strict=True):
            rec = _Wires(F, prove_rand[off : off + g.ARITY], g.ARITY, calls)
            off += g.ARITY
            wires.append(rec)

            def call(inp: Vec, g: Gadget = g, rec: _Wires = rec) -> Vec:
                rec.record(inp)
                return g.eval(F, inp)

            fns.append(call)
        self.valid.eval(meas, joint_rand, 1, fns)
        parts: list[Vec] = []
        for g, rec in zip(self.valid.GADGETS, wires, strict=True):
            self._check_calls(rec, "prove")
            p = rec.p
            glen = g.DEGREE * (p - 1) + 1
            m = next_power_of_2(glen)
            # wire polynomials at all m-th roots of unity, then the gadget point-wise
            ext = _extend(F, rec.w, m)
            vals = g.eval_columns(F, ext)
            parts.append(rec.w[:, 0])
            if self.encoding is ProofEncoding.LAGRANGE:
                parts.append(vals[:glen])
            else:
                parts.append(F.intt(vals)[:glen])
        return np.concatenate(parts, axis=0)

    def _check_calls(self, rec: _Wires, op: str) -> None:
        if rec.k != rec.calls:
            raise VdafError(
                f"circuit made {rec.k} gadget calls, expected {rec.calls}", operation=op
            )

    # --- query (§7.3.4) ----------------------------------------------------------------
    def query(
        self, meas: Vec, proof: Vec, query_rand: Vec, joint_rand: Vec, num_shares: int
    ) -> Vec:
        F = self.field
        self._check_len("meas", meas, self.MEAS_LEN, "query")
        self._check_len("proof", proof, self.PROOF_LEN, "query")
        self._check_len("query_rand", query_rand, self.QUERY_RAND_LEN, "query")
        self._check_len("joint_rand", joint_rand, self.JOINT_RAND_LEN, "query")
        wires: list[_Wires] = []
        fns: list[GadgetFn] = []
        gpolys: list[Vec] = []  # gadget polynomial coefficients
        off = 0
        for g, calls in zip(self.valid.GADGETS, self.valid.GADGET_CALLS, strict=True):
            rec = _Wires(F, proof[off : off + g.ARITY], g.ARITY, calls)
            off += g.ARITY
            p = rec.p
            glen = g.DEGREE * (p - 1) + 1
            m = next_power_of_2(glen)
            enc = proof[off : off + glen]
            off += glen
            if self.encoding is ProofEncoding.LAGRANGE:
                full = complete_values(F, enc, m)
                coeffs = F.intt(full)[:glen]
            else:
                coeffs = enc
                full = F.ntt(enc, m)
            outs = full[:: m // p]  # gadget poly at root(p)**k
            gpolys.append(coeffs)
            wires.append(rec)

            def call(inp: Vec, rec: _Wires = rec, outs: Vec = outs) -> Vec:
                start = rec.record(inp)
                return outs[start + 1 : start + 1 + inp.shape[0]]

            fns.append(call)
        out = self.valid.eval(meas, joint_rand, num_shares, fns)
        self._check_len("circuit output", out, self.valid.EVAL_OUTPUT_LEN, "query")
        qoff = 0
        if self.valid.EVAL_OUTPUT_LEN > 1:
            r = query_rand[: self.valid.EVAL_OUTPUT_LEN]
            qoff = self.valid.EVAL_OUTPUT_LEN
            v = F.inner(r, out, axis=0)
        else:
            v = out[0]
        verifier = [v[None]]
        for i, (rec, coeffs) in enumerate(zip(wires, gpolys, strict=True)):
            self._check_calls(rec, "query")
            t = F.to_int(query_rand[qoff + i])
            if pow(t, rec.p, F.MODULUS) == 1:
                raise VdafError("test point is a root of unity", operation="query")
            lam = lagrange_weights(F, rec.p, t)
            verifier.append(F.inner(rec.w, lam[None]))
            verifier.append(F.poly_eval(coeffs, t)[None])
        return np.concatenate(verifier, axis=0)

    # --- decide (§7.3.5) ---------------------------------------------------------------
    def decide(self, verifier: Vec) -> bool:
        F = self.field
        self._check_len("verifier", verifier, self.VERIFIER_LEN, "decide")
        if F.to_int(verifier[0]) != 0:
            return False
        off = 1
        for g in self.valid.GADGETS:
            x = verifier[off : off + g.ARITY]
            y = verifier[off + g.ARITY]
            off += g.ARITY + 1
            if not F.eq(g.eval(F, x[None])[0], y):
                return False
        return True
