"""An edge device's report goes through the real verified aggregation (Leader and Helper in
process): accepted, aggregated exactly, and refused once tampered with."""

from __future__ import annotations

import numpy as np
import pytest

from veil.aggregation.client import ReportBuilder, weighted_update
from veil.aggregation.leader import finalize
from veil.aggregation.report import Report
from veil.aggregation.testing import make_consortium
from veil.crypto.signing import Ed25519Identity
from veil.edge.device import EdgeDevice, LocalSGD, local_train, round_seed
from veil.edge.models import SmallMLP
from veil.errors import ConfigError

MODEL = SmallMLP(8, 6, 3)  # d = 75
TRAIN = LocalSGD(epochs=2, lr=0.2, batch_size=16)


def _devices(con, n):
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        x = rng.normal(size=(60, MODEL.n_features))
        y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 1).astype(int)
        out.append(EdgeDevice(f"c{i}", con.client_keys[f"c{i}"], x, y, MODEL, seed=i))
    return out


def _reference(con, deltas, weight):
    """Σ w·clip(Δ)/D in the clear, from the same fixed-point encoding."""
    v = con.builder("c0").vdafs
    total = v.pine.agg_init(None)
    for d in deltas:
        total = v.pine.field.add(
            total, v.pine.encode_float_vec(weighted_update(d, weight, con.cfg))
        )
    return finalize(v, total, con.cfg)


def test_device_reports_are_verified_and_aggregated_exactly():
    con = make_consortium(n_clients=3, dimension=MODEL.size, max_weight=1)
    leader, _ = con.in_process()
    devices = _devices(con, 3)
    g = MODEL.init(0)
    reports = [d.report(0, g, con.cfg, TRAIN) for d in devices]
    assert all(isinstance(r, bytes) for r in reports)
    res = leader.aggregate_round(0, reports)
    assert sorted(res.accepted) == ["c0", "c1", "c2"] and res.rejected == []
    deltas = [d.update(0, g, TRAIN).vector - g for d in devices]  # deterministic: same Δ again
    assert np.array_equal(res.aggregate, _reference(con, deltas, 1))


def test_tampered_and_foreign_reports_are_rejected():
    con = make_consortium(n_clients=3, dimension=MODEL.size, max_weight=1)
    leader, _ = con.in_process()
    devices = _devices(con, 3)
    g = MODEL.init(0)
    good = devices[0].report(1, g, con.cfg, TRAIN)
    rep = Report.decode(devices[1].report(1, g, con.cfg, TRAIN))
    flipped = bytearray(rep.helper_share)
    flipped[-1] ^= 1  # a changed sealed share: the signature no longer covers it
    forged = Report(rep.metadata, rep.leader_share, bytes(flipped), rep.signature).encode()
    # c2's name with another key (a device refuses this itself; a builder does not check)
    delta = devices[2].update(1, g, TRAIN).vector - g
    stolen = ReportBuilder(con.cfg, "c2", Ed25519Identity.generate()).build(1, delta, 1).encode()
    res = leader.aggregate_round(1, [good, forged, stolen])
    assert res.accepted == ["c0"]
    assert dict(res.rejected) == {"c1": "bad_signature", "c2": "bad_signature"}


def test_device_weight_scales_the_update():
    con = make_consortium(n_clients=1, dimension=MODEL.size)  # W = 100
    (dev,) = _devices(con, 1)
    dev.weight = 25
    leader, _ = con.in_process()
    g = MODEL.init(0)
    res = leader.aggregate_round(0, [dev.report(0, g, con.cfg, TRAIN)])
    assert res.accepted == ["c0"]
    assert np.array_equal(res.aggregate, _reference(con, [dev.update(0, g, TRAIN).vector - g], 25))


def test_update_is_the_plain_local_result():
    con = make_consortium(n_clients=1, dimension=MODEL.size)
    (dev,) = _devices(con, 1)
    g = MODEL.init(0)
    upd = dev.update(2, g, TRAIN)
    assert upd.num_examples == 60 and upd.vector.dtype == np.float32 and upd.loss > 0
    delta, n = local_train(
        MODEL, g, dev.x, dev.y, epochs=2, lr=0.2, batch_size=16, seed=round_seed(0, 2, "c0")
    )
    assert n == 60 and np.array_equal(delta, upd.vector - g)
    assert not np.array_equal(upd.vector, dev.update(3, g, TRAIN).vector), "same seed each round"


def test_a_device_that_does_not_fit_the_task_is_refused_before_training():
    con = make_consortium(n_clients=2, dimension=MODEL.size)
    g = MODEL.init(0)
    x, y = np.zeros((4, 8)), np.zeros(4, dtype=int)
    with pytest.raises(ConfigError, match="not enrolled"):
        EdgeDevice("c9", Ed25519Identity.generate(), x, y, MODEL).report(0, g, con.cfg, TRAIN)
    with pytest.raises(ConfigError, match="not enrolled"):
        EdgeDevice("c0", con.client_keys["c1"], x, y, MODEL).report(0, g, con.cfg, TRAIN)
    small = make_consortium(n_clients=1, dimension=10)
    with pytest.raises(ConfigError, match="dimension"):
        EdgeDevice("c0", small.client_keys["c0"], x, y, MODEL).report(0, g, small.cfg, TRAIN)
    with pytest.raises(ConfigError):
        LocalSGD(lr=0)
