"""``veil demo government`` end to end in one process (the retail demo runs with real
processes in test_processes.py): three departments, the label party's columns barely
predict, the others' lift it; lossless against the joined table."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_government_demo_quick(tmp_path: Path) -> None:
    from veil.scenarios.vertical import run

    # OU for speed: the scheme is not what this test is about (Paillier is the default)
    report = run("government", tmp_path, quick=True, processes=False, crash=True, scheme="ou")
    assert set(report["parties"]) == {"health", "tax", "census"}
    assert report["claims"]["verified_by"] == ["tax", "census"]
    boost, base = report["models"]["secureboost"], report["baselines"]["secureboost"]
    assert boost["resumed"] == 1
    assert base["pooled_predictions_max_abs_diff"] < 1e-9
    assert boost["auc"] > base["label_party_alone"] + 0.1  # 0.53 alone: the others carry the signal
    assert (tmp_path / "report.png").exists() and (tmp_path / "report.json").exists()
