"""Verified aggregation inside federated training (the embedded runner's server side).

:class:`SecureAggregation` is what ``veil demo finance --secure`` plugs into
``veil.fl.runner.run_federated``: each client's update becomes a signed, HPKE-sealed PINE
report built on the client's side (:class:`ReportBuilder`); the Leader verifies them with a
Helper running as a separate process on 127.0.0.1; only the verified, noised aggregate reaches
the server optimiser.

Each client's report comes from a :data:`ReportFactory` (by default the honest client library)
and each verified round may be shown to :data:`RoundObserver` callbacks: that is how a test kit
(:mod:`veil.aggregation.testing`) composes hostile clients and an exactness oracle into the
round without the round path knowing of either.

The round engine (:mod:`veil.fl.engine`) drives it: its in-process client pool calls
:meth:`LazySecureAggregation.seal` for each client's update (in a real deployment the clients
build their reports themselves, as Flower's SuperNodes do; in this one-process simulation the
bridge plays each client's part, and never hands a plaintext update to the Leader), and
:class:`veil.fl.verified.VerifiedAggregation` calls ``aggregate``, ``released`` and
``log_round``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from veil.aggregation.client import ReportBuilder
from veil.aggregation.config import ConsortiumConfig
from veil.aggregation.dp import (
    Accounting,
    PrivacyLedger,
    calibrate_noise_multiplier,
    client_privacy,
)
from veil.aggregation.leader import RoundResult, VerifiedAggregator
from veil.aggregation.process import HelperProcess
from veil.aggregation.report import Report
from veil.aggregation.round_audit import audited_round, log_verified_round, open_log
from veil.aggregation.spool import ReportSpool
from veil.aggregation.store import SqliteStore
from veil.aggregation.task_state import TASK_STATE, StateKeys, TaskKeys, task_keys
from veil.aggregation.transport import HttpHelper
from veil.aggregation.vdafs import TaskVdafs
from veil.audit import AuditLog, load_keys, verify_log
from veil.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    ProtocolError,
)

#: builds one client's report from (round, the client's builder, Δ, weight)
ReportFactory = Callable[[int, ReportBuilder, np.ndarray, int], Report]
#: extra fields for a round's record, from the task and the verified round's result
RoundObserver = Callable[[ConsortiumConfig, RoundResult], dict]


def honest_report(rnd: int, builder: ReportBuilder, delta: np.ndarray, weight: int) -> Report:
    """The default :data:`ReportFactory`: the client library's own report."""
    return builder.build(rnd, delta, weight)


@dataclass
class SecureOptions:
    """What a verified-aggregation task is started with (neutral defaults: no noise unless
    ``noise_multiplier`` or ``target_epsilon`` is given)."""

    clip_norm: float = 1.0
    noise_multiplier: float | None = None  # None: from target_epsilon, or 0 (noise off)
    target_epsilon: float | None = None
    delta: float = 1e-5
    max_weight: int = 1 << 16
    #: D, the fixed public denominator (``[task] denominator``); None: N·W (docs/dp.md)
    denominator: float | None = None
    min_reports: int = 1
    #: q, the rate at which a cross-device pool Poisson-samples its devices each round: the
    #: client-level accountant's amplification by sampling (1.0: every client, every round)
    sampling_rate: float = 1.0
    accounting: Accounting = Accounting.RDP
    #: calibrate ``target_epsilon`` so it holds against either Aggregator (z·√2), not only
    #: against outsiders (docs/dp.md, *Calibration*)
    against_one_aggregator: bool = False
    #: processes each Aggregator verifies reports on (docs/protocol.md §7.2); None: the
    #: ``VEIL_VERIFY_WORKERS`` environment variable, else 1
    verify_workers: int | None = None

    def resolve_noise(self, rounds: int) -> float:
        if self.noise_multiplier is not None and self.target_epsilon is not None:
            raise ConfigError("give --noise-multiplier or --target-epsilon, not both")
        if self.noise_multiplier is not None:
            return float(self.noise_multiplier)
        if self.target_epsilon is not None:
            return calibrate_noise_multiplier(
                self.target_epsilon,
                self.delta,
                self.sampling_rate,
                rounds,
                self.accounting,
                against_one_aggregator=self.against_one_aggregator,
            )
        return 0.0


