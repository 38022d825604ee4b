"""Keep bench/bench_fl.py from rotting: its embedded part at a tiny size, its app writer."""

from __future__ import annotations

import tomllib

from bench import bench_fl

from veil.fl.flower_common import write_app


def test_embedded_bench_measures_what_it_says():
    hidden = (16, 8)
    r = bench_fl._embedded(hidden, rounds=2)
    assert r["round_seconds"] > 0
    assert r["bytes_up_per_client"] == bench_fl._params(hidden) * 4 + 8
    assert bench_fl._params((300, 256)) == 99_126
    assert 950_000 < bench_fl._params((1000, 900)) < 1_050_000


def test_flower_app_folder(tmp_path):
    write_app(tmp_path, rounds=7, model="mlp")
    cfg = tomllib.loads((tmp_path / "pyproject.toml").read_text())["tool"]["flwr"]
    assert cfg["app"]["components"]["clientapp"] == "veil.fl.client_app:app"
    assert cfg["app"]["config"]["rounds"] == 7 and cfg["app"]["config"]["model"] == "mlp"
