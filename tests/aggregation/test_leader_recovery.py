"""A Leader restarted mid-round on its durable state: it redoes the round with the key the
Helper bound, and re-collects a released round instead of releasing it a second time."""

from __future__ import annotations

import numpy as np
import pytest

from veil.aggregation.aggregator import HelperCore
from veil.aggregation.leader import VerifiedAggregator
from veil.aggregation.store import SqliteStore
from veil.aggregation.testing import make_consortium
from veil.aggregation.transport import InProcessHelper
from veil.errors import ProtocolError


class _Dies(InProcessHelper):
    """Passes ``op`` to the Helper, then the Leader "dies" (the exception stands for it)."""

    def __init__(self, core: HelperCore, op: str) -> None:
        super().__init__(core)
        self.op = op

    def verify(self, body: bytes) -> bytes:
        out = super().verify(body)
        if self.op == "verify":
            raise ProtocolError("leader died")
        return out

    def collect(self, body: bytes) -> bytes:
        out = super().collect(body)
        if self.op == "collect":
            raise ProtocolError("leader died")
        return out


@pytest.fixture
def setup(tmp_path):
    con = make_consortium(n_clients=3, dimension=16, noise=2.0)
    core = HelperCore(con.cfg, con.helper_hpke, SqliteStore(tmp_path / "h.sqlite", con.helper_hpke))
    rng = np.random.default_rng(1)
    updates = [rng.normal(size=16) * 0.1 for _ in range(3)]

    def reports():  # what the clients send: fresh report ids and shares every time
        return [con.builder(f"c{i}").build(1, u, 10) for i, u in enumerate(updates)]

    def leader(helper):
        store = SqliteStore(tmp_path / "leader.sqlite", con.leader_hpke)
        return VerifiedAggregator(con.cfg, con.leader_hpke, helper, store)

    return con, core, reports, leader


def test_a_round_released_before_the_crash_is_recollected_not_released_again(setup):
    con, core, reports, leader = setup
    first = reports()
    with pytest.raises(ProtocolError, match="died"):
        leader(_Dies(core, "collect")).aggregate_round(1, first)
    released = core.store.collected_share(con.cfg.task_id, 1)
    assert released is not None
    a = leader(InProcessHelper(core)).aggregate_round(1, reports())
    b = leader(InProcessHelper(core)).aggregate_round(1, reports())
    # the first attempt's job: its reports, its noise (the Leader's share was stored with it)
    assert a.accepted_ids == [r.metadata.report_id.hex() for r in first]
    assert np.array_equal(a.aggregate, b.aggregate)
    assert core.store.collected_share(con.cfg.task_id, 1) == released


def test_a_round_verified_but_not_collected_is_redone_with_the_bound_key(setup):
    _, core, reports, leader = setup
    with pytest.raises(ProtocolError, match="died"):
        leader(_Dies(core, "verify")).aggregate_round(1, reports())
    fresh = reports()
    res = leader(InProcessHelper(core)).aggregate_round(1, fresh)
    assert res.accepted_ids == [r.metadata.report_id.hex() for r in fresh]


def test_without_a_durable_key_the_helper_refuses_the_redo(setup, tmp_path):
    """The failure the stored verify key prevents: a new key for a round already bound."""
    con, core, reports, _ = setup
    with pytest.raises(ProtocolError, match="died"):
        VerifiedAggregator(
            con.cfg,
            con.leader_hpke,
            _Dies(core, "verify"),
            SqliteStore(":memory:", con.leader_hpke),
        ).aggregate_round(1, reports())
    amnesiac = VerifiedAggregator(con.cfg, con.leader_hpke, InProcessHelper(core))
    with pytest.raises(ProtocolError, match="different verify key"):
        amnesiac.aggregate_round(1, reports())


class _Truncates(InProcessHelper):
    """A Helper whose released aggregate share arrives cut short."""

    def collect(self, body: bytes) -> bytes:
        return super().collect(body)[:100]


def test_a_collected_round_counts_as_released_even_when_unusable(setup):
    """Both sums were released before the Leader found them unusable (a malformed Helper
    share): the DP ledger must count that round (``released``), although no model comes
    of it."""
    _, core, reports, leader = setup
    lead = leader(_Truncates(core))
    assert not lead.released(1)
    with pytest.raises(ProtocolError, match="malformed"):
        lead.aggregate_round(1, reports())
    assert lead.released(1)


def test_zero_weight_reports_give_a_zero_aggregate(setup):
    """With the fixed denominator a round of weight-0 reports is an ordinary round (Σu = 0),
    not a division by a zero total weight."""
    con, core, _, leader = setup
    zero = [con.builder(f"c{i}").build(1, np.full(16, 0.01), 0) for i in range(3)]
    res = leader(InProcessHelper(core)).aggregate_round(1, zero)
    assert sorted(res.accepted) == ["c0", "c1", "c2"]
    assert res.aggregate.shape == (16,)
