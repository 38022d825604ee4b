"""The Flower ServerApp's set-up: SuperNodes, the preprocessor fitted from their statistics,
the model and strategy from the run config, DP-SGD, evaluation, the checkpoint and the report.

What happens in each round is the round engine's (:mod:`veil.fl.engine`), the same as in the
embedded runner; this module only prepares what the engine is given.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

from flwr.app import ConfigRecord, Message, RecordDict
from flwr.serverapp import Grid

from veil.crypto.hpke_keys import X25519Identity
from veil.crypto.keys import load_identities, parse_recipient
from veil.crypto.signing import Ed25519Identity
from veil.errors import ConfigError, DataError, ProtocolError
from veil.fl.checkpoint import SealedCheckpointer
from veil.fl.flower_common import QUERY_STATS, record_dp_from_run_config
from veil.fl.local_config import Optimizer, TrainConfig
from veil.fl.models import ModelKind, ModelSpec
from veil.fl.preprocess import Preprocessor, Schema, TableStats, stats_from_dict
from veil.fl.record_dp import RecordLedger, check_trainable
from veil.fl.report import build_report, write_json
from veil.fl.strategies import make_strategy


def wait_for_nodes(grid: Grid, n: int, timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while len(nodes := sorted(grid.get_node_ids())) < n:
        if time.monotonic() > deadline:
            raise ProtocolError(f"only {len(nodes)} of {n} SuperNodes connected")
        time.sleep(0.5)
    return nodes


def fit_preprocessor(grid: Grid, nodes: list[int], target: str, timeout: float):
    """Merge the nodes' statistics; a node that errors, stays silent or whose columns differ
    from the majority's is excluded (with the reason) rather than stopping the run."""
    msgs = [
        Message(RecordDict({"cfg": ConfigRecord({"target": target})}), node, QUERY_STATS)
        for node in nodes
    ]
    replies = {m.metadata.src_node_id: m for m in grid.send_and_receive(msgs, timeout=timeout)}
    excluded, got = [], {}
    for node in nodes:
        rep = replies.get(node)
        if rep is None:
            excluded.append(
                {"client": f"node-{node}", "reason": f"no statistics within {timeout} s"}
            )
        elif rep.has_error():
            excluded.append({"client": f"node-{node}", "reason": f"error: {rep.error.reason}"})
        else:
            try:
                rec = rep.content["stats"]
                sch = json.loads(str(rec["schema"]))
                got[node] = (
                    stats_from_dict(json.loads(str(rec["stats"]))),
                    (tuple(sch["numeric"]), tuple(sch["categorical"])),
                )
            except (KeyError, TypeError, ValueError) as exc:
                excluded.append(
                    {"client": f"node-{node}", "reason": f"malformed statistics: {exc}"}
                )
    if not got:
        raise DataError(f"no node could summarise its data: {excluded}")
    schema, _ = Counter(sch for _, sch in got.values()).most_common(1)[0]
    merged, ok = TableStats(), []
    for node, (st, sch) in got.items():
        if sch != schema:
            excluded.append(
                {"client": f"node-{node}", "reason": "its columns differ from the others'"}
            )
            continue
        merged = merged.merge(st)
        ok.append(node)
    return Preprocessor.fit(Schema(target, *schema), merged), sorted(ok), excluded


def record_dp(rc, rounds: int, spec, train):
    """(RecordDP, its ledger) when the run config asks for record-level DP-SGD, else Nones;
    refused before any round if the model or training cannot take per-sample gradients."""
    rdp = record_dp_from_run_config(rc, rounds)
    if rdp is None:
        return None, None
    check_trainable(spec, train)
    return rdp, RecordLedger(rdp.delta)


def plan(rc, prep):
    """(model spec, strategy, clients' training config) from the run config."""
    hidden = tuple(int(h) for h in str(rc["hidden"]).split(",") if h.strip())
    spec = ModelSpec(ModelKind(str(rc["model"])), prep.n_features, len(prep.classes), hidden)
    strategy = make_strategy(str(rc["strategy"]))
    train = TrainConfig(
        lr=float(rc["lr"]),
        batch_size=int(rc["batch-size"]),
        optimizer=Optimizer.SGD,
        momentum=float(rc["momentum"]),
        local_steps=int(rc["local-steps"]) or None,
    )
    return spec, strategy, train


def write_report(out: Path, history: list, all_nodes, spec, strategy, sections: dict) -> None:
    """report.json; ``sections`` (privacy, audit) are added at its top level."""
    report = build_report(
        scenario="flower",
        rounds=history,
        baselines={"centralized": {}, "local_only": {}},
        config={
            "engine": "flower",
            "nodes": all_nodes,
            "model": spec.to_dict(),
            "strategy": strategy.describe(),
            "rounds": len(history),
        },
    )
    report.update(sections)
    write_json(report, out / "report.json")


def evaluator(path: str, prep, spec):
    """Evaluation on a held-out table on the server's side, or None."""
    if not path:
        return None
    from veil.fl.data import read_table  # lazy: pandas only when the server evaluates
    from veil.fl.training import evaluate  # lazy: torch only when the server evaluates

    x_te, y_te = prep.transform(read_table(path))
    return lambda v: evaluate(spec, v, x_te, y_te)


def checkpointer(rc, run: str, min_round: int = 0) -> SealedCheckpointer | None:
    """The run's checkpoint, if the run config names one.

    With ``checkpoint-identity`` (a file holding an x25519 and an ed25519 identity) it is
    sealed to that key and signed with it, bound to ``run``: a restarted ServerApp with
    ``resume`` takes it up (and refuses any file it did not write). With only
    ``checkpoint-recipient`` it is a sealed, unsigned export whose key stays off the server.
    """
    path = str(rc["checkpoint"])
    if not path:
        if bool(rc.get("resume", False)):
            raise ConfigError("resume needs checkpoint and checkpoint-identity in the run config")
        return None
    ident = str(rc.get("checkpoint-identity", ""))
    if ident:
        ids = load_identities([Path(ident)])
        hpke = [i for i in ids if isinstance(i, X25519Identity)]
        sig = [i for i in ids if isinstance(i, Ed25519Identity)]
        if not hpke or not sig:
            raise ConfigError(f"{ident} must hold an x25519 and an ed25519 identity")
        return SealedCheckpointer(
            Path(path), [hpke[0].recipient()], hpke, signer=sig[0], run=run, min_round=min_round
        )
    if bool(rc.get("resume", False)):
        raise ConfigError("resume needs checkpoint-identity: an unsigned export is never taken up")
    recipient = str(rc["checkpoint-recipient"])
    if not recipient:
        raise ConfigError("checkpoint needs checkpoint-identity or checkpoint-recipient")
    return SealedCheckpointer(Path(path), [parse_recipient(recipient)])
