"""The BBCGGI19 fully linear proof in its VDAF-11 form, for circuits with one ParallelSum gadget.

draft-irtf-cfrg-vdaf-11 §7.3 (``FlpBBCGGI19``) as PINE uses it. Each PINE circuit has exactly
one gadget, ``ParallelSum(Mul(), L)`` or ``ParallelSum(PolyEval([0, 0, 1]), L)``, and every
gadget call's inputs are affine in the measurement and the joint randomness (no call feeds
another). That lets prove and query work on the whole ``calls × ARITY`` input matrix at once:

* wire ``j`` takes the value ``seed_j`` at ``α^0`` and the ``k``-th call's input ``j`` at
  ``α^k`` (``α`` a primitive ``P``-th root of unity, ``P = next_power_of_2(1 + calls)``);
* the proof is ``seeds || gadget polynomial`` in the **monomial basis** (VDAF-11), with
  ``2(P − 1) + 1`` coefficients, computed with NTTs of size ``P`` and ``2P``;
* the verifier is ``[circuit output] || wire polynomials at t || gadget polynomial at t``.

The Lagrange-basis encoding of draft-18+ lives in ``veil.vdaf.flp``; this module exists
because PINE's vectors are bound to VDAF-11.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

import numpy as np

from veil.errors import ConfigError, VerificationFailed
from veil.vdaf.field import Field
from veil.vdaf.flp import next_power_of_2


class GadgetKind(Enum):
    MUL = "ParallelSum(Mul)"
    SQUARE = "ParallelSum(PolyEval([0, 0, 1]))"


@dataclass(frozen=True)
class ParallelSumGadget:
    """ParallelSum of ``count`` Mul (arity 2) or x² (arity 1) sub-gadgets; degree 2."""

    kind: GadgetKind
    count: int

    DEGREE = 2

    @property
    def arity(self) -> int:
        return self.count * (2 if self.kind is GadgetKind.MUL else 1)

    def eval_rows(self, fld: type[Field], x: np.ndarray) -> np.ndarray:
        """Gadget value for each row of ``x`` (shape ``rows × arity``)."""
        if self.kind is GadgetKind.MUL:
            return fld.sum(fld.mul(x[:, 0::2], x[:, 1::2]), axis=1)
        return fld.sum(fld.mul(x, x), axis=1)


class Flp11:
    """Prove/query/decide for one ParallelSum gadget called ``calls`` times (VDAF-11)."""

    def __init__(self, fld: type[Field], gadget: ParallelSumGadget, calls: int) -> None:
        self.field = fld
        self.gadget = gadget
        self.calls = calls
        self.P = next_power_of_2(1 + calls)
        if 2 * self.P > fld.GEN_ORDER:
            raise ConfigError(
                f"{calls} gadget calls need roots of unity of order {2 * self.P}, "
                f"which {fld.__name__} lacks: use a larger chunk length"
            )
        self.alpha = fld.root(self.P)
        self.gadget_poly_len = gadget.DEGREE * (self.P - 1) + 1
        self.PROOF_LEN = gadget.arity + self.gadget_poly_len
        self.PROVE_RAND_LEN = gadget.arity
        self.QUERY_RAND_LEN = 1
        self.VERIFIER_LEN = 1 + gadget.arity + 1

    # ----- helpers ---------------------------------------------------------------------------
    def _wires(self, call_inputs: np.ndarray) -> np.ndarray:
        """``arity × P`` wire values with column 0 (the seeds) left zero."""
        fld = self.field
        w = fld.zeros((self.gadget.arity, self.P))
        w[:, 1 : self.calls + 1] = np.swapaxes(call_inputs, 0, 1)
        return w

    def _gadget_poly(self, evals: np.ndarray) -> np.ndarray:
        """Monomial coefficients of the gadget polynomial from wire evaluations on 2P points."""
        fld = self.field
        if self.gadget.kind is GadgetKind.MUL:
            prod = fld.sum(fld.mul(evals[0::2], evals[1::2]), axis=0)
        else:
            prod = fld.sum(fld.mul(evals, evals), axis=0)
        return fld.intt(prod)[: self.gadget_poly_len]

    # ----- prove -----------------------------------------------------------------------------
    def prove_many(self, call_inputs: np.ndarray, seeds: list[np.ndarray]) -> list[np.ndarray]:
        """One proof per seed vector, all over the same gadget inputs (``calls × arity``)."""
        fld = self.field
        P = self.P
        coeffs = fld.intt(self._wires(call_inputs))
        base = fld.ntt(coeffs, 2 * P)  # zero-padded to 2P coefficients
        # A seed s at α^0 adds s·L_0(x) = s·(1/P)·Σ x^i to a wire: its 2P evaluations are s·u.
        u_coeffs = fld.zeros(P)
        u_coeffs[:] = fld.elem(fld.inv(P))
        u = fld.ntt(u_coeffs, 2 * P)
        proofs = []
        for s in seeds:
            evals = fld.add(base, fld.mul(s[:, None], u[None, :]))
            proofs.append(np.concatenate([s, self._gadget_poly(evals)]))
        return proofs

    # ----- query -----------------------------------------------------------------------------
    def gadget_outputs(self, proof: np.ndarray) -> np.ndarray:
        """The gadget polynomial at α^1 … α^calls (what each call 'returns' when querying)."""
        fld = self.field
        P = self.P
        poly = proof[self.gadget.arity :]
        folded = poly[:P].copy()
        folded[: len(poly) - P] = fld.add(folded[: len(poly) - P], poly[P:])
        return fld.ntt(folded, P)[1 : self.calls + 1]

    def query(
        self,
        call_inputs: np.ndarray,
        proof: np.ndarray,
        t: int,
        circuit_output: Callable[[np.ndarray], int],
        *,
        operation: str = "verify_init",
    ) -> np.ndarray:
        """Verifier share: ``[circuit output] || wires at t || gadget poly at t``."""
        fld = self.field
        p = fld.MODULUS
        P = self.P
        arity = self.gadget.arity
        seeds = proof[:arity]
        poly = proof[arity:]
        v = circuit_output(self.gadget_outputs(proof)) % p
        t = int(t)
        tP = pow(t, P, p)
        if tP == 1:
            raise VerificationFailed("query randomness hit a root of unity", operation=operation)
        # Barycentric form: w(t) = (t^P − 1)/P · Σ_k w_k·α^k/(t − α^k), over k ≤ calls.
        n = self.calls + 1
        ak = fld.powers(self.alpha, n)
        lam = fld.mul(ak, fld.batch_inv(fld.sub(fld.elem(t), ak)))  # t ≠ α^k: t^P ≠ 1
        scale = (tP - 1) * fld.inv(P) % p
        w = self._wires(call_inputs)[:, :n]
        w[:, 0] = seeds
        wire_at_t = fld.mul(fld.sum(fld.mul(w, lam[None, :]), axis=1), fld.elem(scale))
        poly_at_t = fld.poly_eval(poly, t)
        return np.concatenate([fld.vec([v]), wire_at_t, poly_at_t[None]])

    # ----- decide ----------------------------------------------------------------------------
    def decide(self, verifier: np.ndarray) -> bool:
        fld = self.field
        if len(verifier) != self.VERIFIER_LEN:
            return False
        if fld.to_int(verifier[0]) != 0:
            return False
        x = verifier[None, 1:-1]
        y = fld.to_int(verifier[-1])
        return fld.to_int(self.gadget.eval_rows(fld, x)[0]) == y
