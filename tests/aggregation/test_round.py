"""In-process Leader + Helper: exact aggregates, and every hostile report rejected."""

from __future__ import annotations

import numpy as np
import pytest

from veil.aggregation.adversary import EXPECTED_REASON, Attack, hostile_report
from veil.aggregation.client import ReportBuilder, weighted_update
from veil.aggregation.leader import finalize
from veil.aggregation.testing import make_consortium
from veil.crypto.signing import Ed25519Identity
from veil.errors import ProtocolError


def _honest_reference(con, updates, weights):
    """Σ w·clip(Δ)/D computed in the clear from the same fixed-point encoding."""
    v = con.builder("c0").vdafs
    fld = v.pine.field
    total = v.pine.agg_init(None)
    for d, w in zip(updates, weights, strict=True):
        total = fld.add(total, v.pine.encode_float_vec(weighted_update(d, w, con.cfg)))
    return finalize(v, total, con.cfg)


def test_honest_round_is_exact():
    con = make_consortium(n_clients=3, denominator=150)  # D = the Σw this round has
    rng = np.random.default_rng(1)
    updates = [rng.normal(size=64) * s for s in (0.1, 1.0, 5.0)]  # the last one gets clipped
    weights = [10, 40, 100]
    leader, _ = con.in_process()
    reports = [con.builder(f"c{i}").build(0, updates[i], weights[i]) for i in range(3)]
    res = leader.aggregate_round(0, reports)
    assert res.rejected == []
    assert sorted(res.accepted) == ["c0", "c1", "c2"]
    assert res.denominator == 150
    ref = _honest_reference(con, updates, weights)
    assert np.array_equal(res.aggregate, ref)  # bit for bit
    plain = sum(w * u for w, u in zip(weights, [np.asarray(u) for u in updates], strict=True))
    # far from the unclipped mean (client 2 was clipped) but close to the clipped one
    clipped = [u * min(1, 1.0 / np.linalg.norm(u)) for u in updates]
    assert np.allclose(
        res.aggregate, sum(w * c for w, c in zip(weights, clipped, strict=True)) / 150, atol=1e-5
    )
    assert not np.allclose(res.aggregate, plain / 150, atol=1e-2)


def test_every_attack_rejected_and_aggregate_exact():
    attacks = list(Attack)
    n_honest = 3
    con = make_consortium(n_clients=n_honest + len(attacks))
    rng = np.random.default_rng(7)
    leader, _ = con.in_process()
    # round 0: everyone honest (gives the replay attacker an earlier report)
    r0 = {
        f"c{i}": con.builder(f"c{i}").build(0, rng.normal(size=64) * 0.2, 50)
        for i in range(n_honest + len(attacks))
    }
    res0 = leader.aggregate_round(0, list(r0.values()))
    assert len(res0.accepted) == n_honest + len(attacks)

    honest_updates = [rng.normal(size=64) * 0.3 for _ in range(n_honest)]
    honest_weights = [20, 30, 70]
    reports = [
        con.builder(f"c{i}").build(1, honest_updates[i], honest_weights[i]) for i in range(n_honest)
    ]
    expected = {}
    for j, attack in enumerate(attacks):
        cid = f"c{n_honest + j}"
        delta = rng.normal(size=64)
        reports.append(hostile_report(attack, con.builder(cid), 1, delta, 60, earlier=r0[cid]))
        expected[cid] = EXPECTED_REASON[attack].value
    res = leader.aggregate_round(1, reports)
    assert sorted(res.accepted) == [f"c{i}" for i in range(n_honest)]
    assert dict(res.rejected) == expected
    assert res.denominator == con.cfg.fixed_denominator == 11 * 100  # N·W
    assert np.array_equal(res.aggregate, _honest_reference(con, honest_updates, honest_weights))


def test_min_reports_fails_round_cleanly():
    con = make_consortium(n_clients=2, min_reports=2)
    leader, _ = con.in_process()
    rep = con.builder("c0").build(0, np.ones(64) * 0.01, 5)
    with pytest.raises(ProtocolError, match="min_reports"):
        leader.aggregate_round(0, [rep])


def test_unknown_client_wrong_round_duplicate_malformed():
    con = make_consortium(n_clients=2)
    leader, _ = con.in_process()
    good = con.builder("c0").build(3, np.ones(64) * 0.01, 5)
    dup = con.builder("c0").build(3, np.ones(64) * 0.02, 5)
    stale = con.builder("c1").build(2, np.ones(64) * 0.01, 5)
    outsider = ReportBuilder(con.cfg, "zz", Ed25519Identity.generate())
    res = leader.aggregate_round(3, [good, dup, stale, outsider.build(3, np.zeros(64), 1), b"junk"])
    assert res.accepted == ["c0"]
    assert sorted(r for _, r in res.rejected) == sorted(
        ["duplicate", "wrong_round", "unknown_client", "malformed"]
    )


def test_noise_changes_aggregate_by_about_sigma():
    con = make_consortium(n_clients=2, dimension=2000, noise=0.5)
    leader, _ = con.in_process()
    ups = [np.full(2000, 0.001), np.full(2000, -0.001)]
    res = leader.aggregate_round(0, [con.builder(f"c{i}").build(0, ups[i], 100) for i in range(2)])
    noise = res.aggregate * res.denominator / con.cfg.max_weight  # the clean sum is ~0
    # total σ = z·C = 0.5 per coordinate, in units of Σu
    assert 0.45 < float(np.std(noise)) < 0.55
