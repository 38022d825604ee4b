"""bench/bench_edge.py in quick mode, so that it cannot rot (results into a temporary folder)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_edge_quick(tmp_path):
    env = {"VEIL_BENCH_QUICK": "1", "VEIL_BENCH_RESULTS": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-m", "bench", "edge"], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads((tmp_path / "edge.quick.json").read_text())
    assert set(res["measured"]) == set(res["targets"])
    big = res["models"]["mlp_10k"]
    assert 10_000 <= big["dimension"] <= 10_500 and big["report_bytes"] > 4 * big["dimension"]
    assert res["peak_rss"]["peak_rss_mib"] > 0 and big["shard_seal_sign_ms"] > 0
