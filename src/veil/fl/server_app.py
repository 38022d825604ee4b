"""The Flower ServerApp: veil's federated learning on a SuperLink + SuperNodes.

The round logic is the embedded runner's: the same strategies (FedAvg, FedProx, FedAdam),
the same update validation (:func:`veil.fl.runner.validate_update`), the same per-(round,
client) seeds, the same report. What Flower adds is the transport: node discovery, messages,
timeouts. Preprocessing is fitted from the nodes' statistics (a ``query`` message), never
from rows. A node that errors, times out or returns a bad update is recorded in that
round's ``rejected`` list and left out. With ``eval-data`` set (a held-out table on the
server's side) the global model is evaluated after each round; with ``out`` set the
ServerApp writes ``report.json`` there.

Run configuration: see :data:`veil.fl.flower_common.DEFAULT_RUN_CONFIG`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from flwr.app import ConfigRecord, Context, Message, MessageType, RecordDict
from flwr.serverapp import Grid, ServerApp

from veil.fl.flower_common import QUERY_STATS, to_json, vector_from, vector_record

app = ServerApp()


def _wait_for_nodes(grid: Grid, n: int, timeout: float) -> list[int]:
    from veil.errors import ProtocolError

    deadline = time.monotonic() + timeout
    while len(nodes := sorted(grid.get_node_ids())) < n:
        if time.monotonic() > deadline:
            raise ProtocolError(f"only {len(nodes)} of {n} SuperNodes connected")
        time.sleep(0.5)
    return nodes


def _fit_preprocessor(grid: Grid, nodes: list[int], target: str, timeout: float):
    """Merge the nodes' statistics; a node that errors, stays silent or whose columns differ
    from the majority's is excluded (with the reason) rather than stopping the run."""
    from collections import Counter

    from veil.errors import DataError
    from veil.fl.preprocess import Preprocessor, Schema, TableStats, stats_from_dict

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


