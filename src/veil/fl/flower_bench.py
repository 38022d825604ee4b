"""Flower simulation apps for ``bench/bench_fl.py`` (legacy API: the only one where
Flower's SecAgg+ works in 1.42 — ``flwr.server.ServerApp`` + ``LegacyContext`` +
``SecAggPlusWorkflow`` on the server, ``secaggplus_mod`` on the client).

The client work is veil's :func:`~veil.fl.training.local_update` on a shard of the digits
data, identical to the embedded runner's, so the benchmark compares the engines, not the
training. Round times are taken on the server at each ``aggregate_fit``; upload bytes are
counted by a client mod over every reply record (all SecAgg+ stages included). Both are
appended to files named by ``VEIL_BENCH_LOG`` (Ray workers inherit the environment).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

import veil.fl  # noqa: F401 - Flower telemetry off
from veil.fl import partition
from veil.fl.data import digits
from veil.fl.models import ModelKind, ModelSpec, build_model
from veil.fl.params import get_vector
from veil.fl.training import Optimizer, TrainConfig, local_update

HIDDEN_ENV = "VEIL_BENCH_HIDDEN"
LOG_ENV = "VEIL_BENCH_LOG"
CLIENTS_ENV = "VEIL_BENCH_CLIENTS"


def _spec():
    hidden = tuple(int(h) for h in os.environ[HIDDEN_ENV].split(","))
    return ModelSpec(ModelKind.MLP, 64, 10, hidden)


def _shard(pid: int, n: int):
    x, y = digits()
    idx = partition.iid(len(y), n, rng=np.random.default_rng(0))[pid]
    return x[idx], y[idx]


def _log(kind: str, value: float) -> None:
    with Path(os.environ[LOG_ENV]).open("a") as fh:
        fh.write(f"{kind} {value}\n")


def bench_train_config():
    """One local step of 32 rows: the engines' overhead dominates, as it should here."""
    return TrainConfig(batch_size=32, lr=0.05, optimizer=Optimizer.SGD, local_steps=1)


def client_app(secure: bool):
    """A legacy ClientApp (NumPyClient around local_update), with SecAgg+ when ``secure``."""
    # lazy: flwr (≈0.4 s+) only in the process that builds this app
    from flwr.client import ClientApp, NumPyClient
    from flwr.client.mod import secaggplus_mod

    class _Client(NumPyClient):
        def __init__(self, pid: int, n: int) -> None:
            self.pid, self.n = pid, n

        def fit(self, parameters, config):
            x, y = _shard(self.pid, self.n)
            vec = np.asarray(parameters[0], dtype=np.float32)
            upd = local_update(_spec(), vec, x, y, bench_train_config(), seed=self.pid)
            return [upd.vector], upd.num_examples, {}

    def client_fn(context):
        nc = context.node_config
        return _Client(int(nc["partition-id"]), int(nc["num-partitions"])).to_client()

    def count_mod(msg, ctx, call_next):
        reply = call_next(msg, ctx)
        if reply.has_content():
            _log("bytes", sum(r.count_bytes() for r in reply.content.values()))
        return reply

    mods = [count_mod, secaggplus_mod] if secure else [count_mod]
    return ClientApp(client_fn=client_fn, mods=mods)


def server_app(secure: bool, rounds: int):
    """A legacy ServerApp running FedAvg, through SecAgg+ (5 shares, threshold 3) if asked."""
    # lazy: flwr (≈0.4 s+) only in the process that builds this app
    from flwr.common import ndarrays_to_parameters
    from flwr.server import LegacyContext, ServerApp, ServerConfig
    from flwr.server.strategy import FedAvg
    from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow

    n = int(os.environ[CLIENTS_ENV])

    class _Timed(FedAvg):
        def aggregate_fit(self, server_round, results, failures):
            out = super().aggregate_fit(server_round, results, failures)
            _log("round_end", time.perf_counter())
            return out

    app = ServerApp()

    @app.main()
    def main(grid, context) -> None:
        strategy = _Timed(
            fraction_fit=1.0,
            fraction_evaluate=0.0,
            min_fit_clients=n,
            min_available_clients=n,
            initial_parameters=ndarrays_to_parameters([get_vector(build_model(_spec()))]),
        )
        ctx = LegacyContext(
            context=context, config=ServerConfig(num_rounds=rounds), strategy=strategy
        )
        fit = SecAggPlusWorkflow(num_shares=5, reconstruction_threshold=3) if secure else None
        _log("start", time.perf_counter())
        DefaultWorkflow(fit_workflow=fit)(grid, ctx)

    return app


