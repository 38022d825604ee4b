"""Prio3 end to end: every variant with 2..5 Aggregators, typed errors, rejection."""

from __future__ import annotations

import secrets

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.errors import VdafEncodingError, VdafError, VerificationFailed
from veil.vdaf.field import Field64
from veil.vdaf.prio3 import (
    Prio3Count,
    Prio3HigherDegree,
    Prio3Histogram,
    Prio3LeaderShare,
    Prio3MultihotCountVec,
    Prio3Sum,
    Prio3SumVec,
    Prio3SumVecWithMultiproof,
)

CTX = b"veil tests"


def run(vdaf, measurements):
    vk = secrets.token_bytes(vdaf.VERIFY_KEY_SIZE)
    aggs = [vdaf.agg_init(None) for _ in range(vdaf.SHARES)]
    for m in measurements:
        nonce = secrets.token_bytes(vdaf.NONCE_SIZE)
        pub, shares = vdaf.shard(CTX, m, nonce, secrets.token_bytes(vdaf.RAND_SIZE))
        # through the wire encoding, as a real deployment would
        pub_b = vdaf.encode_public_share(pub)
        states, vshares = [], []
        for j in range(vdaf.SHARES):
            st, vs = vdaf.verify_init(
                vk, CTX, j, None, nonce, pub_b, vdaf.encode_input_share(shares[j])
            )
            states.append(st)
            vshares.append(vdaf.encode_verifier_share(vs))
        msg = vdaf.verifier_shares_to_message(CTX, None, vshares)
        for j in range(vdaf.SHARES):
            out = vdaf.verify_next(CTX, states[j], msg)
            aggs[j] = vdaf.agg_update(None, aggs[j], out)
    return vdaf.unshard(None, aggs, len(measurements))


@pytest.mark.parametrize("shares", [2, 3, 5])
def test_all_variants_round_trip(shares):
    assert run(Prio3Count(shares), [1, 0, 1]) == 2
    assert run(Prio3Sum(shares, 1000), [1000, 0, 17]) == 1017
    assert run(Prio3SumVec(shares, 5, 255, 3), [[1, 2, 3, 4, 255], [0, 0, 0, 0, 1]]) == [
        1,
        2,
        3,
        4,
        256,
    ]
    assert run(Prio3Histogram(shares, 4, 2), [0, 3, 3]) == [1, 0, 0, 2]
    assert run(Prio3MultihotCountVec(shares, 4, 2, 2), [[True, False, False, True]]) == [
        1,
        0,
        0,
        1,
    ]
    assert run(Prio3SumVecWithMultiproof(shares, Field64, 2, 3, 7, 2), [[7, 0, 1]]) == [7, 0, 1]
    assert run(Prio3HigherDegree(shares), [2, 1]) == 3


def test_numpy_measurements_accepted():
    assert run(Prio3SumVec(2, 4, 15, 2), [np.array([1, 15, 0, 3])]) == [1, 15, 0, 3]


def test_constants():
    v = Prio3SumVec(2, 10, 255, 9)
    assert (v.VERIFY_KEY_SIZE, v.NONCE_SIZE, v.RAND_SIZE) == (32, 16, 128)
    assert Prio3Count(3).RAND_SIZE == 96


def _report(vdaf, m):
    nonce = secrets.token_bytes(16)
    vk = secrets.token_bytes(32)
    pub, shares = vdaf.shard(CTX, m, nonce, secrets.token_bytes(vdaf.RAND_SIZE))
    return vk, nonce, pub, shares


def test_bad_measurement_is_typed_error_at_shard():
    with pytest.raises(VdafEncodingError) as ei:
        Prio3Sum(2, 10).shard(CTX, 11, bytes(16), bytes(64))
    assert ei.value.operation == "shard"
    with pytest.raises(VdafEncodingError):
        Prio3Count(2).shard(CTX, 1, bytes(15), bytes(64))


