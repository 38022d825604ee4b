"""The round engine: the one training loop that the embedded runner and the Flower ServerApp
both drive.

A round is Strategy-shaped, as in Flower: the engine configures the round (the clients'
training config, with its learning-rate decay), a :class:`ClientPool` delivers the clients'
:class:`Reply` objects (in-process clients, or Flower SuperNodes), an :class:`Aggregation`
turns the valid ones into the next global model, and the engine writes one frozen
:class:`~veil.fl.round_record.RoundRecord`. Plain FedAvg/FedProx/FedAdam
(:class:`PlainAggregation`) and verified secret-shared aggregation
(:class:`veil.fl.verified.VerifiedAggregation`, a wrapper around a plain strategy) are
compositions, not branches of this loop.

The engine is the one place that knows the round's rules: the DP-SGD spend of every reply
counts even if the update is refused; a round with too few valid updates leaves the model as
it is and says why; a checkpoint after every round; ``resume`` continues from the last one
exactly as the uninterrupted run would (the pool derives each client's seed from the round).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from veil.errors import CheckpointError, ConfigError
from veil.fl.local_config import ClientUpdate, DPSteps, TrainConfig
from veil.fl.round_record import Rejection, RoundRecord
from veil.fl.strategies import FedAvg

if TYPE_CHECKING:
    from veil.fl.record_dp import RecordLedger
    from veil.fl.training import Metrics


@dataclass(frozen=True)
class Reply:
    """One client's answer to a round: an update (plain aggregation), a sealed report
    (verified aggregation; the server never sees the update), or why there is neither."""

    client: str
    update: ClientUpdate | None = None
    report: object | None = None
    error: str | None = None
    #: a sampled device that never answered in time ("dropped out", "late…"): not a
    #: rejection, the round simply goes on without it (cross-device, veil.fl.sampling)
    missing: str | None = None
    #: the DP-SGD steps the client says it spent (record-level DP), refused update or not
    dp: DPSteps | None = None
    #: bytes the client sent
    nbytes: int = 0
    #: seconds the client spent training, and building its report (verified aggregation)
    train_seconds: float = 0.0
    seal_seconds: float = 0.0


@dataclass(frozen=True)
class Outcome:
    """What an aggregation made of a round's replies."""

    vector: np.ndarray | None  # the next global model; None: it stays as it is
    accepted: tuple[str, ...]
    rejected: tuple[Rejection, ...]
    failure: str | None = None
    epsilon: float | None = None  # client-level ε so far (verified aggregation with noise)
    details: dict[str, Any] = field(default_factory=dict)


class ClientPool(Protocol):
    """Who trains: asks every client of the round for its reply."""

    def replies(self, rnd: int, global_vec: np.ndarray, cfg: TrainConfig) -> Iterable[Reply]:
        """The round's replies, as they arrive (a silent client: a Reply with ``error``;
        a sampled device that dropped out or was late: ``missing``)."""
        ...


class Aggregation(Protocol):
    """The server side of a round: valid replies → the next global model."""

    strategy: FedAvg

    def aggregate(self, rnd: int, global_vec: np.ndarray, replies: Iterable[Reply]) -> Outcome:
        """The round's outcome from the replies that arrived (consumed once, as a stream)."""
        ...

    def commit(self, rnd: int, global_vec: np.ndarray) -> dict[str, Any]:
        """Round ``rnd`` is over and ``global_vec`` is the model now (the audit log's
        ``model_after``); returns fields for the round's record."""
        ...


class Checkpointer(Protocol):
    """Persists the global state after each round (see :mod:`veil.fl.checkpoint`)."""

    def save(self, state: RunState) -> None: ...

    def load(self) -> RunState | None: ...


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
    records: list[RoundRecord]
    #: with record-level DP: the per-client accountant (``privacy`` of the report)
    record_ledger: RecordLedger | None = None

    @property
    def rounds(self) -> list[dict]:
        """The records as the report's ``rounds`` list."""
        return [r.to_dict() for r in self.records]


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


@dataclass
class PlainAggregation:
    """A strategy over the updates themselves (FedAvg, FedProx, FedAdam): each update is
    validated, the valid ones aggregated weighted by sample count."""

    strategy: FedAvg
    min_clients: int = 1

    def aggregate(self, rnd: int, global_vec: np.ndarray, replies: Iterable[Reply]) -> Outcome:
        accepted, rejected, updates = [], [], []
        for rep in replies:
            reason = validate_update(rep.update, global_vec.size)
            if reason is not None:
                rejected.append(Rejection(rep.client, reason))
            else:
                accepted.append(rep.client)
                updates.append((rep.update.vector, int(rep.update.num_examples)))
        if len(updates) < self.min_clients:
            why = f"fewer than {self.min_clients} valid updates; model unchanged"
            return Outcome(None, tuple(accepted), tuple(rejected), failure=why)
        vec = self.strategy.aggregate(global_vec, updates)
        return Outcome(vec, tuple(accepted), tuple(rejected))

    def commit(self, rnd: int, global_vec: np.ndarray) -> dict[str, Any]:
        return {}


