"""The embedded runner: N virtual clients in one process, deterministic under a seed.

It drives the round engine (:mod:`veil.fl.engine`) with an in-process client pool, exactly
as the Flower ServerApp drives it with SuperNodes: each client's :meth:`Client.fit`
(usually :func:`veil.fl.training.local_update`), then a plain strategy or verified
aggregation (:mod:`veil.fl.verified`). A client that crashes, exceeds the timeout, or returns
a wrong-shaped, non-finite or ill-counted update is left out of that round with the reason
recorded, and the round goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from veil.errors import ConfigError
from veil.fl.engine import (  # Checkpointer, RunResult, RunState, validate_update: re-exported
    Checkpointer,
    PlainAggregation,
    RoundEngine,
    RunResult,
    RunState,
    validate_update,
)
from veil.fl.local_pool import ArrayClient, Client, InProcessClients  # re-exported
from veil.fl.models import ModelSpec, build_model
from veil.fl.params import get_vector
from veil.fl.record_dp import RecordDP, RecordLedger, check_trainable
from veil.fl.round_record import RoundRecord
from veil.fl.strategies import FedAvg
from veil.fl.training import Metrics, TrainConfig, local_update
from veil.fl.verified import VerifiedAggregation

if TYPE_CHECKING:
    from veil.fl.verified import VerifiedBackend

__all__ = [
    "ArrayClient",
    "Checkpointer",
    "Client",
    "RunConfig",
    "RunResult",
    "RunState",
    "run_federated",
    "validate_update",
]


@dataclass
class RunConfig:
    """How the federation runs."""

    rounds: int = 10
    seed: int = 0
    train: TrainConfig = field(default_factory=TrainConfig)
    client_timeout: float | None = None
    min_clients: int = 1
    torch_threads: int = 1
    #: the clients' learning rate in round r is ``train.lr * lr_decay ** (r - 1)``: large
    #: early steps, small late ones, so client drift on skewed shards fades out
    lr_decay: float = 1.0
    #: record-level DP: every client trains with DP-SGD and each round records ε so far
    #: (max over clients); clients' ``fit`` get ``record_dp=``. Its noise is seeded from
    #: os.urandom, so such a run is not bit-reproducible.
    record_dp: RecordDP | None = None

    def __post_init__(self) -> None:
        if self.rounds < 1 or self.min_clients < 1:
            raise ConfigError("rounds and min_clients must be at least 1")
        if self.record_dp is not None and not isinstance(self.record_dp, RecordDP):
            raise ConfigError("record_dp must be a veil.fl.record_dp.RecordDP")
        if not 0 < self.lr_decay <= 1:
            raise ConfigError("lr_decay must be in (0, 1]")


def run_federated(
    spec: ModelSpec,
    clients: Sequence[Client],
    strategy: FedAvg,
    cfg: RunConfig,
    *,
    evaluate: Callable[[np.ndarray], Metrics] | None,
    checkpointer: Checkpointer | None = None,
    resume: bool = False,
    on_round: Callable[[RoundRecord], None] | None = None,
    initial: np.ndarray | None = None,
    secure: VerifiedBackend | None = None,
) -> RunResult:
    """Run ``cfg.rounds`` rounds of federated training; returns the final model + history.

    ``secure``: verified aggregation (:class:`veil.fl.verified.VerifiedAggregation` over it,
    each client's update sealed in-process). ``initial`` replaces the PyTorch initial model
    (e.g. a Keras model's vector)."""
    import torch  # lazy: torch (≈1 s) only when a federation actually trains

    if not clients:
        raise ConfigError("no clients")
    torch.set_num_threads(cfg.torch_threads)
    vec = get_vector(build_model(spec, seed=cfg.seed)) if initial is None else initial.copy()
    base = strategy.client_config(cfg.train)
    ledger = None
    if cfg.record_dp is not None:  # refused before any round if DP-SGD cannot train it
        check_trainable(spec, base)
        ledger = RecordLedger(cfg.record_dp.delta)
    if cfg.client_timeout is not None:
        # torch initialises lazily (≈2 s on first use); do it now, not inside a timed call
        x0 = np.zeros((1, spec.n_features), np.float32)
        local_update(spec, vec, x0, np.zeros(1, np.int64), base, seed=0)
    pool = InProcessClients(
        clients, seed=cfg.seed, timeout=cfg.client_timeout, record_dp=cfg.record_dp,
        seal=None if secure is None else secure.seal,
    )  # fmt: skip
    if secure is None:
        agg = PlainAggregation(strategy, cfg.min_clients)
    else:
        agg = VerifiedAggregation(strategy, secure, cfg.min_clients)
    engine = RoundEngine(
        pool, agg, cfg.rounds, cfg.train, cfg.lr_decay, evaluate, checkpointer, ledger,
        fanout=len(clients), on_round=on_round,
    )  # fmt: skip
    return engine.run(vec, resume=resume)
