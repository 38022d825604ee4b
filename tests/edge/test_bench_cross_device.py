"""bench/bench_cross_device.py and bench/bench_iot.py in quick mode, so that they cannot rot
(results into a temporary folder)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _bench(name: str, tmp_path: Path) -> dict:
    env = {**os.environ, "VEIL_BENCH_QUICK": "1", "VEIL_BENCH_RESULTS": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-m", "bench", name], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads((tmp_path / f"{name}.quick.json").read_text())


def test_bench_cross_device_quick(tmp_path):
    res = _bench("cross_device", tmp_path)
    row = res["throughput"][0]
    assert row["dimension"] == 10_000 and row["leader_reports_per_s"] > 0
    small, big = res["rounds"]
    assert small["reports"] == big["reports"] == 200
    # streamed: the Leader's heap stays below what the round's reports would take in memory
    assert big["leader_peak_heap_mib"] < big["reports"] * row["report_bytes"] / 2**20


@pytest.mark.e2e
def test_bench_iot_quick(tmp_path):
    (row,) = _bench("iot", tmp_path)["rows"]
    assert row["devices"] == 400 and 0 < row["epsilon"] <= 8.0 + 1e-9
    assert row["accuracy"] > 0.5
