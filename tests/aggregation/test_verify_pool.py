"""Verify workers (veil.aggregation.verify_pool): the same verdicts and the same aggregate as
verifying in the Aggregator's own thread, admission still exactly once."""

from __future__ import annotations

import time

import numpy as np
import pytest

from veil.aggregation.adversary import EXPECTED_REASON, Attack, hostile_report
from veil.aggregation.testing import make_consortium
from veil.aggregation.verify_pool import check_workers, default_workers
from veil.errors import ConfigError

HOSTILE = [a for a in Attack if a is not Attack.REPLAY]


@pytest.fixture(scope="module")
def round_reports():
    """Honest and hostile reports of one round; max_batch 3 so the Leader keeps two batches
    in flight and the Helper gets several requests."""
    n = 4 + len(HOSTILE)
    cons = make_consortium(n_clients=n, dimension=300, max_batch=3)
    rng = np.random.default_rng(7)
    reports = []
    for i in range(n):
        b = cons.builder(f"c{i}")
        delta = rng.normal(0, 0.01, 300)
        if i < 4:
            reports.append(b.build(1, delta, 5))
        else:
            reports.append(hostile_report(HOSTILE[i - 4], b, 1, delta, 5))
    return cons, reports


def _run(cons, reports, workers: int):
    leader, core = cons.in_process(workers=workers)
    try:
        return leader.aggregate_round(1, reports)
    finally:
        leader.close()
        core.close()


def test_workers_give_the_same_round_as_one_thread(round_reports):
    cons, reports = round_reports
    one = _run(cons, reports, 1)
    two = _run(cons, reports, 2)
    assert sorted(one.accepted) == sorted(two.accepted) == [f"c{i}" for i in range(4)]
    assert np.array_equal(one.aggregate, two.aggregate)
    assert sorted(one.rejected) == sorted(two.rejected)
    reasons = dict(two.rejected)
    for i, attack in enumerate(HOSTILE):
        assert reasons[f"c{4 + i}"] == EXPECTED_REASON[attack].value, attack


def test_a_replayed_report_is_admitted_once_with_workers(round_reports):
    """The same report twice in one round, and again in a later round: the copies are
    rejected (duplicate, then replayed: the store admitted its id once), never summed twice."""
    cons, reports = round_reports
    leader, core = cons.in_process(workers=2)
    try:
        res = leader.aggregate_round(1, [reports[0], reports[1], reports[0]])
        assert sorted(res.accepted) == ["c0", "c1"]
        assert res.rejected == [("c0", "duplicate")]
        again = cons.builder("c2").build(2, np.zeros(300), 1)
        res2 = leader.aggregate_round(2, [reports[1], again])
        assert res2.accepted == ["c2"]
        assert res2.rejected == [("c1", "replayed")]
    finally:
        leader.close()
        core.close()


def test_worker_counts_are_checked(monkeypatch):
    assert check_workers(2) == 2
    for bad in (0, -1, 10_000, True):
        with pytest.raises(ConfigError):
            check_workers(bad)
    monkeypatch.setenv("VEIL_VERIFY_WORKERS", "two")
    with pytest.raises(ConfigError):
        default_workers()
    monkeypatch.setenv("VEIL_VERIFY_WORKERS", "3")
    assert default_workers() == 3


def _kill_a_worker(pool) -> None:
    import os
    import signal

    os.kill(next(iter(pool._executor._processes)), signal.SIGKILL)  # one worker's pid


def test_a_worker_killed_while_idle_is_replaced(round_reports):
    """SIGKILL an idle worker of the Helper: the next batch runs on a fresh pool and the
    round aggregates exactly the honest reports (the Helper keeps serving)."""
    from veil.aggregation.leader import VerifiedAggregator
    from veil.aggregation.transport import InProcessHelper

    cons, reports = round_reports
    _, core = cons.in_process(workers=2)
    leader = VerifiedAggregator(cons.cfg, cons.leader_hpke, InProcessHelper(core), workers=1)
    try:
        core.pool.start()
        _kill_a_worker(core.pool)
        time.sleep(0.5)  # the pool notices
        res = leader.aggregate_round(1, reports[:4])
        assert sorted(res.accepted) == ["c0", "c1", "c2", "c3"] and res.rejected == []
    finally:
        leader.close()
        core.close()


def test_a_worker_killed_mid_batch_is_a_typed_error_and_the_retry_succeeds():
    """SIGKILL a worker while a batch is on the pool: that batch is a ProtocolError (no
    hang, no untyped crash), and the same round retried aggregates every report."""
    from veil.errors import ProtocolError

    cons = make_consortium(n_clients=8, dimension=100_000, max_batch=8)
    rng = np.random.default_rng(3)
    reports = [cons.builder(f"c{i}").build(1, rng.normal(0, 1e-4, 100_000), 1) for i in range(8)]
    leader, core = cons.in_process(workers=2)
    try:
        leader.pool.start()
        jobs = [(r.metadata, r.leader_share, bytes(48)) for r in reports]
        futures = leader.pool.leader_prepare(jobs)  # ≈ 100 ms of work on two workers
        _kill_a_worker(leader.pool)
        with pytest.raises(ProtocolError, match="verify worker died"):
            for f in futures:
                f.result()
        res = leader.aggregate_round(1, reports)
        assert len(res.accepted) == 8 and res.rejected == []
    finally:
        leader.close()
        core.close()