@dataclass
class SecureAggregation:
    cfg: ConsortiumConfig
    leader: VerifiedAggregator
    builders: dict[str, ReportBuilder]
    ledger: PrivacyLedger
    helper: HelperProcess | None = None
    http: HttpHelper | None = None
    audit: AuditLog | None = None
    helper_restarts: int = 0
    #: builds each client's report (a test kit may swap in hostile clients)
    make_report: ReportFactory = honest_report
    #: shown every verified round; what they return is added to the round's record
    observers: Sequence[RoundObserver] = ()
    _restarts_noted: int = 0

    # ----- set-up ----------------------------------------------------------------------------
    @classmethod
    def start(
        cls,
        folder: Path,
        client_names: list[str],
        dimension: int,
        rounds: int,
        opts: SecureOptions,
        audit_path: Path | None = None,
        *,
        keyring: StateKeys | None = None,
        resume: bool = False,
        first_round: int = 1,
        task_id: bytes | None = None,
        make_report: ReportFactory = honest_report,
        observers: Sequence[RoundObserver] = (),
    ) -> SecureAggregation:
        """Keys for the Leader, the Helper and every client; consortium.toml; the Helper
        process on a free loopback port; the audit log at ``audit_path`` (if given), its
        records signed by the Leader and countersigned by the Helper process.

        ``keyring``: who the task state is sealed to, opened with and signed by; with
        ``resume`` an existing ``task.sealed`` signed by its key is taken up again
        (docs/protocol.md §7). ``task_id`` fixes a new task's id (and is checked against a
        resumed one), so that the checkpoint can be bound to the task before it starts.
        ``make_report`` and ``observers``: see the class.
        """
        folder = Path(folder)
        keys = task_keys(folder, client_names, dimension, keyring, resume)
        if keys is not None and task_id is not None and keys.cfg.task_id != task_id:
            raise CheckpointError("the task state changed while this run was starting")
        if keys is None:
            z = opts.resolve_noise(rounds)
            keys = TaskKeys.generate(client_names, dimension, opts, z, task_id=task_id)
            if keyring is not None:
                keys.save(folder / TASK_STATE, keyring)
        cfg = keys.cfg
        helper = HelperProcess(
            folder, cfg, keys.helper_hpke, _port(cfg), signing=keys.helper_sig,
            workers=opts.verify_workers,
        )  # fmt: skip
        helper.start()
        http = HttpHelper(cfg.helper_endpoint, cfg.task_id, keys.leader_sig, helper=cfg.helper_hpke)
        audit = None if audit_path is None else open_log(audit_path, keys.leader_sig, cfg, http)
        store = SqliteStore(folder / "leader.sqlite", keys.leader_hpke)
        leader = VerifiedAggregator(cfg, keys.leader_hpke, http, store, opts.verify_workers)
        return cls(
            cfg=cfg,
            leader=leader,
            builders={n: ReportBuilder(cfg, n, k) for n, k in keys.clients.items()},
            ledger=_ledger(cfg, opts.accounting, store, first_round),
            helper=helper,
            http=http,
            audit=audit,
            make_report=make_report,
            observers=tuple(observers),
        )

    def close(self) -> None:
        self.leader.close()
        if self.http is not None:
            self.http.close()
        if self.helper is not None:
            self.helper.stop()

    # ----- one round (veil.fl.verified.VerifiedBackend) --------------------------------------
    def prepare(self, dimension: int, first_round: int) -> None:
        """Already started (:meth:`start`): the model must fit the task."""
        if dimension != self.cfg.dimension:
            raise ConfigError(f"the task is for {self.cfg.dimension} parameters, not {dimension}")

    def seal(self, rnd: int, client: str, global_vec: np.ndarray, update: object) -> bytes:
        """The client mod's part, played in-process: the bytes ``client`` sends, its signed,
        sealed report of its update (DataError/VdafError when the client's library refuses
        to build one)."""
        b = self.builders.get(client)
        if b is None:
            raise ConfigError(f"{client} is not enrolled in this task")
        delta, weight = _delta_and_weight(
            update, np.asarray(global_vec, np.float64), b.cfg.max_weight
        )
        return self.make_report(rnd, b, delta, weight).encode()

    def aggregate(self, rnd: int, reports: Iterable) -> RoundResult:
        """Verify and aggregate with the Helper (restarted once if its process died: the
        round's reports are spooled to a temporary file so that the retry reads them again,
        never all in memory)."""
        if self.helper is None:
            return self.leader.aggregate_round(rnd, reports)
        with ReportSpool(reports) as spool:
            return self._with_helper(lambda: self.leader.aggregate_round(rnd, spool))

    def released(self, rnd: int) -> RoundResult | None:
        return self.leader.released_result(rnd) if self.leader.released(rnd) else None

    def round_notes(self, result: RoundResult) -> dict:
        notes: dict = {}
        if self.helper_restarts > self._restarts_noted:
            notes["helper_restarts"] = self.helper_restarts - self._restarts_noted
            self._restarts_noted = self.helper_restarts
        for observe in self.observers:
            notes.update(observe(self.cfg, result))
        return notes

    def log_round(
        self,
        rnd: int,
        before: np.ndarray,
        result: RoundResult,
        eps: float | None,
        after: np.ndarray,
    ) -> int | None:
        """Append round ``rnd``'s audit record, restarting a dead Helper once."""
        round_ = (rnd, before, result, eps)
        return log_verified_round(self.audit, self.cfg, round_, after, self._with_helper)

    def _with_helper(self, call):
        """``call()``; if it fails because the Helper process died, start the Helper again
        on its durable state and retry once (its SQLite state keeps the round: a retried
        verify is admitted as a retry, a retried collect gets the stored share)."""
        try:
            return call()
        except ProtocolError:
            if self.helper is None or self.helper.alive:
                raise
        self.helper.restart()
        self.helper_restarts += 1
        return call()

    def privacy(self) -> dict:
        return client_privacy(self.cfg.dp.noise_multiplier, self.cfg.clip_norm, self.ledger)

    def describe(self) -> dict:
        return _describe(self.cfg, self.leader.vdafs.num_frac_bits)