@dataclass
class RoundEngine:
    """Runs rounds ``start..rounds`` of one federation (see the module docstring)."""

    pool: ClientPool
    aggregation: Aggregation
    rounds: int
    train: TrainConfig
    #: the clients' learning rate in round r is ``train.lr * lr_decay ** (r - 1)``
    lr_decay: float = 1.0
    evaluate: Callable[[np.ndarray], Metrics] | None = None
    checkpointer: Checkpointer | None = None
    #: record-level DP-SGD's accountant: every reply's spend, ε so far in each record
    record_ledger: RecordLedger | None = None
    #: the pool's clients (or nodes), for the bytes sent down each round
    fanout: int = 0
    on_round: Callable[[RoundRecord], None] | None = None
    #: the pool samples devices each round: records carry ``sampled``/``dropped``/``late``
    pool_samples: bool = False

    def run(self, initial: np.ndarray, *, resume: bool = False) -> RunResult:
        """Train from ``initial`` (or, with ``resume``, from the last checkpoint)."""
        if self.rounds < 1:
            raise ConfigError("rounds must be at least 1")
        vec, records, start = self._start(initial, resume)
        base = self.aggregation.strategy.client_config(self.train)
        for r in range(start, self.rounds + 1):
            vec, rec = self.round(r, vec, replace(base, lr=base.lr * self.lr_decay ** (r - 1)))
            records.append(rec)
            if self.checkpointer is not None:
                history = [x.to_dict() for x in records]
                self.checkpointer.save(RunState(r, vec, self.aggregation.strategy.state(), history))
            if self.on_round is not None:
                self.on_round(rec)
        return RunResult(vec, records, self.record_ledger)

    def round(self, r: int, vec: np.ndarray, cfg: TrainConfig) -> tuple[np.ndarray, RoundRecord]:
        """One round: replies → spend → aggregate → commit → evaluate → record."""
        t0 = time.perf_counter()
        tally = _Tally()
        stream = tally.stream(self.pool.replies(r, vec, cfg), self)
        out = self.aggregation.aggregate(r, vec, stream)
        for _ in stream:  # whatever the aggregation left unread still counts (spend, bytes)
            pass
        if out.vector is not None:
            vec = out.vector
        details = {**out.details, **self.aggregation.commit(r, vec)}
        if self.pool_samples:
            details = {"sampled": tally.asked, "dropped": tally.dropped, "late": tally.late,
                       **details}  # fmt: skip
        rec = RoundRecord(
            round=r,
            metrics=self.evaluate(vec).to_dict() if self.evaluate is not None else {},
            accepted=out.accepted,
            rejected=(*tally.silent, *out.rejected),
            seconds=time.perf_counter() - t0,
            bytes_up=tally.nbytes,
            bytes_down=int(vec.nbytes) * (tally.asked if self.pool_samples else self.fanout),
            failure=out.failure,
            epsilon=out.epsilon,
            details=details,
        )
        if self.record_ledger is not None:
            rec = rec.with_record_dp(self.record_ledger.spent(), self.record_ledger.epsilon)
        return vec, rec

    def _start(self, initial: np.ndarray, resume: bool) -> tuple[np.ndarray, list, int]:
        """(model, records so far, first round): the checkpoint's with ``resume``."""
        vec, records = np.array(initial, dtype=np.float32), []
        if resume:
            if self.checkpointer is None:
                raise ConfigError("--resume needs a checkpoint")
            state = self.checkpointer.load()
            if state is not None:
                if state.vector.size != vec.size:
                    raise CheckpointError("the checkpoint does not match the model's shape")
                vec, records = state.vector, [RoundRecord.from_dict(h) for h in state.history]
                self.aggregation.strategy.load_state(state.strategy_state)
                self._replay(records)
                return vec, records, state.round + 1
        return vec, records, 1

    def _replay(self, records: list[RoundRecord]) -> None:
        """The DP-SGD accountant takes up the spend of the checkpointed rounds."""
        if self.record_ledger is not None:
            for rec in records:
                self.record_ledger.replay(dict(rec.record_dp or {}))


@dataclass
class _Tally:
    """What the engine notes of a round's replies while they stream past to the aggregation:
    spend, silent clients, devices that never answered in time, bytes."""

    silent: list[Rejection] = field(default_factory=list)
    dropped: int = 0
    late: int = 0
    asked: int = 0
    nbytes: int = 0

    def stream(self, replies: Iterable[Reply], engine: RoundEngine) -> Iterator[Reply]:
        """The replies that answered (valid or not); everything else is counted here."""
        for rep in replies:
            self.asked += 1
            self.nbytes += rep.nbytes
            if engine.record_ledger is not None and rep.dp is not None:
                engine.record_ledger.spend(rep.client, rep.dp)  # spent even if refused later
            if rep.missing is not None:
                if rep.missing.startswith("late"):
                    self.late += 1
                else:
                    self.dropped += 1
            elif rep.error is not None:
                self.silent.append(Rejection(rep.client, str(rep.error)))
            else:
                yield rep


def spend_of(upd: object) -> DPSteps | None:
    """The DP-SGD spend an in-process client's update carries, if any."""
    dp = getattr(upd, "dp", None)
    return dp if isinstance(dp, DPSteps) else None
