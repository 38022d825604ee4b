"""The embedded runner: N virtual clients in one process, deterministic under a seed.

It drives the engine-neutral pieces — each client's :meth:`Client.fit` (usually
:func:`veil.fl.training.local_update`) and a strategy's ``aggregate`` — exactly as the
Flower ServerApp does, without a network. Every update is checked before it is aggregated;
a client that crashes, exceeds the timeout, or returns a wrong-shaped, non-finite or
ill-counted update is left out of that round with the reason recorded, and the round goes on.

Seeds: the client of index k in round r trains with ``derive_seed(seed, r, k)``, so a run
resumed from a checkpoint after round r continues exactly as the uninterrupted run would.
"""

from __future__ import annotations

import concurrent.futures as cf
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

import numpy as np

from veil.errors import CheckpointError, ConfigError
from veil.fl.models import ModelSpec, build_model
from veil.fl.params import get_vector
from veil.fl.strategies import FedAvg
from veil.fl.training import ClientUpdate, Metrics, TrainConfig, derive_seed, local_update

if TYPE_CHECKING:
    from veil.fl.record_dp import RecordLedger


class Client(Protocol):
    """A data holder: trains the global model on its own data, returns an update."""

    name: str

    def fit(self, global_vec: np.ndarray, cfg: TrainConfig, *, seed: int) -> ClientUpdate:
        """Train locally from ``global_vec``."""
        ...


@dataclass
class ArrayClient:
    """A client whose (already decoded) data sits in memory."""

    name: str
    spec: ModelSpec
    x: np.ndarray
    y: np.ndarray

    def fit(
        self, global_vec: np.ndarray, cfg: TrainConfig, *, seed: int, record_dp=None
    ) -> ClientUpdate:
        """Local training (DP-SGD with ``record_dp``)."""
        return local_update(
            self.spec, global_vec, self.x, self.y, cfg, seed=seed, record_dp=record_dp
        )


class SecureRounds(Protocol):
    """Verified aggregation of one round (veil.aggregation.fl_bridge.SecureAggregation)."""

    def round(
        self, rnd: int, global_vec: np.ndarray, updates: list[tuple[str, ClientUpdate]]
    ) -> tuple[np.ndarray | None, dict]:
        """The next model vector (None: the round failed) and fields for the round record."""
        ...


class Checkpointer(Protocol):
    """Persists the global state after each round (see :mod:`veil.fl.checkpoint`)."""

    def save(self, state: RunState) -> None:
        """Write the state durably."""
        ...

    def load(self) -> RunState | None:
        """The last saved state, or None when there is none."""
        ...


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
    #: record-level DP (veil.fl.record_dp.RecordDP): every client trains with DP-SGD and
    #: each round records ε so far (max over clients); clients' ``fit`` get ``record_dp=``.
    #: Its noise is seeded from os.urandom, so such a run is not bit-reproducible.
    record_dp: object | None = None

    def __post_init__(self) -> None:
        if self.rounds < 1 or self.min_clients < 1:
            raise ConfigError("rounds and min_clients must be at least 1")
        if self.record_dp is not None:
            from veil.fl.record_dp import RecordDP

            if not isinstance(self.record_dp, RecordDP):
                raise ConfigError("record_dp must be a veil.fl.record_dp.RecordDP")
        if not 0 < self.lr_decay <= 1:
            raise ConfigError("lr_decay must be in (0, 1]")


@dataclass
class RunState:
    """Everything needed to continue a run: the model, the strategy's state, the history."""

    round: int
    vector: np.ndarray
    strategy_state: dict[str, np.ndarray]
    history: list[dict]


@dataclass
class RunResult:
    """The final global model and one record per round."""

    vector: np.ndarray
    rounds: list[dict]
    #: with record-level DP: the per-client accountant (``privacy`` of the report)
    record_ledger: RecordLedger | None = None


def validate_update(update: object, size: int) -> str | None:
    """Why an update must be refused, or None when it is acceptable."""
    if not isinstance(update, ClientUpdate):
        return f"returned {type(update).__name__}, not a ClientUpdate"
    vec = update.vector
    if not isinstance(vec, np.ndarray) or vec.ndim != 1:
        return "update is not a flat array"
    if vec.dtype != np.float32:
        return f"update has dtype {vec.dtype}, expected float32"
    if vec.size != size:
        return f"wrong shape: {vec.size} values, the model has {size}"
    if not np.isfinite(vec).all():
        return "update contains NaN or infinity"
    n = update.num_examples
    if not isinstance(n, int | np.integer) or isinstance(n, bool) or n <= 0:
        return f"invalid sample count {n!r}"
    return None


def _call(
    client: Client,
    vec: np.ndarray,
    cfg: TrainConfig,
    seed: int,
    timeout: float | None,
    record_dp: object | None = None,
):
    kw = {"seed": seed} if record_dp is None else {"seed": seed, "record_dp": record_dp}
    if timeout is None:
        return client.fit(vec.copy(), cfg, **kw)
    pool = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"client-{client.name}")
    try:
        return pool.submit(client.fit, vec.copy(), cfg, **kw).result(timeout=timeout)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # a hung client is abandoned


