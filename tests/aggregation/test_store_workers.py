"""Two ``veil helper serve`` processes behind one Helper, sharing PostgreSQL state on 127.0.0.1.

Whatever worker a request reaches, the Helper behaves as one: a round verified through worker
A and collected through worker B gives the right aggregate, and the collected round retried
through the other worker is refused (its reports are replays there).
"""

from __future__ import annotations

import numpy as np
import pytest

from veil.aggregation.leader import VerifiedAggregator
from veil.aggregation.process import HelperProcess, free_port
from veil.aggregation.testing import make_consortium
from veil.aggregation.transport import HttpHelper
from veil.errors import ProtocolError

pytestmark = pytest.mark.e2e


class SplitHelper:
    """A Leader-side transport sending verify to one worker and collect to the other."""

    def __init__(self, verify: HttpHelper, collect: HttpHelper) -> None:
        self._v, self._c = verify, collect

    def verify(self, body: bytes) -> bytes:
        return self._v.verify(body)

    def collect(self, body: bytes) -> bytes:
        return self._c.collect(body)


def test_two_helper_workers_share_postgres_state(tmp_path, postgres_url):
    ports = [free_port(), free_port()]
    con = make_consortium(
        n_clients=3,
        helper_endpoint=f"http://127.0.0.1:{ports[0]}",
        min_reports=2,
        denominator=30,
    )
    workers = [
        HelperProcess(tmp_path / f"w{i}", con.cfg, con.helper_hpke, p, state=postgres_url)
        for i, p in enumerate(ports)
    ]
    https = [
        HttpHelper(
            f"http://127.0.0.1:{p}",
            con.cfg.task_id,
            con.leader_signing,
            helper=con.cfg.helper_hpke,
            backoff_s=0.05,
        )
        for p in ports
    ]
    try:
        for w in workers:
            w.start()
        rng = np.random.default_rng(5)
        ups = [rng.normal(size=64) * 0.1 for _ in range(3)]
        reports = [con.builder(f"c{i}").build(0, ups[i], 10) for i in range(3)]
        leader = VerifiedAggregator(con.cfg, con.leader_hpke, SplitHelper(https[0], https[1]))
        res = leader.aggregate_round(0, reports)
        assert sorted(res.accepted) == ["c0", "c1", "c2"] and res.denominator == 30
        want = np.mean(ups, axis=0)
        assert np.max(np.abs(res.aggregate - want)) < 1e-3

        # a fresh Leader retrying the collected round through the OTHER worker is refused
        other = VerifiedAggregator(con.cfg, con.leader_hpke, SplitHelper(https[1], https[0]))
        with pytest.raises(ProtocolError, match="already collected"):
            other.aggregate_round(0, reports)
        # the next round runs the other way round: verify on worker B, collect on worker A
        fresh = [con.builder(f"c{i}").build(1, ups[i], 5) for i in (0, 1)]
        res1 = other.aggregate_round(1, fresh)
        assert sorted(res1.accepted) == ["c0", "c1"] and res1.denominator == 30
    finally:
        for h in https:
            h.close()
        for w in workers:
            w.stop()
