"""The FLP: proofs verify iff the measurement is valid, under both proof encodings."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.vdaf import circuits
from veil.vdaf.field import Field32, Field64, Field128
from veil.vdaf.flp import FlpBBCGGI19, ProofEncoding, complete_values
from veil.vdaf.gadgets import Mul, ParallelSum, PolyEval

ENCODINGS = list(ProofEncoding)


def _rand_vec(F, n, rng):
    return F.vec([rng.randrange(F.MODULUS) for _ in range(n)])


def _run(flp, meas, rng):
    F = flp.field
    prove_rand = _rand_vec(F, flp.PROVE_RAND_LEN, rng)
    joint_rand = _rand_vec(F, flp.JOINT_RAND_LEN, rng)
    query_rand = _rand_vec(F, flp.QUERY_RAND_LEN, rng)
    proof = flp.prove(meas, prove_rand, joint_rand)
    assert F.length(proof) == flp.PROOF_LEN
    verifier = flp.query(meas, proof, query_rand, joint_rand, 1)
    assert F.length(verifier) == flp.VERIFIER_LEN
    return flp.decide(verifier), proof, query_rand, joint_rand


def _circuits(F):
    return [
        (circuits.Count(F), 1, 2),
        (circuits.Sum(F, 100), 77, 101),
        (circuits.SumVec(F, 5, 9, 4), [0, 9, 3, 8, 1], [0, 10, 3, 8, 1]),
        (circuits.Histogram(F, 6, 4), 5, None),
        (circuits.MultihotCountVec(F, 6, 3, 2), [1, 0, 1, 0, 1, 0], None),
        (circuits.HigherDegree(F), 2, 3),
    ]


@pytest.mark.parametrize("enc", ENCODINGS, ids=lambda e: e.value)
@pytest.mark.parametrize("F", [Field64, Field128, Field32], ids=lambda f: f.__name__)
def test_valid_measurements_are_accepted(F, enc):
    rng = random.Random(1)
    for valid, good, _bad in _circuits(F):
        flp = FlpBBCGGI19(valid, enc)
        ok, *_ = _run(flp, flp.encode(good), rng)
        assert ok, type(valid).__name__


@pytest.mark.parametrize("enc", ENCODINGS, ids=lambda e: e.value)
def test_invalid_encodings_are_rejected(enc):
    rng = random.Random(2)
    F = Field128
    for valid, _good, _bad in _circuits(F):
        flp = FlpBBCGGI19(valid, enc)
        meas = flp.encode(_good)
        bad = meas.copy()
        bad[0] = F.elem(2)  # not a bit / not 0,1 / not in {0,1,2}-> 2 is fine for HigherDegree
        if isinstance(valid, circuits.HigherDegree):
            bad[0] = F.elem(3)
        ok, *_ = _run(flp, bad, rng)
        assert not ok, type(valid).__name__


@pytest.mark.parametrize("enc", ENCODINGS, ids=lambda e: e.value)
def test_tampered_proof_is_rejected(enc):
    rng = random.Random(3)
    flp = FlpBBCGGI19(circuits.SumVec(Field64, 4, 3, 3), enc)
    meas = flp.encode([1, 2, 3, 0])
    ok, proof, qr, jr = _run(flp, meas, rng)
    assert ok
    for pos in range(flp.PROOF_LEN):
        bad = proof.copy()
        bad[pos] = Field64.add(bad[pos], Field64.elem(1))
        assert not flp.decide(flp.query(meas, bad, qr, jr, 1)), pos


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 15), min_size=3, max_size=3), st.integers(0, 2**32))
def test_sumvec_accepts_iff_in_range(values, seed):
    rng = random.Random(seed)
    flp = FlpBBCGGI19(circuits.SumVec(Field64, 3, 12, 2))
    if max(values) <= 12:
        ok, *_ = _run(flp, flp.encode(values), rng)
        assert ok
    else:
        with pytest.raises(ValueError):
            flp.encode(values)


@pytest.mark.parametrize("F", [Field64, Field128], ids=lambda f: f.__name__)
def test_shares_verify_linearly(F):
    """Query is linear: verifier shares of meas/proof shares add up to the full verifier."""
    rng = random.Random(4)
    flp = FlpBBCGGI19(circuits.Histogram(F, 10, 3))
    meas = flp.encode(7)
    ok, proof, qr, jr = _run(flp, meas, rng)
    assert ok
    m1, p1 = _rand_vec(F, flp.MEAS_LEN, rng), _rand_vec(F, flp.PROOF_LEN, rng)
    m0, p0 = F.sub(meas, m1), F.sub(proof, p1)
    v = F.add(flp.query(m0, p0, qr, jr, 2), flp.query(m1, p1, qr, jr, 2))
    assert flp.decide(v)


@pytest.mark.parametrize("F", [Field64, Field128], ids=lambda f: f.__name__)
@pytest.mark.parametrize("known,m", [(3, 4), (7, 8), (10, 16), (31, 32), (8, 8)])
def test_complete_values(F, known, m):
    rng = random.Random(known)
    coeffs = [rng.randrange(F.MODULUS) for _ in range(known)]
    full = F.ntt(F.vec(coeffs), m)
    got = complete_values(F, full[:known].copy(), m)
    assert F.to_ints(got) == F.to_ints(full)


def test_gadgets_vectorised():
    F = Field64
    inp = F.vec([[2, 3, 4, 5], [1, 1, 0, 7]])
    assert F.to_ints(ParallelSum(Mul(), 2).eval(F, inp)) == [2 * 3 + 4 * 5, 1]
    pe = PolyEval([0, 2, -3, 1, 0, 0])
    assert pe.DEGREE == 3
    x = F.vec([[0], [1], [2], [3]])
    assert F.to_ints(pe.eval(F, x)) == [0, 0, 0, 6]
    assert np.array_equal(Mul().eval(F, F.vec([[3, 4]])), F.vec([12]))


@pytest.mark.parametrize("F", [Field64, Field128], ids=lambda f: f.__name__)
def test_eval_columns_matches_eval(F):
    rng = random.Random(9)
    for g in (
        Mul(),
        PolyEval([3, 0, -1, 5]),
        ParallelSum(Mul(), 3),
        ParallelSum(PolyEval([1, 1]), 2),
    ):
        inp = _rand_vec(F, 7 * g.ARITY, rng).reshape((7, g.ARITY, *F.elem_shape()))
        cols = np.ascontiguousarray(np.swapaxes(inp, 0, 1))
        assert F.to_ints(g.eval_columns(F, cols)) == F.to_ints(g.eval(F, inp))
