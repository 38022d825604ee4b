"""``veil demo finance --secure``: hostile banks rejected, exact aggregate, ε in report.json."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from veil.scenarios import consortium, finance
from veil.scenarios.secure_options import demo_options

pytestmark = pytest.mark.e2e  # starts the Helper process


def _quiet():
    return Console(file=open("/dev/null", "w"), width=120)


def test_secure_demo_malicious_noise_off(tmp_path):
    opts = demo_options(malicious=2, noise_multiplier=0.0)
    # 5 rounds: with D fixed at all five banks' rows, the two rejected banks halve each
    # step (docs/dp.md), so AUC passes 0.6 at round 5 instead of round 3
    rep = consortium.run(
        finance.SPEC, out=tmp_path, rounds=5, console=_quiet(), secure=opts, explain=False
    )
    saved = json.loads((tmp_path / "report.json").read_text())
    hostile = {"bank-d", "bank-e"}
    for r in saved["rounds"]:
        assert set(r["accepted"]) == {"bank-a", "bank-b", "bank-c"}
        assert {x["client"] for x in r["rejected"]} == hostile
        assert {x["client"]: x["reason"] for x in r["rejected"]} == {
            "bank-d": "update_invalid", "bank-e": "bad_signature"}  # fmt: skip
        assert r["aggregate_equals_honest"] is True
        assert set(r["time_split"]) == {"train", "shard", "verify", "aggregate"}
        assert r["bytes_per_client"] > 0
    assert saved["privacy"]["epsilon"] is None
    assert saved["config"]["secure"]["malicious"] == {
        "bank-d": "scaled_x100", "bank-e": "forged_signature"}  # fmt: skip
    assert rep["final"]["auc"] > 0.6


def test_secure_demo_reports_epsilon(tmp_path):
    opts = demo_options(target_epsilon=50.0, delta=1e-5)
    consortium.run(
        finance.SPEC, out=tmp_path, rounds=2, console=_quiet(), secure=opts, explain=False
    )
    saved = json.loads((tmp_path / "report.json").read_text())
    eps = [r["epsilon"] for r in saved["rounds"]]
    assert eps[0] < eps[1] <= 50.0 + 1e-6
    p = saved["privacy"]
    assert p["epsilon"] == pytest.approx(eps[-1]) and p["delta"] == 1e-5
    assert "discrete Gaussian" in p["mechanism"]
    assert (tmp_path / "report.png").stat().st_size > 20_000
