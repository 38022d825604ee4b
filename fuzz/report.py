"""Fuzz the aggregation reports and the Leader ↔ Helper messages (docs/protocol.md §3, §5).

A fuzz input is ``selector byte || message``; the selector picks what reads the message:

0. a client report: the Leader's whole path, ``VerifiedAggregator.aggregate_round`` with an
   in-process Helper (``Report.decode``, task / client / signature / replay / round checks,
   HPKE opening, PINE and Prio3Sum verification with the Helper, collection, unsharding);
1. a ``VerifyRequest``: ``HelperCore.handle_verify`` (decode, verify-key opening, metadata
   checks, the Helper's preparation of each report against the Leader's verifier shares);
2. a ``CollectRequest``: ``HelperCore.handle_collect`` on a Helper holding one verified report;
3. a verify response: ``decode_verify_response`` and the Leader's ``finish`` of the genuine
   report with the Helper's verifier shares it carries.

Only ``VeilError`` subclasses may come out. Oracle: a report (or verify item, or verifier
share) accepted must be a genuine one from :func:`setup`, byte for byte, and what is released
for it must equal the genuine aggregate exactly (noise off); a collect must name exactly the
genuine report. Keys, task and updates are fixed; HPKE sealing is randomised, so the genuine
reports are made afresh by each :func:`setup` (replay a crash input in the same process).
"""

from __future__ import annotations

import numpy as np

from fuzz import Finding
from fuzz._keys import fixed_bytes
from veil.errors import VeilError

ALLOWED = (VeilError,)

DIMENSION = 8
ROUND = 1
WEIGHTS = {"c0": 10, "c1": 30}
SELECTORS = ("report", "verify_request", "collect_request", "verify_response")
_STATE: dict = {}


def _consortium():
    """The ``make_consortium`` task with keys derived from fixed labels (no noise)."""
    from veil.aggregation.testing import consortium_of
    from veil.crypto.hpke_keys import X25519Identity
    from veil.crypto.signing import Ed25519Identity

    lh = X25519Identity.from_bytes(fixed_bytes("report leader hpke"))
    ls = Ed25519Identity.from_bytes(fixed_bytes("report leader signing"))
    hh = X25519Identity.from_bytes(fixed_bytes("report helper hpke"))
    keys = {c: Ed25519Identity.from_bytes(fixed_bytes(f"report client {c}")) for c in WEIGHTS}
    return consortium_of(
        lh, ls, hh, keys, dimension=DIMENSION, task_id=fixed_bytes("report task id")
    )


def _tracked_store():
    """A SQLite store that notes whether a message reached it, so that only then is it reset
    (a fresh store per execution would cost more than the rejected inputs themselves)."""
    from veil.aggregation.store import SqliteStore

    class Tracked(SqliteStore):
        touched = False

        def offer(self, *args, **kwargs):
            self.touched = True
            return super().offer(*args, **kwargs)

        def bind_verify_key(self, *args, **kwargs) -> None:
            self.touched = True
            super().bind_verify_key(*args, **kwargs)

        # the Leader's round key (verify_key_for) may stay: it is reused consistently with a
        # Helper that bound it or a fresh one; a stored collect job may not (it would answer
        # every later round-1 call)
        def save_job(self, *args, **kwargs) -> None:
            self.touched = True
            super().save_job(*args, **kwargs)

    return Tracked


def _aggregator(cons, store_cls):
    """A fresh Leader with a fresh in-process Helper (both on tracked in-memory stores)."""
    from veil.aggregation.aggregator import HelperCore
    from veil.aggregation.leader import VerifiedAggregator
    from veil.aggregation.transport import InProcessHelper

    core = HelperCore(cons.cfg, cons.helper_hpke, store_cls(":memory:", cons.helper_hpke))
    leader_store = store_cls(":memory:", cons.leader_hpke)
    return VerifiedAggregator(cons.cfg, cons.leader_hpke, InProcessHelper(core), leader_store), core


