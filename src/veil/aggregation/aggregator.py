"""The Helper's request handlers, and the aggregate-share steps both Aggregators share.

docs/protocol.md §5. Each report's verification is in :mod:`veil.aggregation.verification`
(run on :mod:`veil.aggregation.verify_pool`'s workers when there are several); admission,
pending shares, collect and the audit countersignature are here.
"""

from __future__ import annotations

import math
import struct

import numpy as np

from veil.aggregation.config import ConsortiumConfig
from veil.aggregation.dp import add_noise_to_share, epsilon_matches
from veil.aggregation.messages import (
    CollectRequest,
    Reason,
    VerifyItem,
    VerifyRequest,
    VerifyResult,
    checksum,
    encode_verify_response,
)
from veil.aggregation.report import (
    LEADER_SHARE_HASH_SIZE,
    REPORT_ID_SIZE,
    Reader,
    ReportMetadata,
    open_share,
    signed_message_from_hash,
    verify_key_info,
)
from veil.aggregation.store import StateStore
from veil.aggregation.vdafs import TaskVdafs
from veil.aggregation.verification import (
    HelperVerdict,
    decode_agg_share,
    encode_out_share,
    split_verify_key,
)
from veil.aggregation.verify_pool import VerifyPool
from veil.audit import AuditRecord, helper_countersign, parse_record
from veil.crypto.hpke_keys import X25519Identity
from veil.crypto.signing import Ed25519Identity
from veil.errors import ConfigError, FormatError, IntegrityError, ProtocolError
from veil.faults import failpoint


def sigma_int_per_aggregator(cfg: ConsortiumConfig, vdafs: TaskVdafs) -> float:
    """Each aggregator's discrete Gaussian σ: total σ = z·⌊C·2^f⌋ split in two variances."""
    return cfg.dp.noise_multiplier * vdafs.norm_bound_int / math.sqrt(2)


