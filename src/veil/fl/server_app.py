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
    from veil.errors import DataError
    from veil.fl.preprocess import Preprocessor, Schema, TableStats, stats_from_dict

    msgs = [
        Message(RecordDict({"cfg": ConfigRecord({"target": target})}), node, QUERY_STATS)
        for node in nodes
    ]
    merged, schemas = TableStats(), set()
    for rep in grid.send_and_receive(msgs, timeout=timeout):
        if rep.has_error():
            raise DataError(
                f"node {rep.metadata.src_node_id} could not summarise its data: {rep.error.reason}"
            )
        rec = rep.content["stats"]
        merged = merged.merge(stats_from_dict(json.loads(str(rec["stats"]))))
        s = json.loads(str(rec["schema"]))
        schemas.add((tuple(s["numeric"]), tuple(s["categorical"])))
    if len(schemas) != 1:
        raise DataError("the nodes' tables do not have the same columns and kinds")
    numeric, categorical = schemas.pop()
    return Preprocessor.fit(Schema(target, numeric, categorical), merged)


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Statistics round, then ``rounds`` rounds of train → validate → aggregate → evaluate."""
    from dataclasses import replace

    from veil.fl.models import ModelKind, ModelSpec, build_model
    from veil.fl.params import get_vector
    from veil.fl.preprocess import preprocessor_to_dict
    from veil.fl.report import build_report, write_json
    from veil.fl.runner import validate_update
    from veil.fl.strategies import make_strategy
    from veil.fl.training import Optimizer, TrainConfig, derive_seed, evaluate

    rc = context.run_config
    rounds, seed, timeout = int(rc["rounds"]), int(rc["seed"]), float(rc["timeout"])
    nodes = _wait_for_nodes(grid, int(rc["min-nodes"]), timeout)
    prep = _fit_preprocessor(grid, nodes, str(rc["target"]), timeout)
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
    evaluator = None
    if str(rc["eval-data"]):
        from veil.fl.data import read_table

        x_te, y_te = prep.transform(read_table(str(rc["eval-data"])))

        def evaluator(v):
            return evaluate(spec, v, x_te, y_te)

    vec = get_vector(build_model(spec, seed=seed))
    history = []
    for r in range(1, rounds + 1):
        t0 = time.perf_counter()
        tcfg = replace(base, lr=base.lr * float(rc["lr-decay"]) ** (r - 1))
        cfg_common = {
            "prep": to_json(preprocessor_to_dict(prep)),
            "spec": to_json(spec.to_dict()),
            "train": to_json(tcfg.to_dict()),
        }
        msgs = [
            Message(
                RecordDict(
                    {
                        "model": vector_record("global", vec),
                        "cfg": ConfigRecord({**cfg_common, "seed": derive_seed(seed, r, k)}),
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
            name = f"node-{node}"
            rep = replies.get(node)
            if rep is None:
                rejected.append({"client": name, "reason": f"no reply within {timeout} s"})
                continue
            if rep.has_error():
                rejected.append({"client": name, "reason": f"error: {rep.error.reason}"})
                continue
            try:
                from veil.fl.training import ClientUpdate

                u = vector_from(rep.content["update"], "vector")
                bytes_up += int(u.nbytes) + 8
                n = int(rep.content["metrics"]["num-examples"])
                upd = ClientUpdate(u, n, float(rep.content["metrics"]["loss"]))
            except (KeyError, TypeError, ValueError) as exc:
                rejected.append({"client": name, "reason": f"malformed reply: {exc}"})
                continue
            reason = validate_update(upd, vec.size)
            if reason:
                rejected.append({"client": name, "reason": reason})
            else:
                accepted.append(name)
                updates.append((upd.vector, upd.num_examples))
        if updates:
            vec = strategy.aggregate(vec, updates)
        metrics = evaluator(vec).to_dict() if evaluator else {}
        history.append(
            {
                "round": r,
                "metrics": metrics,
                "accepted": accepted,
                "rejected": rejected,
                "seconds": round(time.perf_counter() - t0, 4),
                "bytes_up": bytes_up,
            }
        )
        print(
            f"veil round {r}: accepted {len(accepted)}, rejected {len(rejected)}, {metrics}",
            flush=True,
        )
    if str(rc["out"]):
        report = build_report(
            scenario="flower",
            rounds=history,
            baselines={"centralized": {}, "local_only": {}},
            config={
                "engine": "flower",
                "nodes": nodes,
                "model": spec.to_dict(),
                "strategy": strategy.describe(),
                "rounds": rounds,
            },
        )
        write_json(report, Path(str(rc["out"])) / "report.json")
