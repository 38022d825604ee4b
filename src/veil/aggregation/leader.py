"""The Leader: the engine-neutral API the FL layer calls (docs/protocol.md §5).

``VerifiedAggregator.aggregate_round(round, reports) -> RoundResult``: signature, task, round
and replay checks; opens its own shares; runs PINE and Prio3Sum verification with the Helper
in batches; aggregates only reports both accept; collects the Helper's (noised) aggregate
share; decodes and scales by W/D, D the task's fixed public denominator (no total weight is
measured or released: docs/dp.md).
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

import numpy as np

from veil.aggregation.aggregator import noised_share
from veil.aggregation.config import ConsortiumConfig
from veil.aggregation.messages import (
    CollectRequest,
    Reason,
    VerifyItem,
    VerifyRequest,
    checksum,
    decode_verify_response,
)
from veil.aggregation.report import Report, leader_share_hash, seal_share, verify_key_info
from veil.aggregation.store import COLLECTED, SqliteStore, StateStore
from veil.aggregation.transport import HelperTransport
from veil.aggregation.vdafs import TaskVdafs
from veil.aggregation.verification import (
    PINE_VK,
    PRIO3_VK,
    Prepared,
    Rejected,
    decode_agg_share,
    finish,
)
from veil.aggregation.verify_pool import VerifyPool
from veil.crypto.hpke_keys import X25519Identity
from veil.errors import FormatError, ProtocolError
from veil.faults import failpoint


@dataclass
class RoundResult:
    """What one verified round produced; rejections carry a reason, never data."""

    round: int
    aggregate: np.ndarray  # (W/D)·(Σ u_i + noise), u_i = (w_i/W)·clip(Δ_i): Σ w_i·clip(Δ_i)/D
    denominator: float  # D, public (the task's); not a measured total weight
    accepted: list[str]  # client ids
    rejected: list[tuple[str, str]]  # (client id, reason)
    timings: dict[str, float] = field(default_factory=dict)
    bytes_per_client: float = 0.0
    helper_bytes: int = 0
    accepted_ids: list[str] = field(default_factory=list)  # report ids (hex), for the audit log
    rejected_ids: list[tuple[str, str]] = field(default_factory=list)  # (report id hex, reason)


@dataclass
class _Job:
    """A round's collect job: what the Leader stores (sealed) before the Helper releases."""

    ids: list[str]  # accepted report ids, hex, in collect order
    clients: list[str]
    own_share: bytes  # the Leader's noised aggregate share
    rejected: list[tuple[str, str]]
    rejected_ids: list[tuple[str, str]]
    bytes_per_client: float
    helper_bytes: int

    def encode(self) -> bytes:
        data = {**asdict(self), "own_share": self.own_share.hex()}
        return json.dumps(data, sort_keys=True).encode()

    @classmethod
    def decode(cls, data: bytes) -> _Job:
        try:
            d = json.loads(data)
            d["own_share"] = bytes.fromhex(d["own_share"])
            d["rejected"] = [(str(c), str(r)) for c, r in d["rejected"]]
            d["rejected_ids"] = [(str(c), str(r)) for c, r in d["rejected_ids"]]
            return cls(**d)
        except (ValueError, KeyError, TypeError) as exc:
            raise ProtocolError(f"a stored collect job is malformed: {exc}") from None


@dataclass
class _Running:
    """A round's verification so far: running aggregate shares, ids, rejections, bytes."""

    pine_agg: object
    w_agg: object
    ids: list[str] = field(default_factory=list)
    clients: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    rejected_ids: list[tuple[str, str]] = field(default_factory=list)
    nbytes: int = 0
    count: int = 0
    helper_bytes: int = 0

    def add(self, vdafs: TaskVdafs, client: str, rid: bytes, pine_out, w_out) -> None:
        self.pine_agg = vdafs.pine.agg_update(None, self.pine_agg, pine_out)
        self.w_agg = vdafs.weight.agg_update(None, self.w_agg, w_out)
        self.ids.append(rid.hex())
        self.clients.append(client)

    def reject(self, item: Report | bytes | None, reason: Reason) -> None:
        client, rid = _rejection(item, reason)
        self.rejected.append((client, reason.value))
        self.rejected_ids.append((rid, reason.value))