class HelperCore:
    """The Helper's two handlers, transport-free: bytes in, bytes out (docs/protocol.md §5)."""

    def __init__(
        self,
        cfg: ConsortiumConfig,
        identity: X25519Identity,
        store: StateStore,
        signing: Ed25519Identity | None = None,
        workers: int | None = None,
    ) -> None:
        if identity.recipient() != cfg.helper_hpke:
            raise ProtocolError("this identity is not the consortium's Helper HPKE key")
        if signing is not None and signing.recipient() != cfg.helper_signing:
            raise ConfigError("this signing key is not the consortium's helper.signing key")
        self.signing = signing
        self.cfg = cfg
        self.identity = identity
        self.store = store
        self.vdafs = TaskVdafs.for_config(cfg)
        self.pool = VerifyPool(cfg, identity, self.vdafs, workers)

    def close(self) -> None:
        """Stop the verify workers, if any (the store stays the caller's)."""
        self.pool.close()

    def handle_verify(self, body: bytes) -> bytes:
        """Check and admit each report here, verify the admitted ones (on the worker pool
        when there is one), then store each verdict in the batch's order."""
        req = VerifyRequest.decode(body)
        self._check_task(req.task_id)
        if len(req.items) > self.cfg.max_batch:
            raise FormatError(f"batch larger than max_batch={self.cfg.max_batch}")
        try:
            vk = open_share(
                self.identity, req.verify_key_sealed, verify_key_info(req.task_id, req.round)
            )
            split_verify_key(vk)
        except IntegrityError as exc:
            raise ProtocolError("the verify key does not open") from exc
        self.store.bind_verify_key(req.task_id, req.round, vk)
        admitted = [self._admit(req, item) for item in req.items]
        jobs = [
            (md, item.helper_share, vk, (item.leader_pine_vs, item.leader_weight_vs))
            for item, md in zip(req.items, admitted, strict=True)
            if isinstance(md, ReportMetadata)
        ]
        verdicts = iter(self.pool.helper_verify(jobs))
        results = []
        for md in admitted:
            if isinstance(md, ReportMetadata):
                results.append(self._store_verdict(md, next(verdicts).result()))
            else:
                results.append(md)
            failpoint("helper.verifying", req.round)  # part of the batch is stored
        return encode_verify_response(results)

    def _admit(self, req: VerifyRequest, item: VerifyItem) -> ReportMetadata | VerifyResult:
        """The report's metadata once it passed every check and its id was admitted (the
        store's atomic insert: exactly once), else the rejection to answer with."""
        try:
            r = Reader(item.metadata)
            md = ReportMetadata.read(r)
            r.end()
        except FormatError:
            return VerifyResult(b"", Reason.MALFORMED)
        rid = md.report_id
        if md.task_id != req.task_id:
            return VerifyResult(rid, Reason.WRONG_TASK)
        if md.round != req.round:
            return VerifyResult(rid, Reason.WRONG_ROUND)
        why = self._check_client(md, item)
        if why is not None:
            return VerifyResult(rid, why)
        if not self.store.admit(md.task_id, rid, md.round, md.client_id):
            return VerifyResult(rid, Reason.REPLAYED)
        return md

    def _store_verdict(self, md: ReportMetadata, verdict: HelperVerdict) -> VerifyResult:
        rid = md.report_id
        if verdict.reason is not None:
            self.store.drop_pending(md.task_id, md.round, rid)
            return VerifyResult(rid, verdict.reason)
        self.store.put_pending(md.task_id, md.round, rid, verdict.out_share)
        return VerifyResult(rid, None, verdict.pine_vs, verdict.weight_vs)

    def _check_client(self, md: ReportMetadata, item: VerifyItem) -> Reason | None:
        """The client's own signature, against the key enrolled in this Helper's copy of the
        consortium file: a Leader cannot make up reports (sybils) or alter a client's."""
        key = self.cfg.clients.get(md.client_id)
        if key is None:
            return Reason.UNKNOWN_CLIENT
        if len(item.leader_share_hash) != LEADER_SHARE_HASH_SIZE or len(item.signature) != 64:
            return Reason.BAD_SIGNATURE
        msg = signed_message_from_hash(md, item.leader_share_hash, item.helper_share)
        return None if key.verify(item.signature, msg) else Reason.BAD_SIGNATURE

    def handle_collect(self, body: bytes) -> bytes:
        req = CollectRequest.decode(body)
        self._check_task(req.task_id)
        if len(set(req.report_ids)) != len(req.report_ids):
            raise ProtocolError("duplicate report ids in collect")
        if checksum(req.report_ids) != req.checksum:
            raise ProtocolError("report-id checksum mismatch")
        done = self.store.collected_share(req.task_id, req.round)
        if done is not None:  # a retried collect gets the same (noised) share, never fresh noise
            return done
        if self.store.round_status(req.task_id, req.round) is None:
            raise ProtocolError(f"round {req.round} has no verified reports")
        if len(req.report_ids) < self.cfg.min_reports:
            raise ProtocolError(f"fewer than min_reports={self.cfg.min_reports} reports")
        pending = self.store.pending_ids(req.task_id, req.round)
        if not set(req.report_ids) <= pending:
            raise ProtocolError("collect names a report this Helper did not accept")
        clients = self.store.clients_of(req.task_id, req.round, req.report_ids)
        if len(set(clients)) != len(req.report_ids):  # one report per client per round
            raise ProtocolError("collect names two reports of one client")
        agg = aggregate_out_shares(
            self.vdafs,
            (self.store.load_pending(req.task_id, req.round, rid) for rid in req.report_ids),
        )
        share = noised_share(self.cfg, self.vdafs, agg)
        try:
            self.store.finish_round(
                req.task_id, req.round, share, len(req.report_ids), req.report_ids
            )
        except ProtocolError:
            # another worker of this Aggregator collected the round first: answer with its share
            done = self.store.collected_share(req.task_id, req.round)
            if done is None:
                raise
            return done
        failpoint("helper.collected", req.round)
        return share

    def handle_countersign(self, body: bytes) -> bytes:
        """Countersign one audit record (veil.audit) after checking it against this Helper's
        own view: its task, that ``accepted`` is exactly the set of reports this Helper
        aggregated in that round, and that it extends the last record countersigned here.
        Returns the 64-byte Ed25519 signature; any mismatch is a typed error, no signature.
        """
        if self.signing is None:
            raise ConfigError("this Helper has no audit signing key (helper.signing)")
        try:
            line = body.decode("ascii")
        except UnicodeDecodeError:
            raise FormatError("an audit record is ASCII JSON") from None
        record = parse_record(line)
        if record.leader_sig or record.helper_sig:
            raise FormatError("send the record unsigned")
        if record.task != self.cfg.task_id.hex():
            raise ProtocolError("the record names another task")
        ids = self.store.collected_ids(self.cfg.task_id, record.round, REPORT_ID_SIZE)
        if ids is None:
            raise ProtocolError(f"this Helper collected no round {record.round}")
        if record.accepted != sorted(i.hex() for i in ids):
            raise ProtocolError(
                f"round {record.round}: the accepted reports differ from the "
                f"{len(ids)} this Helper aggregated"
            )
        if set(record.accepted) & {r.report for r in record.rejected}:
            raise ProtocolError("a report is both accepted and rejected")
        if record.unsafe != self.cfg.unsafe_settings():
            raise ProtocolError(
                f"the record must state this task's unsafe settings {self.cfg.unsafe_settings()}"
            )
        self._check_epsilon(record)
        digest = record.digest().hex()
        self.store.advance_audit(self.cfg.task_id, record.prev, record.seq, record.round, digest)
        return helper_countersign(self.signing, record)

    def _check_epsilon(self, record: AuditRecord) -> None:
        """The record's ε must be the accountant's for this task's noise (z, q, δ from the
        Helper's own consortium file) over the rounds this Helper released up to and
        including this one: the Leader cannot understate what was spent."""
        dp = self.cfg.dp
        released = self.store.collected_rounds(self.cfg.task_id, record.round + 1)
        if not epsilon_matches(
            record.epsilon, dp.noise_multiplier, dp.sampling_rate, released, dp.delta
        ):
            raise ProtocolError(
                f"round {record.round}: epsilon {record.epsilon} is not the accountant's value "
                f"for z={dp.noise_multiplier:g}, q={dp.sampling_rate:g} after {released} "
                "released rounds"
            )

    def _check_task(self, task_id: bytes) -> None:
        if task_id != self.cfg.task_id:
            raise FormatError("unknown task")


def aggregate_out_shares(vdafs: TaskVdafs, encoded) -> tuple[np.ndarray, np.ndarray]:
    pine_agg = vdafs.pine.agg_init(None)
    w_agg = vdafs.weight.agg_init(None)
    for data in encoded:
        p, w = decode_agg_share(vdafs, data)
        pine_agg = vdafs.pine.agg_update(None, pine_agg, p)
        w_agg = vdafs.weight.agg_update(None, w_agg, w)
    return pine_agg, w_agg


def noised_share(cfg: ConsortiumConfig, vdafs: TaskVdafs, agg) -> bytes:
    """Add this aggregator's discrete Gaussian noise to the PINE aggregate share (docs/dp.md)."""
    pine_agg, w_agg = agg
    sigma = sigma_int_per_aggregator(cfg, vdafs)
    if sigma > 0:
        pine_agg = add_noise_to_share(vdafs.pine.field, pine_agg, sigma)
    return encode_out_share(vdafs, pine_agg, w_agg)


def u32(n: int) -> bytes:
    return struct.pack(">I", n)