# --- bench/bench_flower_devices.py: plain Flower FedAvg (Message API) beside veil's apps ---


def native_client_app():
    """A Flower-native ClientApp doing the same work as veil's on a virtual SuperNode: open
    its partition's sealed shard (the run's ``partition-dir``, sent in the train config),
    transform it with the given preprocessor, veil's local_update, reply the vector."""
    # lazy: flwr (≈0.4 s+) only in the process that builds this app
    from flwr.app import Message, MetricRecord, RecordDict
    from flwr.clientapp import ClientApp

    from veil.fl.flower_common import load_node_table, vector_from, vector_record
    from veil.fl.local_config import derive_seed
    from veil.fl.preprocess import preprocessor_from_dict

    app = ClientApp()

    @app.train()
    def train(msg, context):
        cfg = msg.content["config"]
        pid = int(context.node_config["partition-id"])
        frame = load_node_table(dict(context.node_config), {"partition-dir": cfg["partition-dir"]})
        x, y = preprocessor_from_dict(json.loads(str(cfg["prep"]))).transform(frame)
        spec = ModelSpec.from_dict(json.loads(str(cfg["spec"])))
        tcfg = TrainConfig(**json.loads(str(cfg["train"])))
        vec = vector_from(msg.content["arrays"], "vector").astype(np.float32)
        seed = derive_seed(int(cfg["seed"]), int(cfg["server-round"]), pid)
        upd = local_update(spec, vec, x, y, tcfg, seed=seed)
        metrics = MetricRecord({"num-examples": upd.num_examples, "loss": upd.loss})
        content = RecordDict({"arrays": vector_record("vector", upd.vector), "metrics": metrics})
        return Message(content, reply_to=msg)

    return app


def native_server_app(plan: dict, out: Path):
    """A Flower-native ServerApp: Flower's own FedAvg (``fraction_train`` = ``plan["rate"]``)
    for ``plan["rounds"]`` rounds; after each round the global model is evaluated on the
    held-out table (as veil's ServerApp does). Writes per-round seconds (from the round's
    sampling to its evaluation), nodes sampled and metrics as JSON to ``out``."""
    # lazy: flwr (≈0.4 s+) only in the process that builds this app
    from flwr.app import ConfigRecord
    from flwr.serverapp import ServerApp
    from flwr.serverapp.strategy import FedAvg

    from veil.fl.data import read_table
    from veil.fl.flower_common import to_json, vector_from, vector_record
    from veil.fl.preprocess import preprocessor_from_dict
    from veil.fl.training import evaluate

    spec = ModelSpec.from_dict(plan["spec"])
    prep = preprocessor_from_dict(plan["prep"])
    x_te, y_te = prep.transform(read_table(plan["eval"]))
    rounds: list[dict] = []

    class _Timed(FedAvg):
        def configure_train(self, server_round, arrays, config, grid):
            t0 = time.perf_counter()
            msgs = list(super().configure_train(server_round, arrays, config, grid))
            rounds.append({"round": server_round, "t0": t0, "sampled": len(msgs)})
            return msgs

        def aggregate_train(self, server_round, replies):
            replies = list(replies)
            rounds[-1]["replies"] = sum(not m.has_error() for m in replies)
            return super().aggregate_train(server_round, replies)

    def evaluate_fn(server_round, arrays):
        if server_round == 0:
            return None
        m = evaluate(spec, vector_from(arrays, "vector"), x_te, y_te)
        rec = rounds[-1]
        rec["seconds"] = time.perf_counter() - rec.pop("t0")
        rec["metrics"] = m.to_dict()
        return None

    app = ServerApp()

    @app.main()
    def main(grid, context) -> None:
        n = int(plan["nodes"])
        strategy = _Timed(
            fraction_train=float(plan["rate"]),
            fraction_evaluate=0.0,
            min_train_nodes=1,
            min_available_nodes=n,
        )
        initial = get_vector(build_model(spec, seed=int(plan["seed"])))
        config = ConfigRecord(
            {
                "partition-dir": str(plan["partition-dir"]),
                "prep": to_json(plan["prep"]),
                "spec": to_json(plan["spec"]),
                "train": to_json(plan["train"]),
                "seed": int(plan["seed"]),
            }
        )
        strategy.start(
            grid,
            vector_record("vector", initial),
            num_rounds=int(plan["rounds"]),
            timeout=float(plan["timeout"]),
            train_config=config,
            evaluate_fn=evaluate_fn,
        )
        Path(out).write_text(json.dumps({"rounds": rounds}))

    return app
