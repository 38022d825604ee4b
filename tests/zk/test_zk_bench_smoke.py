"""The benchmark still runs (quick mode, seconds): keeps bench/bench_zk.py from rotting."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from zk_paths import REPO


def test_bench_quick(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VEIL_BENCH_QUICK", "1")
    monkeypatch.syspath_prepend(str(REPO))
    sys.modules.pop("bench.bench_zk", None)
    from bench import bench_zk

    out = tmp_path / "zk.json"
    bench_zk.main(out)
    result = json.loads(out.read_text())
    assert result["quick"] is True and result["baseline"]["mul_us"] > 0
    for case in result["cases"]:
        assert case["proof_bytes"] == case["proof_bytes_formula"]
        assert case["verify_scalar_mults_counted"] <= case["verify_budget_issue"]
