"""The vertical benchmarks in quick mode, so that they cannot rot (results into a temporary
folder, never over the committed ones)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _quick(name: str, tmp_path: Path) -> dict:
    env = {"VEIL_BENCH_QUICK": "1", "VEIL_BENCH_RESULTS": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-m", "bench", name], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    (result,) = tmp_path.glob("*.quick.json")
    return json.loads(result.read_text())


def test_bench_psi_quick(tmp_path: Path) -> None:
    res = _quick("psi", tmp_path)
    assert res["sizes"] and all(size["exact"] for size in res["sizes"])


def test_bench_secureboost_quick(tmp_path: Path) -> None:
    res = _quick("secureboost", tmp_path)
    for scheme in ("ou", "paillier"):
        assert res[scheme]["max_abs_diff_vs_plain"] < 1e-9  # lossless
        assert res[scheme]["auc"] == pytest.approx(res["plain"]["auc"], abs=1e-12)


def test_bench_hetero_lr_quick(tmp_path: Path) -> None:
    text = json.dumps(_quick("hetero_lr", tmp_path))
    assert "phe" in text and "auc" in text


def test_bench_vertical_quick(tmp_path: Path) -> None:
    res = json.dumps(_quick("vertical", tmp_path))
    assert "max_abs_diff_vs_plain" in res
