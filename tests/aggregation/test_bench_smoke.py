"""The aggregation benchmarks in quick mode, so they cannot rot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _quick(name: str, tmp_path: Path) -> dict:
    """``python -m bench NAME`` in quick mode, results into tmp_path; its JSON."""
    env = {"VEIL_BENCH_QUICK": "1", "VEIL_BENCH_RESULTS": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-m", "bench", name], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads((tmp_path / f"{name}.quick.json").read_text())


def test_bench_agg_quick(tmp_path):
    res = _quick("agg", tmp_path)
    row = res["rows"][0]
    assert row["upload_ratio_vs_float32"] < 3.5 and row["client_s_per_report"] > 0
    assert res["many_clients"]["clients"] == 10


def test_bench_leader_store_quick(tmp_path):
    (row,) = _quick("leader_store", tmp_path)["rows"]
    assert row["ratio_durable_vs_in_memory"] > 0 and len(row["round_seconds"]["durable"]) == 1


def test_bench_agg_scaling_quick(tmp_path):
    res = _quick("agg_scaling", tmp_path)
    assert [r["workers"] for r in res["throughput"]] == [1, 2]
    assert all(r["helper_reports_per_s"] > 0 and r["leader_reports_per_s"] > 0
               for r in res["throughput"])  # fmt: skip
    assert [r["workers"] for r in res["round"]] == [1, 2]
    assert all(r["upload_bytes_per_client"] > 0 for r in res["round"])