def _delta_and_weight(upd: object, g: np.ndarray, max_weight: int) -> tuple[np.ndarray, int]:
    """The client's Δ (float64) and its weight capped at W; DataError when the update is
    not a vector of the model's size with an integer sample count (the runner hands the
    updates over unchecked)."""
    vec, n = getattr(upd, "vector", None), getattr(upd, "num_examples", None)
    if not isinstance(vec, np.ndarray) or vec.shape != g.shape or vec.dtype.kind != "f":
        raise DataError("the update is not a float vector of the model's size")
    if not isinstance(n, int | np.integer) or isinstance(n, bool):
        raise DataError("the update's sample count is not an integer")
    return vec.astype(np.float64) - g, min(int(n), max_weight)


def _ledger(
    cfg: ConsortiumConfig, accounting: Accounting, store: SqliteStore, first_round: int
) -> PrivacyLedger:
    """The task's ε ledger; the rounds an earlier process of this task released (before
    ``first_round``) count against the budget."""
    ledger = PrivacyLedger(cfg.dp.noise_multiplier, cfg.dp.sampling_rate, cfg.dp.delta, accounting)
    ledger.rounds = store.collected_rounds(cfg.task_id, first_round)
    return ledger


def _describe(cfg: ConsortiumConfig, num_frac_bits: int) -> dict:
    return {
        "vdaf": "Pine64 (draft-chen-cfrg-vdaf-pine-02) + Prio3Sum report count",
        "num_frac_bits": num_frac_bits,
        "clip_norm": cfg.clip_norm,
        "max_weight": cfg.max_weight,
        "denominator": cfg.fixed_denominator,
        "helper": cfg.helper_endpoint,
    }


def _finite(eps: float) -> float | None:
    return eps if math.isfinite(eps) else None


def _port(cfg: ConsortiumConfig) -> int:
    return int(cfg.helper_endpoint.rsplit(":", 1)[1])


