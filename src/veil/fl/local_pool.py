"""The embedded client pool: N virtual clients in this process, each asked in turn.

Seeds: the client of index k in round r trains with ``derive_seed(seed, r, k)``, so a run
resumed from a checkpoint after round r continues exactly as the uninterrupted run would.

With a :class:`~veil.fl.sampling.Sampling` the pool is a cross-device one: each round asks only
the sampled devices, simulates the ones that drop out or report late, and stops asking when
the round's deadline passes. Replies are yielded one at a time, so a round's reports flow to
the aggregators as they are made and are never all held at once.
"""

from __future__ import annotations

import concurrent.futures as cf
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from veil.errors import VeilError
from veil.fl.engine import Reply, spend_of
from veil.fl.local_config import ClientUpdate, TrainConfig, derive_seed
from veil.fl.models import ModelSpec
from veil.fl.sampling import Fate, Sampling

if TYPE_CHECKING:
    from veil.fl.record_dp import RecordDP


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
        from veil.fl.training import local_update  # lazy: torch only when a client trains

        return local_update(
            self.spec, global_vec, self.x, self.y, cfg, seed=seed, record_dp=record_dp
        )


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


class InProcessClients:
    """The embedded :class:`~veil.fl.engine.ClientPool`: every client trains in this process
    (with a timeout, a hung client is abandoned). With ``seal`` (verified aggregation's
    client mod, :meth:`veil.aggregation.fl_bridge.LazySecureAggregation.seal`) a reply
    carries the client's sealed report, never its update."""

    def __init__(
        self,
        clients: Sequence[Client],
        *,
        seed: int = 0,
        timeout: float | None = None,
        record_dp: RecordDP | None = None,
        seal: Callable[[int, str, np.ndarray, ClientUpdate], bytes] | None = None,
        sampling: Sampling | None = None,
    ) -> None:
        self.clients, self.seed, self.timeout = list(clients), seed, timeout
        self.record_dp, self.seal, self.sampling = record_dp, seal, sampling

    def replies(self, rnd: int, global_vec: np.ndarray, cfg: TrainConfig) -> Iterator[Reply]:
        if self.sampling is None:
            for k, c in enumerate(self.clients):
                yield self._reply(k, c, rnd, global_vec, cfg)
            return
        chosen, fates = self.sampling.draw(self.seed, rnd, len(self.clients))
        deadline = self.sampling.deadline
        t0 = time.perf_counter()
        for k, fate in zip(chosen.tolist(), fates, strict=True):
            client = self.clients[k]
            if fate is Fate.DROPPED:
                yield Reply(client.name, missing=Fate.DROPPED.value)
            elif deadline is not None and time.perf_counter() - t0 > deadline:
                yield Reply(client.name, missing=f"{Fate.LATE.value}: the round's deadline passed")
            elif fate is Fate.LATE:  # it trains and reports, after the deadline: discarded
                late = self._reply(k, client, rnd, global_vec, cfg)
                yield Reply(client.name, missing=Fate.LATE.value, dp=late.dp, nbytes=late.nbytes)
            else:
                yield self._reply(k, client, rnd, global_vec, cfg)

    def _reply(self, k: int, client: Client, rnd: int, vec: np.ndarray, cfg: TrainConfig) -> Reply:
        seed = derive_seed(self.seed, rnd, k)
        t0 = time.perf_counter()
        try:
            upd = _call(client, vec, cfg, seed, self.timeout, self.record_dp)
        except cf.TimeoutError:
            return Reply(client.name, error=f"timed out after {self.timeout} s")
        except Exception as exc:  # a client's own code may raise anything; the round goes on
            return Reply(client.name, error=f"crashed: {type(exc).__name__}: {exc}")
        dp, train_s = spend_of(upd), time.perf_counter() - t0
        if self.seal is None:
            size = getattr(getattr(upd, "vector", None), "nbytes", 0)
            return Reply(client.name, update=upd, dp=dp, nbytes=int(size) + 8)
        t = time.perf_counter()
        try:
            report = self.seal(rnd, client.name, vec, upd)
        except VeilError as exc:  # the client's own library refused to build a report
            why = f"client refused: {type(exc).__name__}"
            return Reply(client.name, error=why, dp=dp)
        secs = time.perf_counter() - t
        return Reply(
            client.name, report=report, dp=dp, nbytes=len(report), train_seconds=train_s,
            seal_seconds=secs,
        )  # fmt: skip
