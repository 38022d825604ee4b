"""Gadgets of the BBCGGI19 FLP (draft-irtf-cfrg-vdaf-20 §7.3.1): Mul, PolyEval, ParallelSum.

A gadget is evaluated on a *batch* of calls at once: ``eval(field, inp)`` takes
``inp`` of shape ``(k, ARITY)`` (+ the limb axis for Field128) and returns shape
``(k,)`` (+ limb axis); ``eval_columns(field, cols)`` does the same on ``(ARITY, k)``.
The FLP obtains the gadget polynomial by evaluating the same
function point-wise on the wire polynomials' values at enough roots of unity, so a
gadget needs nothing but a vectorised ``eval`` (and ``ARITY``/``DEGREE``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from veil.vdaf.field import Field, Vec


class Gadget(ABC):
    """Base class: an arithmetic sub-circuit of fixed arity and degree."""

    ARITY: int
    DEGREE: int

    @abstractmethod
    def eval(self, field: type[Field], inp: Vec) -> Vec:
        """Defined by each concrete subclass."""

    def eval_columns(self, field: type[Field], cols: Vec) -> Vec:
        """The same on wire-major input ``(ARITY, k)`` (the prover's layout); override
        to avoid the transpose copy."""
        return self.eval(field, np.swapaxes(cols, 0, 1))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(arity={self.ARITY}, degree={self.DEGREE})"


class Mul(Gadget):
    """x·y (§7.3.1.1)."""

    ARITY = 2
    DEGREE = 2

    def eval(self, field: type[Field], inp: Vec) -> Vec:
        return field.mul(inp[:, 0], inp[:, 1])

    def eval_columns(self, field: type[Field], cols: Vec) -> Vec:
        return field.mul(cols[0], cols[1])


class PolyEval(Gadget):
    """p(x) for a fixed polynomial with integer coefficients, lowest degree first (§7.3.1.2).

    Leading zero coefficients are stripped, so DEGREE = len(stripped p) − 1.
    """

    ARITY = 1

    def __init__(self, coeffs: Sequence[int]) -> None:
        coeffs = list(coeffs)
        while coeffs and coeffs[-1] == 0:
            coeffs.pop()
        if not coeffs:
            raise ValueError("PolyEval: zero polynomial")
        self.coeffs = coeffs
        self.DEGREE = len(coeffs) - 1

    def eval(self, field: type[Field], inp: Vec) -> Vec:
        return self.eval_columns(field, np.swapaxes(inp, 0, 1))

    def eval_columns(self, field: type[Field], cols: Vec) -> Vec:
        x = cols[0]
        acc = field.zeros(field.length(x))
        acc[...] = field.elem(self.coeffs[-1])
        for c in reversed(self.coeffs[:-1]):
            acc = field.add(field.mul(acc, x), field.elem(c))
        return acc


class ParallelSum(Gadget):
    """Σ over ``count`` copies of ``subcircuit`` on consecutive input slices (§7.3.1.3)."""

    def __init__(self, subcircuit: Gadget, count: int) -> None:
        if count <= 0:
            raise ValueError("ParallelSum: count must be positive")
        self.subcircuit = subcircuit
        self.count = count
        self.ARITY = subcircuit.ARITY * count
        self.DEGREE = subcircuit.DEGREE

    def eval(self, field: type[Field], inp: Vec) -> Vec:
        k = inp.shape[0]
        sub_arity = self.subcircuit.ARITY
        flat = inp.reshape((k * self.count, sub_arity, *field.elem_shape()))
        out = self.subcircuit.eval(field, flat)
        return field.sum(out.reshape((k, self.count, *field.elem_shape())), axis=1)

    def eval_columns(self, field: type[Field], cols: Vec) -> Vec:
        if isinstance(self.subcircuit, Mul):  # Σ_j x_2j · x_2j+1, no transpose
            return field.sum(field.mul(cols[0::2], cols[1::2]), axis=0)
        return super().eval_columns(field, cols)
