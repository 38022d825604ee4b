"""bench_helper_load in quick mode (100 reports, d = 100), so the load benchmark cannot rot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def test_bench_helper_load_quick(tmp_path):
    env = {"VEIL_BENCH_QUICK": "1", "VEIL_BENCH_RESULTS": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-m", "bench", "helper_load"], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads((tmp_path / "helper_load.quick.json").read_text())
    (row,) = res["rows"]
    assert row["reports"] == row["accepted"] == row["helper_verify_ms"]["n"] == 100
    lat = row["helper_verify_ms"]
    assert 0 < lat["p50"] <= lat["p99"] <= lat["max"]
    assert row["batches"] == 4 and row["helper_reports_per_s"] > 0
    rss = row["helper_rss_mib"]
    assert 0 < rss["idle"] <= rss["peak"]
    assert row["max_abs_error_vs_float_mean"] < 1e-3
