"""The FL bridge with a real Helper process, driven by the round engine (its in-process pool
seals each update, VerifiedAggregation verifies): hostile clients (composed from the test
kit) rejected, exact aggregate, ε, and updates the client library refuses."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from veil.aggregation.fl_bridge import SecureAggregation, SecureOptions
from veil.aggregation.testing import HostileClients
from veil.fl.engine import RoundEngine
from veil.fl.local_config import TrainConfig
from veil.fl.local_pool import InProcessClients
from veil.fl.strategies import FedAvg
from veil.fl.verified import VerifiedAggregation

pytestmark = pytest.mark.e2e


@dataclass
class Upd:  # the shape of veil.fl.training.ClientUpdate
    vector: np.ndarray
    num_examples: int
    loss: float = 0.0


@dataclass
class Given:  # a client whose update this round is given
    name: str
    upd: object

    def fit(self, global_vec, cfg, *, seed):
        return self.upd


def _round(sec: SecureAggregation, rnd: int, g: np.ndarray, ups: list) -> tuple:
    """One engine round over ``ups``: (the new model or None, the record as report.json has it)."""
    pool = InProcessClients([Given(n, u) for n, u in ups], seal=sec.seal)
    engine = RoundEngine(pool, VerifiedAggregation(FedAvg(), sec), rounds=rnd, train=TrainConfig())
    vec, rec = engine.round(rnd, g, TrainConfig())
    return (vec if rec.failure is None else None), rec.to_dict()


def test_bridge_rounds_with_all_attacks(tmp_path):
    names = [f"bank{i}" for i in range(3 + 8)]
    d = 300
    kit = HostileClients.last(names, 8)
    sec = SecureAggregation.start(
        tmp_path, names, d, 3, SecureOptions(clip_norm=2.0),
        make_report=kit.report, observers=[kit.oracle],
    )  # fmt: skip
    try:
        rng = np.random.default_rng(0)
        g = rng.normal(size=d).astype(np.float32)
        for rnd in (1, 2):
            ups = [
                (n, Upd((g + rng.normal(size=d) * 0.05).astype(np.float32), 100 + 10 * i))
                for i, n in enumerate(names)
            ]
            new, rec = _round(sec, rnd, g, ups)
            assert rec["aggregate_equals_honest"] is True
            honest = {"bank0", "bank1", "bank2"}
            if rnd == 1:  # the replay attacker has nothing to replay yet and behaves
                honest.add(next(n for n, a in kit.attacks.items() if a.value == "replay"))
            assert set(rec["accepted"]) == honest
            assert len(rec["rejected"]) == len(names) - len(honest)
            assert new.dtype == np.float32 and new.shape == (d,)
            g = new
        reasons = {r["reason"] for r in rec["rejected"]}
        assert reasons == {
            "update_invalid",
            "leader_share_invalid",
            "bad_signature",
            "replayed",
            "helper_share_invalid",
            "weight_invalid",
        }
        assert sec.privacy()["epsilon"] is None
    finally:
        sec.close()


def test_bridge_with_target_epsilon(tmp_path):
    names = ["a", "b", "c"]
    opts = SecureOptions(target_epsilon=5.0, delta=1e-5, clip_norm=1.0)
    sec = SecureAggregation.start(tmp_path, names, 50, 4, opts)
    try:
        g = np.zeros(50, np.float32)
        eps = []
        for rnd in range(1, 5):
            _, rec = _round(
                sec, rnd, g, [(n, Upd(np.full(50, 0.01, np.float32), 10)) for n in names]
            )
            assert len(rec["accepted"]) == 3
            eps.append(rec["epsilon"])
        assert eps == sorted(eps) and eps[-1] <= 5.0 + 1e-6 and eps[-1] > 4.0
        p = sec.privacy()
        assert p["delta"] == 1e-5 and "discrete Gaussian" in p["mechanism"]
    finally:
        sec.close()


def test_bridge_refuses_updates_the_client_library_cannot_report(tmp_path):
    """NaN, a wrong shape, a float count, no update at all: refused with the typed error's
    name; the honest clients' round goes on (and has no oracle unless one is composed)."""
    names = ["a", "b", "c", "nan", "short", "float_n", "junk"]
    sec = SecureAggregation.start(tmp_path, names, 20, 1, SecureOptions())
    try:
        g = np.zeros(20, np.float32)
        ok = np.full(20, 0.01, np.float32)
        bad = np.full(20, np.nan, np.float32)
        ups = [(n, Upd(ok, 10)) for n in ("a", "b", "c")] + [
            ("nan", Upd(bad, 10)),
            ("short", Upd(ok[:5], 10)),
            ("float_n", Upd(ok, 10.0)),
            ("junk", object()),
        ]
        new, rec = _round(sec, 1, g, ups)
        assert sorted(rec["accepted"]) == ["a", "b", "c"] and new is not None
        assert {r["client"]: r["reason"] for r in rec["rejected"]} == {
            n: "client refused: DataError" for n in ("nan", "short", "float_n", "junk")
        }
        assert "aggregate_equals_honest" not in rec
    finally:
        sec.close()
