"""Keep bench/bench_pine.py from rotting: run it in quick mode (no results file written)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench" / "bench_pine.py"


@pytest.mark.slow
def test_bench_quick_mode() -> None:
    results = BENCH.parent / "results" / "pine.json"
    before = results.read_bytes() if results.exists() else None
    out = subprocess.run(
        [sys.executable, str(BENCH)],
        env={**os.environ, "VEIL_BENCH_QUICK": "1"},
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    assert "baseline" in out.stdout
    assert "10000" in out.stdout
    after = results.read_bytes() if results.exists() else None
    assert before == after
