"""Worker processes that verify reports in parallel for one Aggregator (docs/protocol.md §7.2).

Verifying a report is CPU-bound (opening the share, expanding it, PINE's wraparound and FLP
queries: ≈0.28 s per report per million parameters on one core), and each report is
independent of the others. An Aggregator with ``workers = k > 1`` hands the per-report steps
of :mod:`veil.aggregation.verification` to ``k`` worker processes; with ``workers = 1`` they
run in the calling thread, as before. Everything else stays in the Aggregator's own process,
in the order it had: parsing, the task/round/client/signature checks, *admission* (the
state store's atomic insert of the report id, so replay protection is exactly-once however
many workers there are), storing pending output shares and summing.

Workers are started with ``spawn`` (no inherited threads, sockets or database handles) and
set up from text: the consortium file's TOML and the Aggregator's identity line. Tasks and
results travel over the pool's private pipes between veil's own processes; what crosses is
bytes, ints, the report metadata and numpy arrays that veil itself built — never bytes an
outsider chose as a pickle stream.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
import tomllib
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from veil.aggregation.config import ConsortiumConfig
from veil.aggregation.vdafs import TaskVdafs
from veil.aggregation.verification import helper_verify, leader_prepare
from veil.crypto.hpke_keys import X25519Identity
from veil.crypto.keys import parse_identities
from veil.errors import ConfigError, ProtocolError

#: how often a worker checks that its Aggregator is still alive
PARENT_POLL_S = 0.5
#: the most workers one Aggregator may ask for (a guard against a typo, not a tuning knob)
MAX_WORKERS = 256

_worker: tuple[TaskVdafs, X25519Identity] | None = None


def _init_worker(config_toml: str, identity_line: str, parent: int) -> None:
    """Build the task's VDAFs and load the identity once per worker process, and leave when
    the Aggregator dies (a SIGKILLed parent closes no pipe the workers would notice: each
    worker holds both ends of the pool's queue)."""
    global _worker
    threading.Thread(
        target=_exit_with, args=(parent,), name="exit-with-parent", daemon=True
    ).start()
    cfg = ConsortiumConfig.from_dict(tomllib.loads(config_toml))
    (identity,) = parse_identities(identity_line)
    if not isinstance(identity, X25519Identity):
        raise ConfigError("an Aggregator's identity is an x25519 key")
    _worker = (TaskVdafs.for_config(cfg), identity)


def _exit_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os._exit(0)


def _in_worker(step: Callable[..., Any], args: tuple) -> Any:
    if _worker is None:
        raise RuntimeError("verify worker used before its initializer ran")
    return step(*_worker, *args)


def default_workers() -> int:
    """``VEIL_VERIFY_WORKERS`` if set, else 1 (verify in the calling thread)."""
    text = os.environ.get("VEIL_VERIFY_WORKERS", "1")
    try:
        return check_workers(int(text))
    except ValueError:
        raise ConfigError(f"VEIL_VERIFY_WORKERS={text!r} is not a whole number") from None


def check_workers(workers: int) -> int:
    if isinstance(workers, bool) or not 1 <= workers <= MAX_WORKERS:
        raise ConfigError(f"verify workers must be in [1, {MAX_WORKERS}], not {workers!r}")
    return workers


class VerifyPool:
    """Runs :func:`helper_verify` / :func:`leader_prepare` for one Aggregator: inline when
    ``workers == 1`` (each step when its result is asked for), else on ``workers`` processes
    started on first use (``close`` stops them).
    ``workers=None``: :func:`default_workers`.
    """

    def __init__(
        self,
        cfg: ConsortiumConfig,
        identity: X25519Identity,
        vdafs: TaskVdafs,
        workers: int | None = None,
    ) -> None:
        self.workers = default_workers() if workers is None else check_workers(workers)
        self._cfg, self._identity, self._vdafs = cfg, identity, vdafs
        self._executor: ProcessPoolExecutor | None = None

    @property
    def parallel(self) -> bool:
        """Whether work runs on worker processes (else inline, when it is submitted)."""
        return self.workers > 1

    def start(self) -> None:
        """Start every worker now and wait until each is set up (a server calls this at
        start, so its first round pays no spawn; otherwise workers start on first use)."""
        if not self.parallel:
            return
        pool = self._pool()
        for fut in [pool.submit(os.getpid) for _ in range(4 * self.workers)]:
            fut.result()

    def leader_prepare(self, jobs: Sequence[tuple]) -> list[_Guarded | Deferred]:
        """``leader_prepare(md, leader_share, verify_key)`` for each job, started now."""
        return self._submit(leader_prepare, jobs)

    def helper_verify(self, jobs: Sequence[tuple]) -> list[_Guarded | Deferred]:
        """``helper_verify(md, helper_share, verify_key, leader_vs)`` for each job."""
        return self._submit(helper_verify, jobs)

    def _submit(self, step: Callable[..., Any], jobs: Sequence[tuple]) -> list[_Guarded | Deferred]:
        if not self.parallel:
            return [Deferred(step, (self._vdafs, self._identity, *args)) for args in jobs]
        try:
            futures = [self._pool().submit(_in_worker, step, args) for args in jobs]
        except BrokenProcessPool:  # a worker died while idle: nothing was lost, start afresh
            self._broken()
            futures = [self._pool().submit(_in_worker, step, args) for args in jobs]
        return [_Guarded(f, self) for f in futures]

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(self._cfg.to_toml(), self._identity.to_string(), os.getpid()),
            )
        return self._executor

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def _broken(self) -> None:
        """A worker died (killed, out of memory): drop the pool; the next batch starts a
        fresh one, so the Aggregator keeps serving."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


class _Guarded:
    """A worker's future whose failure because the pool broke is a typed, retryable error."""

    def __init__(self, future: Future, pool: VerifyPool) -> None:
        self._future, self._owner = future, pool

    def result(self) -> Any:
        try:
            return self._future.result()
        except BrokenProcessPool as exc:
            self._owner._broken()
            raise ProtocolError("a verify worker died; retry the batch") from exc


class Deferred:
    """The inline path's stand-in for a future: the step runs when its result is first asked
    for, so one report is verified and handed on at a time (no batch of outcomes is held)."""

    def __init__(self, step: Callable[..., Any], args: tuple) -> None:
        self._call: tuple[Callable[..., Any], tuple] | None = (step, args)
        self._value: Any = None

    def result(self) -> Any:
        if self._call is not None:
            step, args = self._call
            self._value, self._call = step(*args), None
        return self._value