class LazySecureAggregation:
    """Starts :class:`SecureAggregation` on the first round, when the model size is known.

    What ``veil demo finance --secure`` hands the runner: the
    :class:`veil.fl.verified.VerifiedBackend` of the round engine, its client mod's ``seal``,
    and ``privacy()``, ``describe()``, ``close()`` for the report. ``make_report`` and
    ``observers`` are passed on to :meth:`SecureAggregation.start`.
    """

    def __init__(
        self,
        folder: Path,
        client_names: list[str],
        rounds: int,
        opts: SecureOptions,
        audit_path: Path | None = None,
        *,
        keyring: StateKeys | None = None,
        resume: bool = False,
        make_report: ReportFactory = honest_report,
        observers: Sequence[RoundObserver] = (),
    ) -> None:
        self.folder, self.names, self.rounds, self.opts = Path(folder), client_names, rounds, opts
        self.audit_path, self.keyring, self.resume = audit_path, keyring, resume
        self.make_report, self.observers = make_report, tuple(observers)
        self.inner: SecureAggregation | None = None
        self._done: tuple[ConsortiumConfig, PrivacyLedger] | None = None
        self._resumed: TaskKeys | None = None
        self._task_id: bytes | None = None

    def task_id(self) -> bytes:
        """The task's id before its first round: the signed task state's on resume, else a
        fresh one the task will be created with (the checkpoint is bound to it)."""
        if self._task_id is None:
            resumed = self._resumed_task()
            self._task_id = os.urandom(32) if resumed is None else resumed.cfg.task_id
        return self._task_id

    def audited_round(self) -> int:
        """The last round this task's audit log holds (0 if none, or if it is not this
        task's): signed by the Leader and countersigned by the Helper, it pins how far the
        run got, so an older checkpoint put back is noticed (rollback)."""
        resumed = self._resumed_task()
        return 0 if resumed is None else audited_round(self.audit_path, resumed.cfg)

    def _resumed_task(self) -> TaskKeys | None:
        """The signed task state an earlier process left (resume), verified once."""
        path = self.folder / TASK_STATE
        if not (self.resume and self.keyring is not None and path.exists()):
            return None
        if self._resumed is None:
            self._resumed = TaskKeys.load(path, self.keyring)
        return self._resumed

    # ----- veil.fl.verified.VerifiedBackend --------------------------------------------------
    def prepare(self, dimension: int, first_round: int) -> None:
        """Start the task (keys, Helper process, audit log) for a model of ``dimension``."""
        if self.inner is None:
            self.inner = SecureAggregation.start(
                self.folder,
                self.names,
                dimension,
                self.rounds,
                self.opts,
                self.audit_path,
                keyring=self.keyring,
                resume=self.resume,
                first_round=first_round,
                task_id=self.task_id(),
                make_report=self.make_report,
                observers=self.observers,
            )

    def _started(self) -> SecureAggregation:
        if self.inner is None:
            raise ProtocolError("the verified-aggregation task has not started")
        return self.inner

    @property
    def cfg(self) -> ConsortiumConfig:
        return self._started().cfg

    @property
    def ledger(self) -> PrivacyLedger:
        return self._started().ledger

    def seal(self, rnd: int, client: str, global_vec: np.ndarray, update: object) -> bytes:
        self.prepare(int(np.asarray(global_vec).size), rnd)
        return self._started().seal(rnd, client, global_vec, update)

    def aggregate(self, rnd: int, reports: Iterable) -> RoundResult:
        return self._started().aggregate(rnd, reports)

    def released(self, rnd: int) -> RoundResult | None:
        return self._started().released(rnd)

    def round_notes(self, result: RoundResult) -> dict:
        return self._started().round_notes(result)

    def log_round(
        self,
        rnd: int,
        before: np.ndarray,
        result: RoundResult,
        eps: float | None,
        after: np.ndarray,
    ) -> int | None:
        return self._started().log_round(rnd, before, result, eps, after)

    # ----- what report.json says ---------------------------------------------------------------
    def audit_summary(self) -> dict | None:
        """What report.json links: the log's file name and its number of records."""
        if self.inner is not None and self.inner.audit is not None:
            log = self.inner.audit
            return {"log": log.path.name, "records": len(log.records())}
        if self.inner is None and self._finished() is not None and self.audit_path is not None:
            path = Path(self.audit_path)
            if path.exists():
                return {"log": path.name, "records": len(verify_log(path, *load_keys(path)))}
        return None

    def privacy(self) -> dict:
        """The bridge's summary (:func:`veil.aggregation.dp.client_privacy`), also for a
        resumed run with no round left (from the task state and the Leader's store)."""
        if self.inner is not None:
            return self.inner.privacy()
        done = self._finished()
        if done is None:
            return client_privacy(None, None, None)
        cfg, ledger = done
        return client_privacy(cfg.dp.noise_multiplier, cfg.clip_norm, ledger)

    def describe(self) -> dict:
        if self.inner is not None:
            return self.inner.describe()
        done = self._finished()
        if done is None:
            return {}
        cfg = done[0]
        return _describe(cfg, TaskVdafs.for_config(cfg).num_frac_bits)

    def _finished(self) -> tuple[ConsortiumConfig, PrivacyLedger] | None:
        """A resumed run with no round left to run: its task and ε, read back from the
        sealed task state and the Leader's store (no Helper is started for that)."""
        keys = self._resumed_task()
        if keys is None:
            return None
        if self._done is None:
            store = SqliteStore(self.folder / "leader.sqlite", keys.leader_hpke)
            try:
                ledger = _ledger(keys.cfg, self.opts.accounting, store, self.rounds + 1)
            finally:
                store.close()
            self._done = (keys.cfg, ledger)
        return self._done

    def close(self) -> None:
        if self.inner is not None:
            self.inner.close()
