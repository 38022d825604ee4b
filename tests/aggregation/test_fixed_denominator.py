"""Findings 11 and 3: the aggregate is Σu·W/D with a fixed public D (DP-FedAvg's
fixed-denominator estimator), so no total weight is released and no declared weight can give a
client more influence than an honest client at the maximum weight W (docs/dp.md)."""

from __future__ import annotations

import dataclasses
import tomllib

import numpy as np
import pytest

from veil.aggregation.client import clip_update, effective_clip
from veil.aggregation.config import ConsortiumConfig
from veil.aggregation.testing import make_consortium
from veil.errors import ConfigError

DIM = 64


def _honest(con, rnd: int, updates, weights):
    return [
        con.builder(f"c{i}").build(rnd, u, w)
        for i, (u, w) in enumerate(zip(updates, weights, strict=True))
    ]


def _setup(**task):
    con = make_consortium(n_clients=3, dimension=DIM, **task)
    rng = np.random.default_rng(3)
    updates = [rng.normal(size=DIM) * 0.03 for _ in range(2)]  # ‖Δ‖ ≈ 0.24 < C = 1
    big = rng.normal(size=DIM)  # the third client's update, clipped to the full norm
    return con, updates, big


@pytest.mark.parametrize("claimed", [0, 1])
def test_hostile_weight_cannot_outweigh_a_max_weight_client(claimed):
    """A client claiming weight 0 (or 1) with a full-norm update moves the aggregate no more
    than an honest client at the maximum weight W with the same update. Before the fixed
    denominator it moved it W/Σw_honest·C — here 3.3 against 0.78 for the honest client."""
    con, updates, big = _setup()
    leader, _ = con.in_process()
    weights = [10, 20]
    base = leader.aggregate_round(0, _honest(con, 0, updates, weights)).aggregate
    liar = con.builder("c2")
    u = clip_update(big, effective_clip(con.cfg))  # full norm, not scaled by any weight
    hostile = leader.aggregate_round(
        1, [*_honest(con, 1, updates, weights), liar.build_from_measurement(1, u, claimed)]
    )
    assert "c2" in hostile.accepted  # a valid report: nothing to reject
    honest_max = leader.aggregate_round(
        2, [*_honest(con, 2, updates, weights), liar.build(2, big, con.cfg.max_weight)]
    )
    moved = float(np.linalg.norm(hostile.aggregate - base))
    moved_honest = float(np.linalg.norm(honest_max.aggregate - base))
    assert moved <= moved_honest + 1e-9


def test_influence_is_at_most_c_w_over_d_exactly_with_noise_off():
    con, updates, big = _setup(denominator=30.0)
    cfg = con.cfg
    leader, _ = con.in_process()
    base = leader.aggregate_round(0, _honest(con, 0, updates, [10, 20])).aggregate
    bound = cfg.clip_norm * cfg.max_weight / cfg.fixed_denominator
    for rnd, scale in ((1, 1.0), (2, 0.5)):
        u = clip_update(big, effective_clip(cfg)) * scale
        reps = [*_honest(con, rnd, updates, [10, 20]), con.builder("c2").build_from_measurement(
            rnd, u, 0)]  # fmt: skip
        res = leader.aggregate_round(rnd, reps)
        moved = float(np.linalg.norm(res.aggregate - base))
        assert moved <= bound
    assert moved == pytest.approx(0.5 * effective_clip(cfg) * cfg.max_weight / 30.0, rel=1e-6)


def test_influence_bound_holds_up_to_the_noise():
    z = 0.01
    con, updates, big = _setup(denominator=30.0, noise=z)
    cfg = con.cfg
    leader, _ = con.in_process()
    base = leader.aggregate_round(0, _honest(con, 0, updates, [10, 20])).aggregate
    u = clip_update(big, effective_clip(cfg))
    reps = [*_honest(con, 1, updates, [10, 20]), con.builder("c2").build_from_measurement(1, u, 0)]
    res = leader.aggregate_round(1, reps)
    scale = cfg.max_weight / cfg.fixed_denominator
    # two independent noise draws, σ = z·C·W/D per coordinate each: 6σ·√(2d) is ample
    tol = 6 * z * cfg.clip_norm * scale * np.sqrt(2 * DIM)
    assert float(np.linalg.norm(res.aggregate - base)) <= cfg.clip_norm * scale + tol


def test_no_total_weight_is_released():
    """Two clients with different sample counts but the same u = (w/W)·clip(Δ) produce the
    same released round: the sample counts leave the clients only inside u (before, the
    round released Σw exactly and divided by it)."""
    con, updates, _ = _setup()
    leader, _ = con.in_process()
    a = leader.aggregate_round(0, _honest(con, 0, updates, [50, 100]))
    b = leader.aggregate_round(1, _honest(con, 1, [updates[0] * 0.5, updates[1]], [100, 100]))
    assert np.allclose(a.aggregate, b.aggregate, atol=1e-6)
    released = ("denominator", "accepted", "rejected")
    assert all(getattr(a, f) == getattr(b, f) for f in released)
    assert not any("weight" in f.name for f in dataclasses.fields(a))


def test_denominator_in_the_consortium_file():
    con = make_consortium(n_clients=3, denominator=1234.5)
    back = ConsortiumConfig.from_dict(tomllib.loads(con.cfg.to_toml()))
    assert back.fixed_denominator == 1234.5
    default = make_consortium(n_clients=3).cfg  # q·N·W: every client at the maximum weight
    assert default.fixed_denominator == 3 * default.max_weight
    for bad in (0, -1.0, float("inf")):
        with pytest.raises(ConfigError, match="denominator"):
            dataclasses.replace(con.cfg, denominator=bad)