@dataclass
class _Batch:
    """Checked reports whose Leader-side ``verify_init`` has been started."""

    reports: list[Report]
    prepared: list  # each .result(): Prepared, or the Reason it was rejected for


#: rejected before the report's signature was checked: its report id is nobody's word, so
#: the audit log does not record it (a forged copy of an honest report would otherwise put
#: the honest report's id among the rejected ones)
_UNATTESTED = {Reason.MALFORMED, Reason.WRONG_TASK, Reason.UNKNOWN_CLIENT, Reason.BAD_SIGNATURE}


def _rejection(item: Report | bytes | None, reason: Reason) -> tuple[str, str]:
    """(client, report id hex) to record for a rejected report: the claimed client (or "?"
    for bytes that never decoded); the id only once the client's signature vouched for it."""
    if not isinstance(item, Report):
        return "?", "-"
    rid = "-" if reason in _UNATTESTED else item.metadata.report_id.hex()
    return item.metadata.client_id, rid


class VerifiedAggregator:
    """The Leader of one task; ``helper`` is an in-process or HTTP :class:`HelperTransport`."""

    def __init__(
        self,
        cfg: ConsortiumConfig,
        identity: X25519Identity,
        helper: HelperTransport,
        store: StateStore | None = None,
        workers: int | None = None,
    ) -> None:
        if identity.recipient() != cfg.leader_hpke:
            raise ProtocolError("this identity is not the consortium's Leader HPKE key")
        self.cfg = cfg
        self.identity = identity
        self.helper = helper
        self.store = store or SqliteStore(":memory:", identity)
        self.vdafs = TaskVdafs.for_config(cfg)
        self.pool = VerifyPool(cfg, identity, self.vdafs, workers)

    def close(self) -> None:
        """Stop the verify workers, if any."""
        self.pool.close()

    def aggregate_round(self, rnd: int, reports: Iterable[Report | bytes]) -> RoundResult:
        """Verify, collect, unshard one round.

        Crash-safe with a durable store: the round's verify key is stored before first use,
        and the collect job (the accepted ids and the Leader's own noised share) is stored
        before the Helper is asked to release its share. A restarted Leader that redoes the
        round then either verifies afresh (nothing was released) or re-collects exactly the
        first job — the Helper answers a retried collect with the share it stored, so no
        round is ever released twice with different noise (docs/protocol.md §7).
        """
        t0 = time.perf_counter()
        task = self.cfg.task_id
        timings = {"leader_prepare_s": 0.0}
        job = self.store.load_job(task, rnd)
        if job is None:
            vk = self.store.verify_key_for(task, rnd, os.urandom(PINE_VK + PRIO3_VK))
            fresh = self._verify_round(rnd, reports, vk, timings)
            failpoint("leader.verified", rnd)
            self.store.save_job(task, rnd, fresh.encode())
            job = self.store.load_job(task, rnd) or fresh.encode()  # the first job stays
        state = _Job.decode(job)
        t_verify = time.perf_counter()
        ids = [bytes.fromhex(i) for i in state.ids]
        body = CollectRequest(task, rnd, ids, checksum(ids)).encode()
        helper_share = self.helper.collect(body)
        failpoint("leader.collected", rnd)
        self.store.mark_collected(task, rnd)  # released: it counts against the DP budget
        aggregate = self._unshard(state.own_share, helper_share)
        t_end = time.perf_counter()
        return RoundResult(
            round=rnd,
            aggregate=aggregate,
            denominator=self.cfg.fixed_denominator,
            accepted=list(state.clients),
            rejected=[(c, r) for c, r in state.rejected],
            timings={**timings, "verify_s": t_verify - t0, "aggregate_s": t_end - t_verify},
            bytes_per_client=state.bytes_per_client,
            helper_bytes=state.helper_bytes + len(body) + len(helper_share),
            accepted_ids=list(state.ids),
            rejected_ids=[(i, r) for i, r in state.rejected_ids],
        )

    def _verify_round(
        self, rnd: int, reports: Iterable[Report | bytes], vk: bytes, timings: dict[str, float]
    ) -> _Job:
        """The Leader's checks, then PINE and Prio3Sum verification with the Helper, one
        batch of ``max_batch`` at a time, folding each accepted report into a running sum:
        the reports stream through, never all in memory (cross-device rounds). With verify
        workers, batch i+1 is prepared while the Helper verifies batch i (two in flight)."""
        run = _Running(self.vdafs.pine.agg_init(None), self.vdafs.weight.agg_init(None))
        vk_sealed = seal_share(self.cfg.helper_hpke, vk, verify_key_info(self.cfg.task_id, rnd))
        clients_seen: set[str] = set()
        batch: list[Report] = []
        in_flight: deque[_Batch] = deque()
        ahead = 1 if self.pool.parallel else 0  # batches prepared beyond the one verified
        for item in reports:
            t0 = time.perf_counter()
            run.nbytes += len(item) if isinstance(item, bytes) else len(item.encode())
            run.count += 1
            rep: Report | None = None
            try:
                rep = _decoded(item)
                self._check(rep, rnd, clients_seen)
                batch.append(rep)
            except Rejected as rej:
                run.reject(rep, rej.reason)
            timings["leader_prepare_s"] += time.perf_counter() - t0
            if len(batch) == self.cfg.max_batch:
                in_flight.append(self._start_batch(batch, vk))
                batch = []
                while len(in_flight) > ahead:  # with workers, the newest is prepared meanwhile
                    self._verify_batch(rnd, in_flight.popleft(), vk_sealed, run, timings)
        if batch:
            in_flight.append(self._start_batch(batch, vk))
        while in_flight:
            self._verify_batch(rnd, in_flight.popleft(), vk_sealed, run, timings)
        if len(run.ids) < self.cfg.min_reports:
            raise ProtocolError(
                f"round {rnd}: {len(run.ids)} valid reports, min_reports={self.cfg.min_reports} "
                f"(rejected: {run.rejected[:20]}{' …' if len(run.rejected) > 20 else ''})"
            )
        own = noised_share(self.cfg, self.vdafs, (run.pine_agg, run.w_agg))
        # a second copy of an accepted report (resent, or a signed duplicate) is rejected,
        # but its id stays the accepted report's alone
        accepted = set(run.ids)
        rejected_ids = [(i if i not in accepted else "-", why) for i, why in run.rejected_ids]
        return _Job(
            ids=run.ids,
            clients=run.clients,
            own_share=own,
            rejected=run.rejected,
            rejected_ids=rejected_ids,
            bytes_per_client=run.nbytes / run.count if run.count else 0.0,
            helper_bytes=run.helper_bytes,
        )

    def _start_batch(self, batch: list[Report], vk: bytes) -> _Batch:
        """Start the Leader's ``verify_init`` of a checked batch (inline, or on the workers)."""
        jobs = [(rep.metadata, rep.leader_share, vk) for rep in batch]
        return _Batch(batch, self.pool.leader_prepare(jobs))

    def _verify_batch(
        self,
        rnd: int,
        started: _Batch,
        vk_sealed: bytes,
        run: _Running,
        timings: dict[str, float],
    ) -> None:
        """Joint verification of one batch with the Helper; the reports both accept are added
        to the running sums, the others to the rejections."""
        t0 = time.perf_counter()
        batch: list[tuple[Report, Prepared]] = []
        for rep, fut in zip(started.reports, started.prepared, strict=True):
            prep = fut.result()
            if isinstance(prep, Reason):
                run.reject(rep, prep)
            else:
                batch.append((rep, prep))
        timings["leader_prepare_s"] += time.perf_counter() - t0
        if not batch:
            return
        items = [
            VerifyItem(
                rep.metadata.encode(),
                rep.helper_share,
                self.vdafs.pine.encode_verifier_share(p.pine_vs),
                self.vdafs.weight.encode_verifier_share(p.weight_vs),
                leader_share_hash(rep.leader_share),
                rep.signature,
            )
            for rep, p in batch
        ]
        body = VerifyRequest(self.cfg.task_id, rnd, vk_sealed, items).encode()
        resp = self.helper.verify(body)
        run.helper_bytes += len(body) + len(resp)
        results = decode_verify_response(resp)
        if len(results) != len(batch):
            raise ProtocolError("the Helper answered for a different number of reports")
        for (rep, p), res in zip(batch, results, strict=True):
            client, rid = rep.metadata.client_id, rep.metadata.report_id
            if res.report_id != rid:
                raise ProtocolError("the Helper answered out of order")
            try:
                if res.reason is not None:
                    raise Rejected(res.reason)
                pine_out, w_out = finish(
                    self.vdafs, p, (p.pine_vs, p.weight_vs), (res.pine_vs, res.weight_vs)
                )
            except Rejected as rej:
                run.rejected.append((client, rej.reason.value))
                run.rejected_ids.append((rid.hex(), rej.reason.value))
                continue
            run.add(self.vdafs, client, rid, pine_out, w_out)

    def released_result(self, rnd: int) -> RoundResult | None:
        """A released round's ids from its stored collect job, with no aggregate (None: not
        released). A round released but unusable (zero total weight) still spent privacy
        and must be logged: the Helper refuses to countersign past a round left out."""
        job = self.store.load_job(self.cfg.task_id, rnd)
        if job is None or not self.released(rnd):
            return None
        state = _Job.decode(job)
        return RoundResult(
            round=rnd,
            aggregate=np.zeros(0),
            denominator=self.cfg.fixed_denominator,
            accepted=list(state.clients),
            rejected=[(c, r) for c, r in state.rejected],
            accepted_ids=list(state.ids),
            rejected_ids=[(i, r) for i, r in state.rejected_ids],
        )

    def released(self, rnd: int) -> bool:
        """Whether round ``rnd``'s noised sums were collected (what the DP ledger counts)."""
        return self.store.round_status(self.cfg.task_id, rnd) == COLLECTED

    def _check(self, item: Report, rnd: int, clients_seen: set[str]) -> None:
        md = item.metadata
        if md.task_id != self.cfg.task_id:
            raise Rejected(Reason.WRONG_TASK)
        key = self.cfg.clients.get(md.client_id)
        if key is None:
            raise Rejected(Reason.UNKNOWN_CLIENT)
        if not key.verify(item.signature, item.signed_bytes()):
            raise Rejected(Reason.BAD_SIGNATURE)
        if not self.store.admit(md.task_id, md.report_id, md.round, md.client_id):
            raise Rejected(Reason.REPLAYED)
        if md.round != rnd:
            raise Rejected(Reason.WRONG_ROUND)
        if md.client_id in clients_seen:
            raise Rejected(Reason.DUPLICATE)
        clients_seen.add(md.client_id)

    def _unshard(self, own: bytes, helper: bytes) -> np.ndarray:
        """The noised Σu, scaled by W/D. The count slot's shares are not combined: its sum
        would only repeat the number of accepted reports, and nothing depends on it."""
        v = self.vdafs
        lp, _ = decode_agg_share(v, own)
        try:
            hp, _ = decode_agg_share(v, helper)
        except (FormatError, ValueError) as exc:  # released, but unusable: it still counts
            raise ProtocolError(f"the Helper's aggregate share is malformed: {exc}") from None
        return finalize(v, v.pine.merge(None, [lp, hp]), self.cfg)


def _decoded(item: Report | bytes) -> Report:
    if isinstance(item, Report):
        return item
    try:
        return Report.decode(bytes(item))
    except FormatError as exc:
        raise Rejected(Reason.MALFORMED) from exc


def finalize(vdafs: TaskVdafs, summed, cfg: ConsortiumConfig) -> np.ndarray:
    """Fixed-point sum → floats → Σu·W/D (u = w/W·clip(Δ)): DP-FedAvg's fixed-denominator
    estimator (McMahan et al., ICLR 2018). Only the noised Σu is released; W and D are
    public, so each client moves the aggregate by at most C·W/D whatever it claims."""
    floats = np.asarray(vdafs.pine.decode_float_vec(summed), dtype=np.float64)
    return floats * (cfg.max_weight / cfg.fixed_denominator)