def test_tampered_leader_share_fails_at_decide():
    v = Prio3SumVec(2, 4, 3, 2)
    vk, nonce, pub, shares = _report(v, [1, 2, 3, 0])
    leader = shares[0]
    bad_meas = leader.meas_share.copy()
    bad_meas[0] = v.field.add(bad_meas[0], v.field.elem(1))
    bad = Prio3LeaderShare(bad_meas, leader.proofs_share, leader.k_blind)
    s0 = v.verify_init(vk, CTX, 0, None, nonce, pub, bad)
    s1 = v.verify_init(vk, CTX, 1, None, nonce, pub, shares[1])
    with pytest.raises(VerificationFailed) as ei:
        v.verifier_shares_to_message(CTX, None, [s0[1], s1[1]])
    assert ei.value.operation == "verifier_shares_to_message"


def test_lying_public_share_is_rejected():
    v = Prio3Histogram(2, 4, 2)
    vk, nonce, pub, shares = _report(v, 1)
    pub = [pub[0], bytes(32)]  # a lying public share
    st = [v.verify_init(vk, CTX, j, None, nonce, pub, shares[j]) for j in range(2)]
    with pytest.raises(VerificationFailed):
        v.verifier_shares_to_message(CTX, None, [s[1] for s in st])


def test_wrong_joint_rand_seed_fails_at_verify_next():
    v = Prio3Histogram(2, 4, 2)
    vk, nonce, pub, shares = _report(v, 1)
    st = [v.verify_init(vk, CTX, j, None, nonce, pub, shares[j]) for j in range(2)]
    msg = v.verifier_shares_to_message(CTX, None, [s[1] for s in st])
    assert v.verify_next(CTX, st[1][0], msg) is not None
    with pytest.raises(VerificationFailed) as ei:
        v.verify_next(CTX, st[0][0], bytes(32))
    assert ei.value.operation == "verify_next"


def test_malformed_inputs_are_encoding_errors_at_verify_init():
    v = Prio3Count(2)
    vk, nonce, pub, shares = _report(v, 1)
    enc = v.encode_input_share(shares[0])
    for bad in (enc[:-1], enc + b"\0", b"\xff" * len(enc)):
        with pytest.raises(VdafEncodingError) as ei:
            v.verify_init(vk, CTX, 0, None, nonce, pub, bad)
        assert ei.value.operation == "verify_init"
    with pytest.raises(VdafEncodingError):
        v.verify_init(vk, CTX, 1, None, nonce, b"x", shares[1])
    with pytest.raises(VdafEncodingError):
        v.verify_init(vk[:5], CTX, 1, None, nonce, pub, shares[1])
    with pytest.raises(VdafEncodingError):
        v.verifier_shares_to_message(CTX, None, [b"\0" * 3, b"\0" * 32])


def test_verify_state_is_single_use():
    v = Prio3Count(2)
    vk, nonce, pub, shares = _report(v, 0)
    st = [v.verify_init(vk, CTX, j, None, nonce, pub, shares[j]) for j in range(2)]
    msg = v.verifier_shares_to_message(CTX, None, [s[1] for s in st])
    v.verify_next(CTX, st[0][0], msg)
    with pytest.raises(VdafError):
        v.verify_next(CTX, st[0][0], msg)


def test_invalid_parameters():
    with pytest.raises(ValueError):
        Prio3Count(1)
    with pytest.raises(ValueError):
        Prio3MultihotCountVec(2, 4, 5, 2)


@settings(max_examples=15, deadline=None)
@given(
    st.integers(2, 4),
    st.lists(st.lists(st.integers(0, 20), min_size=4, max_size=4), min_size=1, max_size=3),
)
def test_sumvec_aggregate_is_the_sum(shares, measurements):
    v = Prio3SumVec(shares, 4, 20, 3)
    assert run(v, measurements) == [sum(col) for col in zip(*measurements, strict=True)]


@settings(max_examples=15, deadline=None)
@given(st.integers(2, 4), st.integers(0, 2**20))
def test_input_shares_sum_to_the_encoded_measurement(shares, m):
    v = Prio3Sum(shares, 2**20)
    nonce = secrets.token_bytes(16)
    _pub, input_shares = v.shard(CTX, m, nonce, secrets.token_bytes(v.RAND_SIZE))
    total = input_shares[0].meas_share
    for j in range(1, shares):
        total = v.field.add(total, v.helper_meas_share(CTX, j, input_shares[j].k_share))
    assert v.field.to_ints(total) == v.field.to_ints(v.flp.encode(m))