def setup() -> list[bytes]:
    """Two genuine signed reports (c0, c1), and the Leader ↔ Helper messages of c0's."""
    from veil.aggregation.aggregator import HelperCore
    from veil.aggregation.messages import (
        CollectRequest,
        VerifyItem,
        VerifyRequest,
        checksum,
        decode_verify_response,
    )
    from veil.aggregation.report import Report, leader_share_hash, seal_share, verify_key_info
    from veil.aggregation.verification import PINE_VK, PRIO3_VK, prepare

    cons = _consortium()
    cfg, store_cls = cons.cfg, _tracked_store()
    reports, expected = {}, {}
    for i, (cid, w) in enumerate(WEIGHTS.items()):
        rep = cons.builder(cid).build(ROUND, np.linspace(-0.3, 0.3, DIMENSION) * (i + 1), w)
        agg, _ = _aggregator(cons, store_cls)
        expected[rep.encode()] = agg.aggregate_round(ROUND, [rep.encode()]).aggregate
        reports[rep.encode()] = rep.metadata.report_id.hex()
    # c0's round as the Leader runs it (prepare, verify request, collect request), with a
    # verify key of our own so that the Leader's prepared state matches the Helper's answer
    rep = Report.decode(next(iter(reports)))
    vk = fixed_bytes("report verify key", PINE_VK + PRIO3_VK)
    prep = prepare(agg.vdafs, 0, cons.leader_hpke, rep.metadata, rep.leader_share, vk)
    item = VerifyItem(
        rep.metadata.encode(),
        rep.helper_share,
        agg.vdafs.pine.encode_verifier_share(prep.pine_vs),
        agg.vdafs.weight.encode_verifier_share(prep.weight_vs),
        leader_share_hash(rep.leader_share),
        rep.signature,
    )
    vk_sealed = seal_share(cfg.helper_hpke, vk, verify_key_info(cfg.task_id, ROUND))
    verify_body = VerifyRequest(cfg.task_id, ROUND, vk_sealed, [item]).encode()
    rid = rep.metadata.report_id
    collect_body = CollectRequest(cfg.task_id, ROUND, [rid], checksum([rid])).encode()
    core = HelperCore(cfg, cons.helper_hpke, store_cls(":memory:", cons.helper_hpke))
    verify_resp = core.handle_verify(verify_body)
    (helper_vs,) = decode_verify_response(verify_resp)
    if helper_vs.reason is not None:
        raise AssertionError(f"the genuine report was rejected: {helper_vs.reason}")
    _STATE.update(
        cons=cons,
        store_cls=store_cls,
        reports=reports,
        expected=expected,
        verify_body=verify_body,
        verify_item=item,
        collect_ids=[rid],
        helper_share=core.handle_collect(collect_body),
        leader_prep=prep,
        genuine_helper_vs=(helper_vs.pine_vs, helper_vs.weight_vs),
        report_id=rid,
    )
    _reset()
    return [
        *(bytes([0]) + r for r in reports),
        bytes([1]) + verify_body,
        bytes([2]) + collect_body,
        bytes([3]) + verify_resp,
    ]


def _reset() -> None:
    """A fresh Leader and in-process Helper, with no report seen yet (so that a genuine
    report is not rejected as a replay of the previous execution's)."""
    _STATE["aggregator"], _STATE["helper"] = _aggregator(_STATE["cons"], _STATE["store_cls"])


def _fresh_collector():
    """A Helper that has verified the first genuine report, its round still open (rebuilt
    only after a collect succeeded: a failed one rolls its transaction back)."""
    from veil.aggregation.aggregator import HelperCore

    if _STATE.get("collector") is None:
        cons = _STATE["cons"]
        store = _STATE["store_cls"](":memory:", cons.helper_hpke)
        core = HelperCore(cons.cfg, cons.helper_hpke, store)
        core.handle_verify(_STATE["verify_body"])
        _STATE["collector"] = core
    return _STATE["collector"]


def one_input(data: bytes) -> None:
    if not data:
        return
    kind, msg = SELECTORS[data[0] % len(SELECTORS)], bytes(data[1:])
    {
        "report": _report,
        "verify_request": _verify_request,
        "collect_request": _collect_request,
        "verify_response": _verify_response,
    }[kind](msg)


def _report(msg: bytes) -> None:
    from veil.aggregation.report import Report

    Report.decode(msg)  # what does not decode never reaches a round
    agg, core = _STATE["aggregator"], _STATE["helper"]
    try:
        result = agg.aggregate_round(ROUND, [msg])
    finally:
        if agg.store.touched or core.store.touched:
            _reset()
    if msg not in _STATE["reports"]:
        raise Finding(f"a tampered report was accepted: {result.accepted_ids}")
    if result.accepted_ids != [_STATE["reports"][msg]]:
        raise Finding(f"accepted {result.accepted_ids} for one genuine report")
    if not np.array_equal(result.aggregate, _STATE["expected"][msg]):
        raise Finding("the released aggregate differs from the genuine report's")


def _verify_request(msg: bytes) -> None:
    from veil.aggregation.messages import VerifyRequest, decode_verify_response

    core = _STATE["helper"]
    try:
        resp = core.handle_verify(msg)
    finally:
        if core.store.touched:
            _reset()
    items = VerifyRequest.decode(msg).items
    for item, res in zip(items, decode_verify_response(resp), strict=True):
        if res.reason is None and item != _STATE["verify_item"]:
            raise Finding("the Helper accepted a tampered verify item")


def _collect_request(msg: bytes) -> None:
    from veil.aggregation.messages import CollectRequest

    core = _fresh_collector()
    share = core.handle_collect(msg)
    _STATE["collector"] = None
    if CollectRequest.decode(msg).report_ids != _STATE["collect_ids"]:
        raise Finding("the Helper collected reports it did not verify")
    if share != _STATE["helper_share"]:
        raise Finding("the Helper released another aggregate share")


def _verify_response(msg: bytes) -> None:
    from veil.aggregation.messages import decode_verify_response
    from veil.aggregation.verification import Rejected, finish

    results = decode_verify_response(msg)
    agg = _STATE["aggregator"]
    prep = _STATE["leader_prep"]
    for res in results:
        if res.report_id != _STATE["report_id"] or res.reason is not None:
            continue  # the Leader raises or rejects before finishing
        try:
            finish(agg.vdafs, prep, (prep.pine_vs, prep.weight_vs), (res.pine_vs, res.weight_vs))
        except Rejected:  # the Leader's verdict on this report, not an error
            continue
        if (res.pine_vs, res.weight_vs) != _STATE["genuine_helper_vs"]:
            raise Finding("the Leader accepted a tampered Helper verifier share")
