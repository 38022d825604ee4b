"""Hostile clients for tests and ``--malicious K``: each builds a report a lying client could.

A hostile client runs its own code, so it skips clipping and shards with whatever parameters
it likes; every attack here must be rejected by verification, never by the honest client
library's input checks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from enum import Enum

import numpy as np

from veil.aggregation.client import ReportBuilder, weighted_update
from veil.aggregation.config import ConsortiumConfig
from veil.aggregation.messages import Reason
from veil.aggregation.report import Report
from veil.crypto.signing import Ed25519Identity


class Attack(Enum):
    SCALED_X100 = "scaled_x100"
    NAN_INF = "nan_inf"
    WRONG_LENGTH = "wrong_length"
    SIGN_FLIP_BEYOND_NORM = "sign_flip_beyond_norm"
    FORGED_SIGNATURE = "forged_signature"
    REPLAY = "replay"
    TAMPERED_HELPER_SHARE = "tampered_helper_share"
    INFLATED_WEIGHT = "inflated_weight"


EXPECTED_REASON = {
    Attack.SCALED_X100: Reason.UPDATE_INVALID,
    Attack.NAN_INF: Reason.UPDATE_INVALID,
    Attack.WRONG_LENGTH: Reason.LEADER_SHARE_INVALID,
    Attack.SIGN_FLIP_BEYOND_NORM: Reason.UPDATE_INVALID,
    Attack.FORGED_SIGNATURE: Reason.BAD_SIGNATURE,
    Attack.REPLAY: Reason.REPLAYED,
    Attack.TAMPERED_HELPER_SHARE: Reason.HELPER_SHARE_INVALID,
    Attack.INFLATED_WEIGHT: Reason.WEIGHT_INVALID,
}


def _lying_builder(b: ReportBuilder, **changes) -> ReportBuilder:
    """A builder whose VDAF parameters differ from the consortium's (the liar's own code)."""
    cfg = dataclasses.replace(b.cfg, **changes)
    out = ReportBuilder(cfg, b.client_id, b.key)
    # the liar still seals to the real aggregators and signs with its real key
    return out


def _norm_liar(b: ReportBuilder) -> ReportBuilder:
    """A client whose PINE prover lies: it claims squared norm 0 and that every wraparound
    test passed, so sharding succeeds for any vector (the honest encoder would refuse)."""
    liar = _lying_builder(b)
    circuits = liar.vdafs.pine.circuits
    honest_norm, honest_wr = circuits.encode_norm, circuits.encode_wr_checks
    circuits.encode_norm = lambda ints: honest_norm(np.zeros_like(ints))
    circuits.encode_wr_checks = lambda dots: honest_wr([0] * len(dots))
    return liar


def hostile_report(
    attack: Attack,
    builder: ReportBuilder,
    rnd: int,
    delta: np.ndarray,
    weight: int,
    *,
    earlier: Report | None = None,
) -> Report:
    cfg = builder.cfg
    if attack is Attack.SCALED_X100:
        u = weighted_update(delta, weight, cfg) * 100
        return _norm_liar(builder).build_from_measurement(rnd, u)
    if attack is Attack.SIGN_FLIP_BEYOND_NORM:
        u = -weighted_update(delta, weight, cfg)
        u *= 10 * cfg.clip_norm / max(float(np.linalg.norm(u)), 1e-12)
        return _norm_liar(builder).build_from_measurement(rnd, u)
    if attack is Attack.NAN_INF:
        # NaN/inf has no fixed-point encoding; a liar's encoder maps it to a huge magnitude
        u = weighted_update(delta, weight, cfg)
        u[0] = 1e11  # ·2^24 ≈ 1.7e18, still below p/2
        return _norm_liar(builder).build_from_measurement(rnd, u)
    if attack is Attack.WRONG_LENGTH:
        liar = _lying_builder(builder, dimension=cfg.dimension + 7)
        u = np.resize(weighted_update(delta, weight, cfg), cfg.dimension + 7) * 0.5
        return liar.build_from_measurement(rnd, u)
    if attack is Attack.FORGED_SIGNATURE:
        rep = builder.build(rnd, delta, weight)
        forger = Ed25519Identity.generate()
        return dataclasses.replace(rep, signature=forger.sign(rep.signed_bytes()))
    if attack is Attack.REPLAY:
        if earlier is None:
            raise ValueError("a replay needs an earlier report")
        return earlier
    if attack is Attack.TAMPERED_HELPER_SHARE:
        rep = builder.build(rnd, delta, weight)
        hs = bytearray(rep.helper_share)
        hs[-5] ^= 0x01
        tampered = dataclasses.replace(rep, helper_share=bytes(hs))
        return dataclasses.replace(tampered, signature=builder.key.sign(tampered.signed_bytes()))
    if attack is Attack.INFLATED_WEIGHT:
        # The count slot's bit encoding can only express [0, 1]; a liar writes a non-bit
        # value (1000 instead of 0/1) so the count decodes far above 1.
        liar = _lying_builder(builder)
        flp = liar.vdafs.weight.flp
        honest_encode = flp.encode

        def inflated(measurement):
            bits = honest_encode(1)
            bits[0] = 1000
            return bits

        flp.encode = inflated
        return liar.build_from_measurement(rnd, weighted_update(delta, weight, cfg))
    raise ValueError(attack)


ATTACKS: list[Attack] = list(Attack)
HostileFactory = Callable[[int, np.ndarray, int], Report]


def describe(cfg: ConsortiumConfig) -> str:  # pragma: no cover - used by the demo
    return ", ".join(a.value for a in ATTACKS)
