"""bench/bench_flower_devices.py in quick mode (50 virtual SuperNodes, 2 rounds): veil's
ServerApp/ClientApp (plain, and verified with a Helper process) and plain Flower FedAvg on
Flower's simulation engine. Needs Ray
(``flwr[simulation]``), which ``make bench`` installs and ``make test`` does not."""

from __future__ import annotations

import json
from importlib.util import find_spec

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        find_spec("ray") is None,
        reason="Flower's simulation engine needs Ray: pip install 'flwr[simulation]>=1.42,<1.43'",
    ),
]


def test_quick_bench_runs_both_engines_on_virtual_supernodes(tmp_path, monkeypatch):
    from bench import bench_flower_devices

    monkeypatch.setenv("VEIL_BENCH_QUICK", "1")
    monkeypatch.setenv("VEIL_BENCH_RESULTS", str(tmp_path))
    bench_flower_devices.main()
    out = json.loads((tmp_path / "flower_devices.quick.json").read_text())
    n = bench_flower_devices.QUICK_NODES
    size = int(n * bench_flower_devices.QUICK_RATE)
    assert out["virtual_supernodes"] == n and out["rounds"] == bench_flower_devices.QUICK_ROUNDS
    for engine in ("veil", "flower_fedavg"):
        row = out[engine]
        assert "error" not in row, row
        assert row["nodes_sampled"] == [size] * out["rounds"]
        assert row["round_seconds"] > 0 and 0.5 < row["accuracy"] <= 1.0
    assert out["veil"]["rejected_per_round"] == [0] * out["rounds"]
    assert out["ratio_veil_vs_flower"] > 0
    verified = out["veil_verified_dp"]  # Helper process, sealed reports, Poisson q, z = 1
    assert "error" not in verified, verified
    assert verified["accepted_per_round"] == verified["nodes_sampled"]
    assert verified["epsilon"] > 0 and verified["dp"]["sampling_rate"] == out["sampling"]["rate"]
