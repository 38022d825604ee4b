"""Verified aggregation on Flower: the pieces the ClientApp and the ServerApp call.

A SuperNode whose node config names a consortium (``consortium=PATH
signing-identity=PATH client-id=ID``) replies to a train message with a signed, HPKE-sealed
PINE report of its update instead of the update itself. A ServerApp whose run config names
``consortium`` and ``leader-identity`` runs :class:`VerifiedAggregator` over those reports
with the Helper at the consortium's endpoint (a separate ``veil helper serve`` process). The
ServerApp never holds a plaintext update.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from veil.aggregation.client import ReportBuilder
from veil.aggregation.config import ConsortiumConfig
from veil.aggregation.leader import RoundResult, VerifiedAggregator
from veil.aggregation.transport import HttpHelper
from veil.crypto.hpke_keys import X25519Identity
from veil.crypto.keys import load_identities
from veil.crypto.signing import Ed25519Identity
from veil.errors import ConfigError


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


def server_leader(consortium: str, leader_identity: str) -> VerifiedAggregator:
    """The ServerApp's Leader: its identity file holds its x25519 and ed25519 keys."""
    cfg = ConsortiumConfig.load(consortium)
    hpke = _one(leader_identity, X25519Identity)
    sig = _one(leader_identity, Ed25519Identity)
    http = HttpHelper(cfg.helper_endpoint, cfg.task_id, sig, helper=cfg.helper_hpke)
    return VerifiedAggregator(cfg, hpke, http)


def apply_round(
    leader: VerifiedAggregator, rnd: int, vec: np.ndarray, reports: list[bytes]
) -> tuple[np.ndarray, RoundResult]:
    """Verify and aggregate; the new global vector is vec + the verified mean update."""
    res = leader.aggregate_round(rnd, reports)
    return (np.asarray(vec, np.float64) + res.aggregate).astype(np.float32), res


class ServerRounds:
    """The ServerApp's verified-aggregation side: the Leader, the ε ledger and, if the run
    config names ``audit-log``, the round log signed by the Leader and countersigned by the
    Helper (veil.audit; a restarted ServerApp of the same task continues it)."""

    def __init__(self, consortium: str, leader_identity: str, audit_log: str = "") -> None:
        from veil.aggregation.dp import PrivacyLedger
        from veil.aggregation.round_audit import open_log

        self.leader = server_leader(consortium, leader_identity)
        dp = self.leader.cfg.dp
        self.ledger = PrivacyLedger(dp.noise_multiplier, dp.sampling_rate, dp.delta)
        self.audit = None
        if audit_log:
            sig = _one(leader_identity, Ed25519Identity)
            self.audit = open_log(Path(audit_log), sig, self.leader.cfg, self.leader.helper)

    def round(
        self, grid, nodes, vec, content: dict, seeds, timeout, rnd: int, strategy, ledger=None
    ):
        """One round: (new global vector, accepted, rejected, bytes up, record extras);
        ``ledger`` is the record-DP accountant the nodes' DP-SGD spend goes into."""
        from veil.aggregation.round_audit import round_fields, vec_hash

        new, accepted, rejected, bytes_up, extra, res = verified_train_round(
            grid, nodes, vec, content, seeds, timeout, self.leader, rnd, ledger
        )
        noised = self.leader.cfg.dp.noise_multiplier > 0
        if noised and (new is not None or self.leader.released(rnd)):
            extra["epsilon"] = self.ledger.step()  # a released but unusable round counts too
        if new is None:
            released = self.leader.released_result(rnd)
            if self.audit is not None and released is not None:  # unusable, but it is logged
                fields = round_fields(rnd, vec, released, extra.get("epsilon"), self.leader.cfg)
                rec = self.audit.append(
                    task=self.leader.cfg.task_id.hex(), model_after=vec_hash(vec), **fields
                )
                extra["audit_records"] = rec.seq + 1
            return vec, accepted, rejected, bytes_up, extra
        after = strategy.aggregate(vec, [(new, 1)])
        if self.audit is not None:
            fields = round_fields(rnd, vec, res, extra.get("epsilon"), self.leader.cfg)
            rec = self.audit.append(
                task=self.leader.cfg.task_id.hex(), model_after=vec_hash(after), **fields
            )
            extra["audit_records"] = rec.seq + 1
        return after, accepted, rejected, bytes_up, extra

    def summary(self) -> dict:
        """What report.json adds: the privacy spent and the audit log it links."""
        from veil.aggregation.dp import client_privacy

        cfg = self.leader.cfg
        out: dict = {"privacy": client_privacy(cfg.dp.noise_multiplier, cfg.clip_norm, self.ledger)}
        if self.audit is not None:
            out["audit"] = {"log": str(self.audit.path), "records": len(self.audit.records())}
        return out


def verified_train_round(
    grid, nodes, vec, content: dict, seeds, timeout: float, leader, rnd: int, ledger=None
):
    """The ServerApp's train round under verified aggregation.

    Sends the train messages (with ``round``), collects each node's sealed report, and runs
    the Leader with the Helper. Returns ``(new_vec or None, accepted, rejected, bytes_up,
    extra, result or None)``; ``new_vec`` is None when the round failed (e.g. fewer than
    min_reports).
    """
    from flwr.app import ConfigRecord, Message, MessageType, RecordDict

    from veil.errors import ProtocolError
    from veil.fl.flower_common import spend_reply, vector_record

    msgs = [
        Message(
            RecordDict(
                {
                    "model": vector_record("global", vec),
                    "cfg": ConfigRecord({**content, "seed": seeds[k], "round": rnd}),
                }
            ),
            node,
            MessageType.TRAIN,
        )
        for k, node in enumerate(nodes)
    ]
    replies = {m.metadata.src_node_id: m for m in grid.send_and_receive(msgs, timeout=timeout)}
    reports, rejected = [], []
    for node in nodes:
        name, rep = f"node-{node}", replies.get(node)
        if rep is None:
            rejected.append({"client": name, "reason": f"no reply within {timeout} s"})
        elif rep.has_error():
            rejected.append({"client": name, "reason": f"error: {rep.error.reason}"})
        elif (why := spend_reply(ledger, name, rep)) is not None:
            rejected.append({"client": name, "reason": why})
        else:  # its DP-SGD spend counts even if its report is refused below
            try:
                reports.append(bytes(rep.content["report"]["report"]))
            except (KeyError, TypeError) as exc:
                rejected.append({"client": name, "reason": f"no sealed report: {exc}"})
    bytes_up = sum(len(r) for r in reports)
    try:
        new, res = apply_round(leader, rnd, vec, reports)
    except ProtocolError as exc:
        rejected.append({"client": "*", "reason": f"round failed: {exc}"[:300]})
        return None, [], rejected, bytes_up, {"secure": True}, None
    rejected += [{"client": c, "reason": why} for c, why in res.rejected]
    extra = {
        "secure": True,
        "denominator": res.denominator,
        "bytes_per_client": res.bytes_per_client,
        "time_split": {
            "verify": round(res.timings["verify_s"], 4),
            "aggregate": round(res.timings["aggregate_s"], 4),
        },
    }
    return new, res.accepted, rejected, bytes_up, extra, res


def node_train_reply(msg, node_config: dict, global_vec, upd):
    """The ClientApp's reply under verified aggregation: the sealed report, never the update."""
    from flwr.app import ConfigRecord, Message, MetricRecord, RecordDict

    from veil.fl.flower_common import dp_metrics

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