def _train_round(grid: Grid, nodes: list[int], vec, content, seeds, timeout: float, ledger=None):
    """One round of train messages; returns (accepted, rejected, updates, bytes_up); each
    node's DP-SGD spend goes into ``ledger`` (record-level DP), refused update or not."""
    from veil.fl.flower_common import spend_reply
    from veil.fl.runner import validate_update
    from veil.fl.training import ClientUpdate

    msgs = [
        Message(
            RecordDict(
                {
                    "model": vector_record("global", vec),
                    "cfg": ConfigRecord({**content, "seed": seeds[k]}),
                }
            ),
            node,
            MessageType.TRAIN,
        )
        for k, node in enumerate(nodes)
    ]
    replies = {m.metadata.src_node_id: m for m in grid.send_and_receive(msgs, timeout=timeout)}
    accepted, rejected, updates, bytes_up = [], [], [], 0
    for node in nodes:
        name, rep = f"node-{node}", replies.get(node)
        if rep is None:
            rejected.append({"client": name, "reason": f"no reply within {timeout} s"})
            continue
        if rep.has_error():
            rejected.append({"client": name, "reason": f"error: {rep.error.reason}"})
            continue
        why = spend_reply(ledger, name, rep)
        if why is not None:
            rejected.append({"client": name, "reason": why})
            continue
        try:
            u = vector_from(rep.content["update"], "vector")
            bytes_up += int(u.nbytes) + 8
            m = rep.content["metrics"]
            upd = ClientUpdate(u, int(m["num-examples"]), float(m["loss"]))
        except (KeyError, TypeError, ValueError) as exc:
            rejected.append({"client": name, "reason": f"malformed reply: {exc}"})
            continue
        reason = validate_update(upd, vec.size)
        if reason:
            rejected.append({"client": name, "reason": reason})
        else:
            accepted.append(name)
            updates.append((upd.vector, upd.num_examples))
    return accepted, rejected, updates, bytes_up


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Statistics round, then ``rounds`` rounds of train → validate → aggregate → evaluate."""
    from dataclasses import replace

    from veil.fl.models import build_model
    from veil.fl.params import get_vector
    from veil.fl.preprocess import preprocessor_to_dict
    from veil.fl.training import derive_seed

    rc = context.run_config
    rounds, seed, timeout = int(rc["rounds"]), int(rc["seed"]), float(rc["timeout"])
    all_nodes = _wait_for_nodes(grid, int(rc["min-nodes"]), timeout)
    prep, nodes, excluded = _fit_preprocessor(grid, all_nodes, str(rc["target"]), timeout)
    spec, strategy, base = _plan(rc, prep)
    rdp, ledger = _record_dp(rc, rounds, spec, base)
    evaluator = _evaluator(str(rc["eval-data"]), prep, spec)
    ckpt = _checkpointer(str(rc["checkpoint"]), str(rc["checkpoint-recipient"]))
    vec = get_vector(build_model(spec, seed=seed))
    history = []
    secure = None
    if str(rc.get("consortium", "")):  # verified aggregation (veil.fl.flower_verified)
        from veil.fl.flower_verified import ServerRounds

        secure = ServerRounds(
            str(rc["consortium"]), str(rc["leader-identity"]), str(rc.get("audit-log", ""))
        )
    for r in range(1, rounds + 1):
        t0 = time.perf_counter()
        tcfg = replace(base, lr=base.lr * float(rc["lr-decay"]) ** (r - 1))
        content = {
            "prep": to_json(preprocessor_to_dict(prep)),
            "spec": to_json(spec.to_dict()),
            "train": to_json(tcfg.to_dict()),
            **({"record_dp": to_json(rdp.to_dict())} if rdp is not None else {}),
        }
        seeds = [derive_seed(seed, r, all_nodes.index(n)) for n in nodes]
        extra: dict = {}
        if secure is not None:  # verified aggregation: sealed reports, never updates
            vec, accepted, rejected, bytes_up, extra = secure.round(
                grid, nodes, vec, content, seeds, timeout, r, strategy, ledger
            )
        else:
            accepted, rejected, updates, bytes_up = _train_round(
                grid, nodes, vec, content, seeds, timeout, ledger
            )
            if updates:
                vec = strategy.aggregate(vec, updates)
        record = {
            "round": r,
            "metrics": evaluator(vec).to_dict() if evaluator else {},
            "accepted": accepted,
            "rejected": excluded + rejected,
            "seconds": round(time.perf_counter() - t0, 4),
            "bytes_up": bytes_up,
            **extra,
        }
        history.append(ledger.annotate(record) if ledger is not None else record)
        if ckpt is not None:
            from veil.fl.runner import RunState

            ckpt.save(RunState(r, vec, strategy.state(), history))
        print(f"veil round {r}: accepted {accepted}, rejected {excluded + rejected}", flush=True)
    if str(rc["out"]):
        sections = secure.summary() if secure is not None else {}
        if ledger is not None:  # record-level DP-SGD: its guarantee, the client-level beside
            sections["privacy"] = ledger.summary(rdp, sections.get("privacy"))
        _write_report(Path(str(rc["out"])), history, all_nodes, spec, strategy, sections)


def _record_dp(rc, rounds: int, spec, train):
    """(RecordDP, its ledger) when the run config asks for record-level DP-SGD, else Nones;
    refused before any round if the model or training cannot take per-sample gradients."""
    from veil.fl.flower_common import record_dp_from_run_config

    rdp = record_dp_from_run_config(rc, rounds)
    if rdp is None:
        return None, None
    from veil.fl.record_dp import RecordLedger, check_trainable

    check_trainable(spec, train)
    return rdp, RecordLedger(rdp.delta)


def _plan(rc, prep):
    """(model spec, strategy, clients' training config) from the run config."""
    from veil.fl.models import ModelKind, ModelSpec
    from veil.fl.strategies import make_strategy
    from veil.fl.training import Optimizer, TrainConfig

    hidden = tuple(int(h) for h in str(rc["hidden"]).split(",") if h.strip())
    spec = ModelSpec(ModelKind(str(rc["model"])), prep.n_features, len(prep.classes), hidden)
    strategy = make_strategy(str(rc["strategy"]))
    base = strategy.client_config(
        TrainConfig(
            lr=float(rc["lr"]),
            batch_size=int(rc["batch-size"]),
            optimizer=Optimizer.SGD,
            momentum=float(rc["momentum"]),
            local_steps=int(rc["local-steps"]) or None,
        )
    )
    return spec, strategy, base


def _write_report(out: Path, history: list, all_nodes, spec, strategy, sections: dict) -> None:
    """report.json; ``sections`` (privacy, audit) are added at its top level."""
    from veil.fl.report import build_report, write_json

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


def _evaluator(path: str, prep, spec):
    """Evaluation on a held-out table on the server's side, or None."""
    if not path:
        return None
    from veil.fl.data import read_table
    from veil.fl.training import evaluate

    x_te, y_te = prep.transform(read_table(path))
    return lambda v: evaluate(spec, v, x_te, y_te)


def _checkpointer(path: str, recipient: str):
    """A SealedCheckpointer when both run-config keys are set (the key stays off-server)."""
    if not path:
        return None
    from veil.crypto.keys import parse_recipient
    from veil.errors import ConfigError
    from veil.fl.checkpoint import SealedCheckpointer

    if not recipient:
        raise ConfigError("checkpoint needs checkpoint-recipient (a veil recipient string)")
    return SealedCheckpointer(Path(path), [parse_recipient(recipient)])
