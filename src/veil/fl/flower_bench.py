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
