"""Aggregator-side steps shared by Leader and Helper, and the Helper's request handlers.

docs/protocol.md §5. PINE and Prio3Sum run their one verification round exactly as in the
VDAF drafts (``verify_init`` → ``verifier_shares_to_message`` → ``verify_next``); a report
counts only if both aggregators accept it.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

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
    ROLE_HELPER,
    ROLE_LEADER,
    PlaintextInputShare,
    Reader,
    ReportMetadata,
    open_share,
    share_info,
    signed_message_from_hash,
    vdaf_nonce,
    verify_key_info,
)
from veil.aggregation.store import StateStore
from veil.aggregation.vdafs import TaskVdafs
from veil.audit import AuditRecord, helper_countersign, parse_record
from veil.crypto.hpke_keys import X25519Identity
from veil.crypto.signing import Ed25519Identity
from veil.errors import (
    ConfigError,
    FormatError,
    IntegrityError,
    ProtocolError,
    VdafError,
    VerificationFailed,
)
from veil.faults import failpoint

PINE_VK = 16  # Pine64 (VDAF-11 TurboSHAKE) verify key size
PRIO3_VK = 32


class Rejected(Exception):
    def __init__(self, reason: Reason) -> None:
        super().__init__(reason.value)
        self.reason = reason


@dataclass
class Prepared:
    """One report after this aggregator's ``verify_init`` for both VDAFs."""

    report_id: bytes
    pine_state: object
    pine_vs: object
    weight_state: object
    weight_vs: object


def split_verify_key(vk: bytes) -> tuple[bytes, bytes]:
    if len(vk) != PINE_VK + PRIO3_VK:
        raise FormatError("verify key has the wrong length")
    return vk[:PINE_VK], vk[PINE_VK:]


def prepare(
    vdafs: TaskVdafs,
    agg_id: int,
    identity: X25519Identity,
    md: ReportMetadata,
    sealed_share: bytes,
    verify_key: bytes,
) -> Prepared:
    """Open this aggregator's share and run ``verify_init`` for PINE and Prio3Sum."""
    role = ROLE_LEADER if agg_id == 0 else ROLE_HELPER
    bad = Reason.LEADER_SHARE_INVALID if agg_id == 0 else Reason.HELPER_SHARE_INVALID
    pine_vk, w_vk = split_verify_key(verify_key)
    nonce = vdaf_nonce(md.task_id, md.round, md.report_id)
    try:
        plain = PlaintextInputShare.decode(open_share(identity, sealed_share, share_info(md, role)))
        pine_share = vdafs.pine.decode_input_share(agg_id, plain.pine)
        w_share = vdafs.weight.decode_input_share(agg_id, plain.weight)
        pine_pub = vdafs.pine.decode_public_share(md.pine_public_share)
    except (IntegrityError, FormatError, VdafError) as exc:
        raise Rejected(bad) from exc
    try:
        ps, pvs = vdafs.pine.verify_init(pine_vk, agg_id, None, nonce, pine_pub, pine_share)
    except VdafError as exc:
        raise Rejected(Reason.UPDATE_INVALID) from exc
    try:
        w_pub = vdafs.weight.decode_public_share(md.weight_public_share)
        ws, wvs = vdafs.weight.verify_init(w_vk, vdafs.ctx, agg_id, None, nonce, w_pub, w_share)
    except VdafError as exc:
        raise Rejected(Reason.WEIGHT_INVALID) from exc
    return Prepared(md.report_id, ps, pvs, ws, wvs)


def finish(vdafs: TaskVdafs, prep: Prepared, leader_vs: tuple, helper_vs: tuple):
    """Combine both verifier shares and run ``verify_next``: (pine out, weight out) or Rejected."""
    pine, w = vdafs.pine, vdafs.weight
    try:
        lp = (
            leader_vs[0]
            if not isinstance(leader_vs[0], bytes)
            else pine.decode_verifier_share(leader_vs[0])
        )
        hp = (
            helper_vs[0]
            if not isinstance(helper_vs[0], bytes)
            else pine.decode_verifier_share(helper_vs[0])
        )
        msg = pine.verifier_shares_to_message(None, [lp, hp])
        pine_out = pine.verify_next(prep.pine_state, msg)
    except (VerificationFailed, VdafError) as exc:
        raise Rejected(Reason.UPDATE_INVALID) from exc
    try:
        wmsg = w.verifier_shares_to_message(vdafs.ctx, None, [leader_vs[1], helper_vs[1]])
        w_out = w.verify_next(vdafs.ctx, prep.weight_state, wmsg)
    except (VerificationFailed, VdafError) as exc:
        raise Rejected(Reason.WEIGHT_INVALID) from exc
    return pine_out, w_out


def encode_out_share(vdafs: TaskVdafs, pine_out, w_out) -> bytes:
    return vdafs.pine.encode_agg_share(pine_out) + vdafs.weight.encode_agg_share(w_out)


def decode_agg_share(vdafs: TaskVdafs, data: bytes):
    n = vdafs.pine.OUTPUT_LEN * vdafs.pine.field.ENCODED_SIZE
    if len(data) <= n:
        raise FormatError("aggregate share too short")
    return vdafs.pine.decode_agg_share(data[:n]), vdafs.weight.decode_agg_share(None, data[n:])


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

    def handle_verify(self, body: bytes) -> bytes:
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
        results = []
        for item in req.items:
            results.append(self._verify_one(req, item, vk))
            failpoint("helper.verifying", req.round)  # part of the batch is stored
        return encode_verify_response(results)

    def _verify_one(self, req: VerifyRequest, item, vk: bytes) -> VerifyResult:
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
        try:
            prep = prepare(self.vdafs, 1, self.identity, md, item.helper_share, vk)
            pine_out, w_out = finish(
                self.vdafs,
                prep,
                (item.leader_pine_vs, item.leader_weight_vs),
                (prep.pine_vs, prep.weight_vs),
            )
        except Rejected as rej:
            self.store.drop_pending(md.task_id, md.round, rid)
            return VerifyResult(rid, rej.reason)
        self.store.put_pending(
            md.task_id, md.round, rid, encode_out_share(self.vdafs, pine_out, w_out)
        )
        return VerifyResult(
            rid,
            None,
            self.vdafs.pine.encode_verifier_share(prep.pine_vs),
            self.vdafs.weight.encode_verifier_share(prep.weight_vs),
        )

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
