"""The FL bridge with a real Helper process: hostile clients rejected, exact aggregate, ε."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from veil.aggregation.fl_bridge import SecureAggregation, SecureOptions

pytestmark = pytest.mark.e2e


@dataclass
class Upd:  # the shape of veil.fl.training.ClientUpdate
    vector: np.ndarray
    num_examples: int
    loss: float = 0.0


def test_bridge_rounds_with_all_attacks(tmp_path):
    names = [f"bank{i}" for i in range(3 + 8)]
    d = 300
    sec = SecureAggregation.start(tmp_path, names, d, 3, SecureOptions(malicious=8, clip_norm=2.0))
    try:
        rng = np.random.default_rng(0)
        g = rng.normal(size=d).astype(np.float32)
        for rnd in (1, 2):
            ups = [
                (n, Upd((g + rng.normal(size=d) * 0.05).astype(np.float32), 100 + 10 * i))
                for i, n in enumerate(names)
            ]
            new, rec = sec.round(rnd, g, ups)
            assert rec["aggregate_equals_honest"] is True
            honest = {"bank0", "bank1", "bank2"}
            if rnd == 1:  # the replay attacker has nothing to replay yet and behaves
                honest.add(next(n for n, a in sec.attacks.items() if a.value == "replay"))
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
            _, rec = sec.round(rnd, g, [(n, Upd(np.full(50, 0.01, np.float32), 10)) for n in names])
            assert len(rec["accepted"]) == 3
            eps.append(rec["epsilon"])
        assert eps == sorted(eps) and eps[-1] <= 5.0 + 1e-6 and eps[-1] > 4.0
        p = sec.privacy()
        assert p["delta"] == 1e-5 and "discrete Gaussian" in p["mechanism"]
    finally:
        sec.close()
