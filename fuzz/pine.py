"""Fuzz PINE (Pine64, 2 Aggregators): every share decoder, verify_init on mutated shares,
the verifier-share combination and verify_next (see ``fuzz/_vdaf.py`` for the layout).

Only ``VdafError`` subclasses (``VdafEncodingError``, ``VerificationFailed``) and
``FormatError`` may come out, and no tampered report may be accepted.
"""

from __future__ import annotations

from fuzz import _vdaf
from fuzz._keys import fixed_bytes
from veil.errors import FormatError, VdafError

ALLOWED = (VdafError, FormatError)

NONCE = fixed_bytes("pine nonce", 16)
VERIFY_KEY = fixed_bytes("pine verify key", 16)
_STATE: dict = {}


def setup() -> list[bytes]:
    """One genuine report of a fixed 4-entry update (norm 0.9 ≤ bound 1.0)."""
    from veil.vdaf.pine import Pine64, norm_bound_from_float

    vdaf = Pine64(norm_bound_from_float(1.0, 10), 10, 4, 4, 2)
    ps, (leader, helper) = vdaf.shard_with_retry([0.45, -0.45, 0.45, -0.45], NONCE)
    genuine = {
        "public_share": vdaf.encode_public_share(ps),
        "leader_input_share": vdaf.encode_input_share(leader),
        "helper_input_share": vdaf.encode_input_share(helper),
    }
    s0, v0 = vdaf.verify_init(VERIFY_KEY, 0, None, NONCE, ps, leader)
    s1, v1 = vdaf.verify_init(VERIFY_KEY, 1, None, NONCE, ps, helper)
    msg = vdaf.verifier_shares_to_message(None, [v0, v1])
    genuine["leader_verifier_share"] = vdaf.encode_verifier_share(v0)
    genuine["helper_verifier_share"] = vdaf.encode_verifier_share(v1)
    genuine["verifier_message"] = vdaf.encode_verifier_message(msg)
    genuine["agg_share"] = vdaf.encode_agg_share(vdaf.verify_next(s0, msg))
    _STATE.update(vdaf=vdaf, genuine=genuine, init=(s0, v0, s1, v1))
    return _vdaf.seeds(genuine)


def _pipeline(r: _vdaf.Replace) -> None:
    vdaf, g = _STATE["vdaf"], _STATE["genuine"]
    if r.stage < _vdaf.FIRST_LATE_STAGE:
        ps = vdaf.decode_public_share(r("public_share", g["public_share"]))
        leader = vdaf.decode_input_share(0, r("leader_input_share", g["leader_input_share"]))
        helper = vdaf.decode_input_share(1, r("helper_input_share", g["helper_input_share"]))
        s0, v0 = vdaf.verify_init(VERIFY_KEY, 0, None, NONCE, ps, leader)
        s1, v1 = vdaf.verify_init(VERIFY_KEY, 1, None, NONCE, ps, helper)
    else:  # the input shares are genuine: reuse their (deterministic) verify_init results
        s0, v0, s1, v1 = _STATE["init"]
    v0 = vdaf.decode_verifier_share(r("leader_verifier_share", vdaf.encode_verifier_share(v0)))
    v1 = vdaf.decode_verifier_share(r("helper_verifier_share", vdaf.encode_verifier_share(v1)))
    msg = vdaf.verifier_shares_to_message(None, [v0, v1])
    msg = vdaf.decode_verifier_message(r("verifier_message", vdaf.encode_verifier_message(msg)))
    out0, out1 = vdaf.verify_next(s0, msg), vdaf.verify_next(s1, msg)
    agg0 = vdaf.decode_agg_share(r("agg_share", vdaf.encode_agg_share(out0)))
    vdaf.unshard(None, [agg0, out1], 1)


def one_input(data: bytes) -> None:
    _vdaf.run(data, _STATE["genuine"], _pipeline)
