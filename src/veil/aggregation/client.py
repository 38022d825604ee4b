"""Client report builder (docs/protocol.md §4): clip, PINE-shard, Prio3-shard, seal, sign."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np

from veil.aggregation.config import ConsortiumConfig
from veil.aggregation.report import (
    REPORT_ID_SIZE,
    ROLE_HELPER,
    ROLE_LEADER,
    PlaintextInputShare,
    Report,
    ReportMetadata,
    seal_share,
    share_info,
    signed_message,
    vdaf_nonce,
)
from veil.aggregation.vdafs import COUNT_MEASUREMENT, TaskVdafs
from veil.crypto.signing import Ed25519Identity
from veil.errors import DataError


def clip_update(delta: np.ndarray, clip_norm: float) -> np.ndarray:
    """Δ · min(1, C/‖Δ‖₂) in float64; non-finite entries are refused (not clipped)."""
    d = np.asarray(delta, dtype=np.float64).ravel()
    if not np.all(np.isfinite(d)):
        raise DataError("the update has NaN or infinite entries")
    norm = float(np.linalg.norm(d))
    if norm > clip_norm:
        d = d * (clip_norm / norm)
    return d


def effective_clip(cfg: ConsortiumConfig) -> float:
    """C minus the worst-case fixed-point rounding (√d/2 + 1 units of 2^-f), so rounding
    can never push a clipped update over PINE's bound ⌊C·2^f⌋ (docs/protocol.md §4.2)."""
    v = TaskVdafs.for_config(cfg)
    return (v.norm_bound_int - np.sqrt(cfg.dimension) / 2 - 1) / v.scale


def weighted_update(
    delta: np.ndarray, weight: int, cfg: ConsortiumConfig, clip: float | None = None
) -> np.ndarray:
    """u = (w/W)·clip(Δ, C'): what PINE carries (§4, §4.1); C' = :func:`effective_clip`.

    The weight w stays with the client: it only scales u, whose norm PINE bounds, so no
    weight, honest or not, can give a client more influence than ‖u‖ ≤ C allows."""
    if not isinstance(weight, int | np.integer) or not 0 <= weight <= cfg.max_weight:
        raise DataError(f"weight must be an integer in [0, {cfg.max_weight}]")
    c = effective_clip(cfg) if clip is None else clip
    return clip_update(delta, c) * (int(weight) / cfg.max_weight)


@dataclass
class ClientTimings:
    shard_s: float = 0.0
    seal_sign_s: float = 0.0


class ReportBuilder:
    """One enrolled client: ``build(round, delta, weight) -> Report``."""

    def __init__(self, cfg: ConsortiumConfig, client_id: str, signing_key: Ed25519Identity) -> None:
        self.cfg = cfg
        self.client_id = client_id
        self.key = signing_key
        self.vdafs = TaskVdafs.for_config(cfg)
        self.timings = ClientTimings()
        self.clip = effective_clip(cfg)

    def build(self, rnd: int, delta: np.ndarray, weight: int, *, rng=os.urandom) -> Report:
        """The report of Δ with sample-count weight w, both private: only u = (w/W)·clip(Δ)
        leaves the client (shared), plus the count slot's constant 1."""
        u = weighted_update(delta, weight, self.cfg, self.clip)
        return self.build_from_measurement(rnd, u, rng=rng)

    def build_from_measurement(
        self, rnd: int, u, count: int = COUNT_MEASUREMENT, *, rng=os.urandom
    ) -> Report:
        """Shard an already weighted and clipped ``u`` (the adversary tests use this too);
        ``count`` is the Prio3Sum slot (honest: 1; the range [0, 1] is proved)."""
        v = self.vdafs
        report_id = rng(REPORT_ID_SIZE)
        nonce = vdaf_nonce(self.cfg.task_id, rnd, report_id)
        t0 = time.perf_counter()
        pine_pub, pine_shares = v.pine.shard_with_retry(u, nonce, rng=rng)
        w_pub, w_shares = v.weight.shard(v.ctx, count, nonce, rng(v.weight.RAND_SIZE))
        t1 = time.perf_counter()
        md = ReportMetadata(
            task_id=self.cfg.task_id,
            round=rnd,
            report_id=report_id,
            client_id=self.client_id,
            pine_public_share=v.pine.encode_public_share(pine_pub),
            weight_public_share=v.weight.encode_public_share(w_pub),
        )
        plain = [
            PlaintextInputShare(
                v.pine.encode_input_share(pine_shares[i]),
                v.weight.encode_input_share(w_shares[i]),
            ).encode()
            for i in (0, 1)
        ]
        leader = seal_share(self.cfg.leader_hpke, plain[0], share_info(md, ROLE_LEADER))
        helper = seal_share(self.cfg.helper_hpke, plain[1], share_info(md, ROLE_HELPER))
        sig = self.key.sign(signed_message(md, leader, helper))
        self.timings.shard_s += t1 - t0
        self.timings.seal_sign_s += time.perf_counter() - t1
        return Report(md, leader, helper, sig)
