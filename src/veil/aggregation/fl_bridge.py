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

The runner calls ``round(r, global_vec, updates)`` with every client's raw update (in a real
deployment the clients would call :meth:`ReportBuilder.build` themselves; in this one-process
simulation the bridge plays each client's part, and never hands a plaintext update to the
Leader).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
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
from veil.aggregation.round_audit import open_log, round_fields, vec_hash
from veil.aggregation.store import SqliteStore
from veil.aggregation.task_state import TASK_STATE, StateKeys, TaskKeys, task_keys
from veil.aggregation.transport import HttpHelper
from veil.aggregation.vdafs import TaskVdafs
from veil.audit import AuditLog, AuditRecord, load_keys, verify_log
from veil.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    IntegrityError,
    ProtocolError,
    VeilError,
)
from veil.faults import failpoint

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
    accounting: Accounting = Accounting.RDP
    #: calibrate ``target_epsilon`` so it holds against either Aggregator (z·√2), not only
    #: against outsiders (docs/dp.md, *Calibration*)
    against_one_aggregator: bool = False

    def resolve_noise(self, rounds: int, sampling_rate: float = 1.0) -> float:
        if self.noise_multiplier is not None and self.target_epsilon is not None:
            raise ConfigError("give --noise-multiplier or --target-epsilon, not both")
        if self.noise_multiplier is not None:
            return float(self.noise_multiplier)
        if self.target_epsilon is not None:
            return calibrate_noise_multiplier(
                self.target_epsilon,
                self.delta,
                sampling_rate,
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
    _pending: dict | None = None  # this round's audit fields, until the new model is known

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
        helper = HelperProcess(folder, cfg, keys.helper_hpke, _port(cfg), signing=keys.helper_sig)
        helper.start()
        http = HttpHelper(cfg.helper_endpoint, cfg.task_id, keys.leader_sig, helper=cfg.helper_hpke)
        audit = None if audit_path is None else open_log(audit_path, keys.leader_sig, cfg, http)
        store = SqliteStore(folder / "leader.sqlite", keys.leader_hpke)
        leader = VerifiedAggregator(cfg, keys.leader_hpke, http, store)
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
        if self.http is not None:
            self.http.close()
        if self.helper is not None:
            self.helper.stop()

    # ----- one round --------------------------------------------------------------------------
    def round(self, rnd: int, global_vec: np.ndarray, updates: list[tuple[str, object]]):
        """Verified aggregation of one round: (new global vector or None, record fields)."""
        self.commit(rnd - 1, global_vec)  # a round the caller did not commit: model as it is now
        g = np.asarray(global_vec, dtype=np.float64)
        reports, refused, shard_s = self._client_reports(rnd, g, updates)
        record: dict = {"secure": True}
        restarts = self.helper_restarts
        try:
            res = self._with_helper(lambda: self.leader.aggregate_round(rnd, reports))
        except ProtocolError as exc:
            if self.leader.released(rnd):  # released but unusable: it still counts
                self.ledger.step()
                self._log_released(rnd, global_vec)
            record.update(
                accepted=[], rejected=[*refused, {"client": "*", "reason": str(exc)[:200]}],
                epsilon=_finite(self.ledger.epsilon),
            )  # fmt: skip
            return None, record
        eps = self.ledger.step()
        record.update(
            accepted=res.accepted,
            rejected=refused + [{"client": c, "reason": r} for c, r in res.rejected],
            epsilon=_finite(eps),
            bytes_per_client=res.bytes_per_client,
            helper_bytes=res.helper_bytes,
            denominator=res.denominator,
            time_split={
                "shard": round(shard_s, 4),
                "verify": round(res.timings["verify_s"], 4),
                "aggregate": round(res.timings["aggregate_s"], 4),
            },
        )
        if self.helper_restarts > restarts:
            record["helper_restarts"] = self.helper_restarts - restarts
        for observe in self.observers:
            record.update(observe(self.cfg, res))
        if self.audit is not None:
            self._pending = round_fields(rnd, global_vec, res, record["epsilon"], self.cfg)
        return (g + res.aggregate).astype(np.float32), record

    def _log_released(self, rnd: int, global_vec: np.ndarray) -> None:
        """Stage the audit record of a round released but unusable (the model stays as it
        is): the Helper countersigns no later round until every released one is logged."""
        released = self.leader.released_result(rnd)
        if self.audit is not None and released is not None:
            eps = _finite(self.ledger.epsilon)
            self._pending = round_fields(rnd, global_vec, released, eps, self.cfg)

    def commit(self, rnd: int, global_vec: np.ndarray) -> None:
        """Append round ``rnd``'s audit record, now that the new global model is known
        (the caller's server step may transform the verified aggregate, e.g. FedAdam)."""
        pending, self._pending = self._pending, None
        if self.audit is None or pending is None or pending["round"] != rnd:
            self._pending = pending
            return
        after = vec_hash(global_vec)
        logged = self.audit.records()
        if logged and logged[-1].round >= rnd:
            _check_logged(logged[-1], pending, after)
            return  # the process this one resumed logged this very round before it died
        self._with_helper(
            lambda: self.audit.append(
                task=self.cfg.task_id.hex(), model_after=after, existing=logged, **pending
            )
        )
        failpoint("leader.audited", rnd)

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

    def _client_reports(self, rnd: int, g: np.ndarray, updates: list[tuple[str, object]]):
        """Each client's part: (reports, refused, seconds)."""
        reports, refused = [], []
        shard_s = 0.0
        for name, upd in updates:
            b = self.builders.get(name)
            if b is None:
                refused.append({"client": name, "reason": "unknown_client"})
                continue
            t = time.perf_counter()
            try:
                delta, weight = _delta_and_weight(upd, g, self.cfg.max_weight)
                reports.append(self.make_report(rnd, b, delta, weight))
            except VeilError as exc:
                # the client's own library refused to build a report (DataError: NaN, a bad
                # weight or shape; VdafError: PINE could not encode or shard the update)
                refused.append({"client": name, "reason": f"client refused: {type(exc).__name__}"})
            finally:
                shard_s += time.perf_counter() - t
        return reports, refused, shard_s

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
    ledger = PrivacyLedger(cfg.dp.noise_multiplier, 1.0, cfg.dp.delta, accounting)
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


def _check_logged(last: AuditRecord, pending: dict, model_after: str) -> None:
    """The log already holds this round (a resumed run): it must be what this run computed."""
    same = (
        last.round == pending["round"]
        and last.model_before == pending["model_before"]
        and last.model_after == model_after
        and last.accepted == sorted(pending["accepted"])
    )
    if not same:
        raise IntegrityError(
            f"the audit log already holds round {last.round}, which this run's round "
            f"{pending['round']} does not reproduce"
        )


def _port(cfg: ConsortiumConfig) -> int:
    return int(cfg.helper_endpoint.rsplit(":", 1)[1])


class LazySecureAggregation:
    """Starts :class:`SecureAggregation` on the first round, when the model size is known.

    What ``veil demo finance --secure`` hands the runner: ``round(r, vec, updates)``,
    ``privacy()``, ``describe()``, ``close()``. ``make_report`` and ``observers`` are passed
    on to :meth:`SecureAggregation.start`.
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
        if resumed is None or self.audit_path is None or not Path(self.audit_path).exists():
            return 0
        cfg = resumed.cfg
        if cfg.helper_signing is None:
            return 0
        try:
            records = verify_log(self.audit_path, cfg.leader_signing, cfg.helper_signing)
        except VeilError:
            return 0  # another task's or a damaged log: open_log moves it aside as before
        return max((r.round for r in records if r.task == cfg.task_id.hex()), default=0)

    def _resumed_task(self) -> TaskKeys | None:
        """The signed task state an earlier process left (resume), verified once."""
        path = self.folder / TASK_STATE
        if not (self.resume and self.keyring is not None and path.exists()):
            return None
        if self._resumed is None:
            self._resumed = TaskKeys.load(path, self.keyring)
        return self._resumed

    def round(self, rnd: int, global_vec: np.ndarray, updates: list[tuple[str, object]]):
        if self.inner is None:
            self.inner = SecureAggregation.start(
                self.folder,
                self.names,
                int(np.asarray(global_vec).size),
                self.rounds,
                self.opts,
                self.audit_path,
                keyring=self.keyring,
                resume=self.resume,
                first_round=rnd,
                task_id=self.task_id(),
                make_report=self.make_report,
                observers=self.observers,
            )
        return self.inner.round(rnd, global_vec, updates)

    def commit(self, rnd: int, global_vec: np.ndarray) -> None:
        if self.inner is not None:
            self.inner.commit(rnd, global_vec)

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
