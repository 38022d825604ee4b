"""Verified aggregation on Flower: the pieces the ClientApp and the ServerApp call.

A SuperNode whose node config names a consortium (``consortium=PATH
signing-identity=PATH client-id=ID``) replies to a train message with a signed, HPKE-sealed
PINE report of its update instead of the update itself. A ServerApp whose run config names
``consortium`` and ``leader-identity`` wraps its strategy in
:class:`veil.fl.verified.VerifiedAggregation` over a :class:`ServerLeader`, with the Helper at
the consortium's endpoint (a separate ``veil helper serve`` process). The ServerApp never
holds a plaintext update. As in Flower's SecAgg+, the two halves are a client mod
(:func:`node_train_reply`) and a server-side strategy wrapper.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from flwr.app import ConfigRecord, Message, MetricRecord, RecordDict

from veil.aggregation.client import ReportBuilder
from veil.aggregation.config import ConsortiumConfig
from veil.aggregation.dp import PrivacyLedger, client_privacy
from veil.aggregation.leader import RoundResult, VerifiedAggregator
from veil.aggregation.round_audit import audited_round, log_verified_round, open_log
from veil.aggregation.state_url import open_store
from veil.aggregation.transport import HttpHelper
from veil.crypto.hpke_keys import X25519Identity
from veil.crypto.keys import load_identities
from veil.crypto.signing import Ed25519Identity
from veil.errors import ConfigError
from veil.fl.flower_common import dp_metrics


def _one(path: str | Path, kind: type):
    ids = [i for i in load_identities([Path(path)]) if isinstance(i, kind)]
    if not ids:
        raise ConfigError(f"{path} holds no {kind.__name__}")
    return ids[0]


@lru_cache(maxsize=4)
def node_builder(consortium: str, signing_identity: str, client_id: str) -> ReportBuilder:
    """The SuperNode's report builder (cached: one per node process)."""
    cfg = ConsortiumConfig.load(consortium)
    return ReportBuilder(cfg, client_id, _one(signing_identity, Ed25519Identity))


def node_report(node_config: dict, rnd: int, global_vec: np.ndarray, upd) -> bytes:
    """The report a SuperNode sends for round ``rnd``: Δ = trained − global, weight = n."""
    b = node_builder(
        str(node_config["consortium"]),
        str(node_config["signing-identity"]),
        str(node_config["client-id"]),
    )
    delta = np.asarray(upd.vector, np.float64) - np.asarray(global_vec, np.float64)
    return b.build(rnd, delta, min(int(upd.num_examples), b.cfg.max_weight)).encode()


class ServerLeader:
    """The ServerApp's side of verified aggregation, a :class:`veil.fl.verified.VerifiedBackend`:
    the Leader (its identity file holds its x25519 and ed25519 keys) with the Helper at the
    consortium's endpoint, the ε ledger, and, with ``audit_log``, the round log signed by the
    Leader and countersigned by the Helper (a restarted ServerApp of the same task continues
    it). ``store`` (a path or URL, :func:`veil.aggregation.state_url.open_store`) keeps the
    Leader's round state durable, so a ServerApp restarted with ``resume`` takes a round up
    where it stopped and counts the rounds already released toward ε; without it the state
    lives in memory."""

    def __init__(
        self, consortium: str, leader_identity: str, audit_log: str = "", store: str = ""
    ) -> None:
        cfg = ConsortiumConfig.load(consortium)
        hpke = _one(leader_identity, X25519Identity)
        sig = _one(leader_identity, Ed25519Identity)
        http = HttpHelper(cfg.helper_endpoint, cfg.task_id, sig, helper=cfg.helper_hpke)
        state = open_store(store, hpke) if store else None
        self.leader = VerifiedAggregator(cfg, hpke, http, state)
        self._ledger = PrivacyLedger(cfg.dp.noise_multiplier, cfg.dp.sampling_rate, cfg.dp.delta)
        self.audit = None if not audit_log else open_log(Path(audit_log), sig, cfg, http)
        self._prepared = False

    @property
    def cfg(self) -> ConsortiumConfig:
        return self.leader.cfg

    @property
    def ledger(self) -> PrivacyLedger:
        return self._ledger

    def prepare(self, dimension: int, first_round: int) -> None:
        """Check the model against the task; the rounds an earlier ServerApp of this task
        released (before ``first_round``) count toward ε."""
        if dimension != self.cfg.dimension:
            raise ConfigError(f"the task is for {self.cfg.dimension} parameters, not {dimension}")
        if not self._prepared:
            self._ledger.rounds = self.leader.store.collected_rounds(self.cfg.task_id, first_round)
            self._prepared = True

    def aggregate(self, rnd: int, reports: list) -> RoundResult:
        return self.leader.aggregate_round(rnd, reports)

    def released(self, rnd: int) -> RoundResult | None:
        return self.leader.released_result(rnd) if self.leader.released(rnd) else None

    def round_notes(self, result: RoundResult) -> dict:
        return {}

    def log_round(
        self,
        rnd: int,
        before: np.ndarray,
        result: RoundResult,
        eps: float | None,
        after: np.ndarray,
    ) -> int | None:
        return log_verified_round(self.audit, self.cfg, (rnd, before, result, eps), after)

    def audited_round(self) -> int:
        """The last round this task's audit log holds (0 without one): the rollback pin."""
        return 0 if self.audit is None else audited_round(self.audit.path, self.cfg)

    def summary(self) -> dict:
        """What report.json adds: the privacy spent and the audit log it links."""
        cfg = self.cfg
        out: dict = {"privacy": client_privacy(cfg.dp.noise_multiplier, cfg.clip_norm, self.ledger)}
        if self.audit is not None:
            out["audit"] = {"log": str(self.audit.path), "records": len(self.audit.records())}
        return out


def node_train_reply(msg, node_config: dict, global_vec, upd):
    """The ClientApp's reply under verified aggregation: the sealed report, never the update."""
    report = node_report(node_config, int(msg.content["cfg"]["round"]), global_vec, upd)
    return Message(
        RecordDict(
            {
                "report": ConfigRecord({"report": report}),
                "metrics": MetricRecord({"loss": float(upd.loss), **dp_metrics(upd)}),
            }
        ),
        reply_to=msg,
    )
