"""Verified secret-shared aggregation as a wrapper around a plain strategy.

As Flower's SecAgg+ is a strategy wrapper plus a client mod, veil's verified aggregation is
:class:`VerifiedAggregation` (server side, here) plus a client mod that turns each client's
update into a signed, HPKE-sealed PINE report (:class:`veil.aggregation.client.ReportBuilder`;
in-process in :mod:`veil.fl.runner`, on each SuperNode in :mod:`veil.fl.flower_verified`).
The wrapper hands the sealed reports to the Leader of a :class:`VerifiedBackend` (which runs
the Helper round trip), spends ε, and passes the verified mean update to the wrapped
strategy's server step, so FedAvg, FedProx or FedAdam composes with it unchanged.

Its rules, written once: a round whose sums the aggregators released counts toward ε even if
its aggregate is unusable; such a round is still written to the audit log, with the model as
it stayed; the audit record is appended once the new global model is known (``commit``),
because the server step may transform the verified aggregate.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from veil.aggregation.config import ConsortiumConfig
from veil.aggregation.dp import PrivacyLedger
from veil.aggregation.leader import RoundResult
from veil.errors import ProtocolError
from veil.fl.engine import Outcome, Reply
from veil.fl.round_record import Rejection
from veil.fl.strategies import FedAvg


class VerifiedBackend(Protocol):
    """The aggregators of one task, as a round sees them (the embedded task with its Helper
    process, :class:`veil.aggregation.fl_bridge.LazySecureAggregation`; or the Flower
    ServerApp's Leader, :class:`veil.fl.flower_verified.ServerLeader`)."""

    def prepare(self, dimension: int, first_round: int) -> None:
        """Ready the task for a model of ``dimension`` parameters (idempotent)."""
        ...

    @property
    def cfg(self) -> ConsortiumConfig: ...

    @property
    def ledger(self) -> PrivacyLedger: ...

    def aggregate(self, rnd: int, reports: Iterable) -> RoundResult:
        """Verify the round's reports (a stream, read once) with the Helper and release the
        noised mean (ProtocolError when it cannot, e.g. fewer than min_reports valid)."""
        ...

    def released(self, rnd: int) -> RoundResult | None:
        """The round's released sums if the aggregators released them (ε was spent)."""
        ...

    def log_round(
        self,
        rnd: int,
        before: np.ndarray,
        result: RoundResult,
        eps: float | None,
        after: np.ndarray,
    ) -> int | None:
        """Append the round's audit record (model before and after); the log's length, or
        None without an audit log."""
        ...

    def round_notes(self, result: RoundResult) -> dict[str, Any]:
        """Fields the task adds to a verified round's record (Helper restarts, a test kit's
        exactness oracle)."""
        ...


@dataclass
class VerifiedAggregation:
    """``strategy``'s server step over the verified, noised mean of sealed reports."""

    strategy: FedAvg
    backend: VerifiedBackend
    min_clients: int = 1
    _pending: tuple | None = field(default=None, repr=False)

    def aggregate(self, rnd: int, global_vec: np.ndarray, replies: Iterable[Reply]) -> Outcome:
        self.backend.prepare(int(global_vec.size), rnd)
        seen = _Seen()
        reports = seen.reports(replies)
        details: dict[str, Any] = {"secure": True}
        try:
            res = self.backend.aggregate(rnd, reports)
        except ProtocolError as exc:
            for _ in reports:  # the replies the backend did not read still count
                pass
            released = self.backend.released(rnd)
            if released is not None:  # released but unusable: it still counts, and is logged
                self._pending = (rnd, global_vec, released, self._spend())
            eps = _finite(self.backend.ledger.epsilon)
            return Outcome(None, (), tuple(seen.refused), str(exc)[:300], eps, details)
        eps = self._spend()
        self._pending = (rnd, global_vec, res, eps)
        details.update(
            denominator=res.denominator,
            bytes_per_client=res.bytes_per_client,
            helper_bytes=res.helper_bytes,
            time_split={
                "train": round(seen.train_seconds, 4),
                "shard": round(seen.seal_seconds, 4),
                "verify": round(res.timings["verify_s"], 4),
                "aggregate": round(res.timings["aggregate_s"], 4),
            },
        )
        details.update(self.backend.round_notes(res))
        rejected = (*seen.refused, *(Rejection(c, why) for c, why in res.rejected))
        accepted = tuple(res.accepted)
        if len(accepted) < self.min_clients:
            why = f"fewer than {self.min_clients} verified reports; model unchanged"
            return Outcome(None, accepted, rejected, why, eps, details)
        mean = (np.asarray(global_vec, np.float64) + res.aggregate).astype(np.float32)
        vec = self.strategy.aggregate(global_vec, [(mean, 1)])
        return Outcome(vec, accepted, rejected, None, eps, details)

    def commit(self, rnd: int, global_vec: np.ndarray) -> dict[str, Any]:
        """The audit record of round ``rnd``, now that the model after it is known."""
        pending, self._pending = self._pending, None
        if pending is None or pending[0] != rnd:
            return {}
        _, before, res, eps = pending
        n = self.backend.log_round(rnd, before, res, eps, global_vec)
        return {} if n is None else {"audit_records": n}

    def _spend(self) -> float | None:
        return _finite(self.backend.ledger.step())


@dataclass
class _Seen:
    """What the wrapper notes of the replies while their reports stream to the backend."""

    refused: list[Rejection] = field(default_factory=list)
    train_seconds: float = 0.0
    seal_seconds: float = 0.0

    def reports(self, replies: Iterable[Reply]) -> Iterator[object]:
        for rep in replies:
            self.train_seconds += rep.train_seconds
            self.seal_seconds += rep.seal_seconds
            if rep.report is None:
                self.refused.append(Rejection(rep.client, "no sealed report in its reply"))
            else:
                yield rep.report


def _finite(eps: float) -> float | None:
    return eps if math.isfinite(eps) else None
