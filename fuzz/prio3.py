"""Fuzz Prio3SumVec (Field128, joint randomness, 2 Aggregators): every share decoder,
verify_init on mutated shares, verifier-share combination and verify_next (layout in
``fuzz/_vdaf.py``). Only ``VdafError`` subclasses and ``FormatError`` may come out, and no
tampered report may be accepted.
"""

from __future__ import annotations

import dataclasses

from fuzz import _vdaf
from fuzz._keys import fixed_bytes
from veil.errors import FormatError, VdafError

ALLOWED = (VdafError, FormatError)

CTX = b"veil fuzz"
NONCE = fixed_bytes("prio3 nonce", 16)
VERIFY_KEY = fixed_bytes("prio3 verify key", 32)
_STATE: dict = {}


def setup() -> list[bytes]:
    """One genuine report of the fixed measurement [1, 0, 3, 2] (max 3, chunk 2)."""
    import os

    from veil.vdaf.prio3 import Prio3SumVec

    vdaf = Prio3SumVec(2, 4, 3, 2)
    ps, (leader, helper) = vdaf.shard(CTX, [1, 0, 3, 2], NONCE, os.urandom(vdaf.RAND_SIZE))
    genuine = {
        "public_share": vdaf.encode_public_share(ps),
        "leader_input_share": vdaf.encode_input_share(leader),
        "helper_input_share": vdaf.encode_input_share(helper),
    }
    s0, v0 = vdaf.verify_init(VERIFY_KEY, CTX, 0, None, NONCE, ps, leader)
    s1, v1 = vdaf.verify_init(VERIFY_KEY, CTX, 1, None, NONCE, ps, helper)
    msg = vdaf.verifier_shares_to_message(CTX, None, [v0, v1])
    genuine["leader_verifier_share"] = vdaf.encode_verifier_share(v0)
    genuine["helper_verifier_share"] = vdaf.encode_verifier_share(v1)
    genuine["verifier_message"] = vdaf.encode_verifier_message(msg)
    genuine["agg_share"] = vdaf.encode_agg_share(vdaf.verify_next(CTX, s0, msg))
    s0, v0 = vdaf.verify_init(VERIFY_KEY, CTX, 0, None, NONCE, ps, leader)
    s1, v1 = vdaf.verify_init(VERIFY_KEY, CTX, 1, None, NONCE, ps, helper)
    _STATE.update(vdaf=vdaf, genuine=genuine, init=(s0, v0, s1, v1))
    return _vdaf.seeds(genuine)


def _pipeline(r: _vdaf.Replace) -> None:
    vdaf, g = _STATE["vdaf"], _STATE["genuine"]
    if r.stage < _vdaf.FIRST_LATE_STAGE:
        ps = vdaf.decode_public_share(r("public_share", g["public_share"]))
        leader = vdaf.decode_input_share(0, r("leader_input_share", g["leader_input_share"]))
        helper = vdaf.decode_input_share(1, r("helper_input_share", g["helper_input_share"]))
        s0, v0 = vdaf.verify_init(VERIFY_KEY, CTX, 0, None, NONCE, ps, leader)
        s1, v1 = vdaf.verify_init(VERIFY_KEY, CTX, 1, None, NONCE, ps, helper)
    else:  # the input shares are genuine: reuse verify_init's results (fresh, unused states)
        c0, v0, c1, v1 = _STATE["init"]
        s0, s1 = dataclasses.replace(c0, used=False), dataclasses.replace(c1, used=False)
    v0 = vdaf.decode_verifier_share(s0, r("leader_verifier_share", vdaf.encode_verifier_share(v0)))
    v1 = vdaf.decode_verifier_share(s1, r("helper_verifier_share", vdaf.encode_verifier_share(v1)))
    msg = vdaf.verifier_shares_to_message(CTX, None, [v0, v1])
    msg = vdaf.decode_verifier_message(s0, r("verifier_message", vdaf.encode_verifier_message(msg)))
    out0, out1 = vdaf.verify_next(CTX, s0, msg), vdaf.verify_next(CTX, s1, msg)
    agg0 = vdaf.decode_agg_share(None, r("agg_share", vdaf.encode_agg_share(out0)))
    vdaf.unshard(None, [agg0, out1], 1)


def one_input(data: bytes) -> None:
    _vdaf.run(data, _STATE["genuine"], _pipeline)
