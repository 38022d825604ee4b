"""The VDAF benchmark still runs (quick mode) and writes a well-formed result."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest


@pytest.mark.slow
def test_bench_quick(tmp_path, monkeypatch):
    path = Path(__file__).resolve().parents[2] / "bench" / "bench_vdaf.py"
    spec = importlib.util.spec_from_file_location("bench_vdaf", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setenv("VEIL_BENCH_QUICK", "1")
    monkeypatch.setenv("VEIL_BENCH_RESULTS", str(tmp_path))
    mod.main()
    data = json.loads((tmp_path / "vdaf.json").read_text())
    assert data["quick"] is True
    assert [r["length"] for r in data["sumvec"]] == [100, 1000]
    assert data["sumvec"][1]["speedup_shard"] > 0


@pytest.mark.slow
def test_coldstart_bench_quick(tmp_path, monkeypatch):
    from bench import bench_coldstart

    monkeypatch.setenv("VEIL_BENCH_QUICK", "1")
    monkeypatch.setenv("VEIL_BENCH_RESULTS", str(tmp_path))
    bench_coldstart.main()
    data = json.loads((tmp_path / "coldstart.quick.json").read_text())
    aot = data["results"]["sumvec"]["aot"]
    assert aot["backend"] == ["aot"] and not aot["numba_imported"] and not aot["scipy_imported"]
    assert data["results"]["pine"]["jit_warm_cache"]["backend"] == ["jit"]