def _collect(
    clients: Sequence[Client],
    vec: np.ndarray,
    client_cfg: TrainConfig,
    cfg: RunConfig,
    r: int,
    raw: list | None = None,
    ledger: RecordLedger | None = None,
) -> tuple[list[tuple[str, np.ndarray, int]], list[dict], int]:
    """Ask every client for its update; sort them into accepted and rejected (with reason).

    With ``raw`` (verified aggregation) the updates are appended there unchecked: the
    aggregators check them, in zero knowledge, without seeing them."""
    accepted: list[tuple[str, np.ndarray, int]] = []
    rejected: list[dict] = []
    bytes_up = 0
    for k, client in enumerate(clients):
        try:
            seed = derive_seed(cfg.seed, r, k)
            upd = _call(client, vec, client_cfg, seed, cfg.client_timeout, cfg.record_dp)
        except cf.TimeoutError:
            rejected.append(
                {"client": client.name, "reason": f"timed out after {cfg.client_timeout} s"}
            )
            continue
        except Exception as exc:  # a crashing client must not stop the round
            rejected.append(
                {"client": client.name, "reason": f"crashed: {type(exc).__name__}: {exc}"}
            )
            continue
        if ledger is not None and getattr(upd, "dp", None) is not None:
            ledger.spend(client.name, upd.dp)  # spent even if the update is refused below
        if raw is not None:
            raw.append((client.name, upd))
            continue
        if isinstance(upd, ClientUpdate) and isinstance(upd.vector, np.ndarray):
            bytes_up += int(upd.vector.nbytes) + 8
        reason = validate_update(upd, vec.size)
        if reason is not None:
            rejected.append({"client": client.name, "reason": reason})
        else:
            accepted.append((client.name, upd.vector, int(upd.num_examples)))
    return accepted, rejected, bytes_up


def run_federated(
    spec: ModelSpec,
    clients: Sequence[Client],
    strategy: FedAvg,
    cfg: RunConfig,
    *,
    evaluate: Callable[[np.ndarray], Metrics] | None,
    checkpointer: Checkpointer | None = None,
    resume: bool = False,
    on_round: Callable[[dict], None] | None = None,
    initial: np.ndarray | None = None,
    secure: SecureRounds | None = None,
) -> RunResult:
    """Run ``cfg.rounds`` rounds of federated training; returns the final model + history.

    ``initial`` replaces the PyTorch initial model (e.g. a Keras model's vector)."""
    import torch

    if not clients:
        raise ConfigError("no clients")
    torch.set_num_threads(cfg.torch_threads)
    vec = get_vector(build_model(spec, seed=cfg.seed)) if initial is None else initial.copy()
    history: list[dict] = []
    start = 1
    if resume:
        if checkpointer is None:
            raise ConfigError("--resume needs a checkpoint")
        state = checkpointer.load()
        if state is not None:
            if state.vector.size != vec.size:
                raise CheckpointError("the checkpoint does not match the model's shape")
            vec, history, start = state.vector, list(state.history), state.round + 1
            strategy.load_state(state.strategy_state)
    base_cfg = strategy.client_config(cfg.train)
    ledger = _record_ledger(spec, cfg, base_cfg, history)
    if cfg.client_timeout is not None:
        # torch initialises lazily (≈2 s on first use); do it now, not inside a timed call
        x0 = np.zeros((1, spec.n_features), np.float32)
        local_update(spec, vec, x0, np.zeros(1, np.int64), base_cfg, seed=0)
    for r in range(start, cfg.rounds + 1):
        client_cfg = replace(base_cfg, lr=base_cfg.lr * cfg.lr_decay ** (r - 1))
        t0 = time.perf_counter()
        raw: list | None = [] if secure is not None else None
        accepted, rejected, bytes_up = _collect(clients, vec, client_cfg, cfg, r, raw, ledger)
        extra: dict = {}
        if secure is not None:  # verified aggregation (veil.aggregation.fl_bridge)
            train_s = time.perf_counter() - t0
            new_vec, extra = secure.round(r, vec, raw)
            rejected += extra.pop("rejected", [])
            accepted = [(name, None, 0) for name in extra.pop("accepted", [])]
            bytes_up = int(extra.get("bytes_per_client", 0) * len(raw))
            extra.setdefault("time_split", {})["train"] = round(train_s, 4)
            if new_vec is None or len(accepted) < cfg.min_clients:
                rejected.append({"client": "*", "reason": "no verified aggregate; model unchanged"})
            else:
                vec = strategy.aggregate(vec, [(new_vec, 1)])
            if hasattr(secure, "commit"):  # the audit record needs the model as it now is
                secure.commit(r, vec)
        elif len(accepted) >= cfg.min_clients:
            vec = strategy.aggregate(vec, [(v, n) for _, v, n in accepted])
        else:
            rejected.append(
                {
                    "client": "*",
                    "reason": f"fewer than {cfg.min_clients} valid updates; model unchanged",
                }
            )
        metrics = evaluate(vec).to_dict() if evaluate is not None else {}
        record = {
            "round": r,
            "metrics": metrics,
            "accepted": [name for name, _, _ in accepted],
            "rejected": rejected,
            "seconds": round(time.perf_counter() - t0, 4),
            "bytes_up": bytes_up,
            "bytes_down": int(vec.nbytes) * len(clients),
            **extra,
        }
        if ledger is not None:  # record-level DP: ε so far, max over clients
            ledger.annotate(record)
        history.append(record)
        if checkpointer is not None:
            checkpointer.save(RunState(r, vec, strategy.state(), history))
        if on_round is not None:
            on_round(record)
    return RunResult(vec, history, ledger)


def _record_ledger(spec, cfg: RunConfig, train: TrainConfig, history: list[dict]):
    """The record-DP accountant, validated before any training; on resume it replays the
    steps the checkpointed rounds spent."""
    if cfg.record_dp is None:
        return None
    from veil.fl.record_dp import RecordLedger, check_trainable

    check_trainable(spec, train)
    ledger = RecordLedger(cfg.record_dp.delta)
    for rec in history:
        ledger.replay(rec.get("record_dp", {}))
    return ledger
