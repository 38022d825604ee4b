"""The VDAF-11 FLP and the wraparound kernel against slow, direct transcriptions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.vdaf.field import FIELDS
from veil.vdaf.pine.circuit import wr_dot_products, wr_dot_products_reference
from veil.vdaf.pine.flp11 import Flp11, GadgetKind, ParallelSumGadget


def _poly_eval(p: int, coeffs: list[int], x: int) -> int:
    return sum(c * pow(x, i, p) for i, c in enumerate(coeffs)) % p


def _interp(p: int, xs: list[int], ys: list[int]) -> list[int]:
    """Lagrange interpolation with Python ints (monomial coefficients)."""
    n = len(xs)
    coeffs = [0] * n
    for i in range(n):
        num = [1]
        den = 1
        for j in range(n):
            if j != i:
                num = [(a - xs[j] * b) % p for a, b in zip([0, *num], [*num, 0], strict=True)]
                den = den * (xs[i] - xs[j]) % p
        f = ys[i] * pow(den, p - 2, p) % p
        coeffs = [(c + f * a) % p for c, a in zip(coeffs, num, strict=True)]
    return coeffs


@pytest.mark.parametrize("name", sorted(FIELDS))
@pytest.mark.parametrize("kind", list(GadgetKind))
def test_prove_matches_direct_interpolation(name: str, kind: GadgetKind) -> None:
    fld = FIELDS[name]
    p = fld.MODULUS
    rng = np.random.default_rng(3)
    g = ParallelSumGadget(kind, 3)
    calls = 5
    flp = Flp11(fld, g, calls)
    inputs = [[int(v) % p for v in rng.integers(0, 2**31, g.arity)] for _ in range(calls)]
    seeds = [int(v) for v in rng.integers(0, 2**31, g.arity)]
    rows = fld.vec([v for row in inputs for v in row]).reshape((calls, g.arity, *fld.elem_shape()))
    proof = fld.to_ints(flp.prove_many(rows, [fld.vec(seeds)])[0])
    # direct: wire j takes seed_j at α^0 and call k's input j at α^k
    xs = [pow(flp.alpha, k, p) for k in range(flp.P)]
    wires = [
        _interp(
            p, xs, [seeds[j]] + [inputs[k][j] for k in range(calls)] + [0] * (flp.P - 1 - calls)
        )
        for j in range(g.arity)
    ]
    t = 123456789

    def gadget(vals: list[int]) -> int:
        if kind is GadgetKind.MUL:
            return sum(vals[2 * i] * vals[2 * i + 1] for i in range(g.count)) % p
        return sum(v * v for v in vals) % p

    poly = proof[g.arity :]
    assert proof[: g.arity] == seeds
    assert len(poly) == 2 * (flp.P - 1) + 1
    assert _poly_eval(p, poly, t) == gadget([_poly_eval(p, w, t) for w in wires])
    # query on the whole measurement (one share) reproduces wires and gadget at t
    ver = fld.to_ints(flp.query(rows, fld.vec(proof), t, lambda outs: 0))
    assert ver[1:-1] == [_poly_eval(p, w, t) for w in wires]
    assert ver[-1] == _poly_eval(p, poly, t)
    assert flp.decide(fld.vec(ver))
    # the gadget outputs the verifier sees are the true gadget values of each call
    outs = fld.to_ints(flp.gadget_outputs(fld.vec(proof)))
    assert outs == [gadget(inp) for inp in inputs]
    # a wrong coefficient is caught
    bad = list(proof)
    bad[-2] = (bad[-2] + 1) % p
    ver = fld.vec(fld.to_ints(flp.query(rows, fld.vec(bad), t, lambda outs: 0)))
    assert not flp.decide(ver)


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(sorted(FIELDS)),
    dim=st.integers(1, 70),
    checks=st.integers(1, 6),
    seed=st.integers(0, 2**32 - 1),
    small=st.booleans(),
)
def test_wr_kernel_matches_reference(
    name: str, dim: int, checks: int, seed: int, small: bool
) -> None:
    fld = FIELDS[name]
    p = fld.MODULUS
    rng = np.random.default_rng(seed)
    zb = rng.integers(0, 256, size=(checks, (dim + 3) // 4), dtype=np.uint8)
    if small:
        signed = rng.integers(-(2**20), 2**20, dim).astype(np.int64)
        x = fld.vec([int(v) % p for v in signed])
    else:
        signed = None
        x = fld.vec([int(rng.integers(0, 2**62)) * 7919 % p for _ in range(dim)])
    want = wr_dot_products_reference(fld, fld.to_ints(x), zb.tobytes(), checks, dim)
    assert wr_dot_products(fld, x, zb, dim, signed) == want
    assert wr_dot_products(fld, x, zb, dim) == want
