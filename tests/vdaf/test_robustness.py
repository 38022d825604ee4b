"""A malformed or malicious report only ever raises VdafError (naming the operation)."""

from __future__ import annotations

import secrets

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from veil.errors import VdafError
from veil.vdaf.prio3 import Prio3Count, Prio3Histogram, Prio3Sum

VARIANTS = [Prio3Count(2), Prio3Sum(3, 9), Prio3Histogram(2, 5, 2)]
CTX = b"fuzz"


def _honest(v):
    nonce = secrets.token_bytes(16)
    m = 1
    pub, shares = v.shard(CTX, m, nonce, secrets.token_bytes(v.RAND_SIZE))
    return nonce, v.encode_public_share(pub), [v.encode_input_share(s) for s in shares]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(range(len(VARIANTS))),
    st.integers(0, 2),
    st.sampled_from(["public", "input", "verifier"]),
    st.binary(max_size=400),
    st.booleans(),
)
def test_garbage_only_raises_vdaf_errors(vi, which, where, junk, keep_len):
    v = VARIANTS[vi]
    j = which % v.SHARES
    vk = secrets.token_bytes(32)
    nonce, pub, shares = _honest(v)
    if where == "public":
        pub = (junk * 100)[: len(pub)] if keep_len and junk else junk
    elif where == "input":
        shares[j] = (junk * 1000)[: len(shares[j])] if keep_len and junk else junk
    try:
        states = []
        vshares = []
        for a in range(v.SHARES):
            s, vs = v.verify_init(vk, CTX, a, None, nonce, pub, shares[a])
            states.append(s)
            vshares.append(v.encode_verifier_share(vs))
        if where == "verifier":
            vshares[j] = (junk * 100)[: len(vshares[j])] if keep_len and junk else junk
        msg = v.verifier_shares_to_message(CTX, None, vshares)
        for s in states:
            v.verify_next(CTX, s, msg)
    except VdafError as exc:
        assert exc.operation in ("verify_init", "verifier_shares_to_message", "verify_next")
