"""One report's verification at one Aggregator: the CPU-bound steps, free of any state store.

docs/protocol.md §5. PINE and Prio3Sum run their one verification round exactly as in the
VDAF drafts (``verify_init`` → ``verifier_shares_to_message`` → ``verify_next``); a report
counts only if both aggregators accept it. These functions touch no database and no network,
so :mod:`veil.aggregation.verify_pool` can run them in worker processes while admission
(replay protection) stays in the Aggregator's own process.
"""

from __future__ import annotations

from dataclasses import dataclass

from veil.aggregation.messages import Reason
from veil.aggregation.report import (
    ROLE_HELPER,
    ROLE_LEADER,
    PlaintextInputShare,
    ReportMetadata,
    open_share,
    share_info,
    vdaf_nonce,
)
from veil.aggregation.vdafs import TaskVdafs
from veil.crypto.hpke_keys import X25519Identity
from veil.errors import FormatError, IntegrityError, VdafError, VerificationFailed

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


@dataclass(frozen=True)
class HelperVerdict:
    """The Helper's outcome for one report: a reason, or its encoded output share and the
    encoded verifier shares it answers the Leader with (bytes only: it crosses processes)."""

    reason: Reason | None
    out_share: bytes = b""
    pine_vs: bytes = b""
    weight_vs: bytes = b""


def helper_verify(
    vdafs: TaskVdafs,
    identity: X25519Identity,
    md: ReportMetadata,
    helper_share: bytes,
    verify_key: bytes,
    leader_vs: tuple[bytes, bytes],
) -> HelperVerdict:
    """Open the Helper's share, ``verify_init``, combine with the Leader's verifier shares
    and ``verify_next``: the Helper's whole per-report computation (§5)."""
    try:
        prep = prepare(vdafs, 1, identity, md, helper_share, verify_key)
        pine_out, w_out = finish(vdafs, prep, leader_vs, (prep.pine_vs, prep.weight_vs))
    except Rejected as rej:
        return HelperVerdict(rej.reason)
    return HelperVerdict(
        None,
        encode_out_share(vdafs, pine_out, w_out),
        vdafs.pine.encode_verifier_share(prep.pine_vs),
        vdafs.weight.encode_verifier_share(prep.weight_vs),
    )


def leader_prepare(
    vdafs: TaskVdafs,
    identity: X25519Identity,
    md: ReportMetadata,
    leader_share: bytes,
    verify_key: bytes,
) -> Prepared | Reason:
    """:func:`prepare` for the Leader, with a rejection as a value (it crosses processes)."""
    try:
        return prepare(vdafs, 0, identity, md, leader_share, verify_key)
    except Rejected as rej:
        return rej.reason
