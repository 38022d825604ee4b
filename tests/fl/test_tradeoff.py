"""The privacy/utility trade-off (veil.fl.explain.tradeoff, ``veil explain tradeoff``)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from veil.cli import app
from veil.errors import ConfigError
from veil.fl.data import synthetic_table
from veil.fl.explain import tradeoff as tr


def test_parse_epsilons() -> None:
    assert tr.parse_epsilons("1, 8,inf,4,2") == (math.inf, 8.0, 4.0, 2.0, 1.0)
    with pytest.raises(ConfigError):
        tr.parse_epsilons("8,lots")
    with pytest.raises(ConfigError):
        tr.Settings(epsilons=(8.0, 0.0))


def _result() -> dict:
    run = {"auc_runs": [0.8], "accuracy": 0.7, "epsilon_reached": None}
    return {
        "task": "t",
        "model": "logreg",
        "rounds": 2,
        "delta": 1e-5,
        "runs": [
            {**run, "epsilon": "inf", "target_epsilon": None, "auc": 0.84},
            {**run, "epsilon": "8", "target_epsilon": 8.0, "auc": 0.82, "auc_runs": [0.81, 0.83]},
            {**run, "epsilon": "1", "target_epsilon": 1.0, "auc": 0.8},
        ],
        "baselines": {"pooled": {"auc": 0.85}, "best_alone": {"member": "b", "auc": 0.81}},
    }


def test_plot_draws_the_figure(tmp_path: Path) -> None:
    tr.plot_tradeoff(_result(), tmp_path / "t.png")
    assert (tmp_path / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_cli_writes_one_auc_per_epsilon_and_the_baselines(tmp_path: Path) -> None:
    csv = tmp_path / "t.csv"
    synthetic_table(240, 4, seed=1).frame.to_csv(csv, index=False)
    out = tmp_path / "out"
    r = CliRunner().invoke(
        app,
        ["explain", "tradeoff", "--data", str(csv), "--target", "y", "--clients", "2",
         "--rounds", "1", "--epsilons", "inf,2", "--out", str(out)],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    doc = json.loads((out / "tradeoff.json").read_text())
    assert [x["epsilon"] for x in doc["runs"]] == ["inf", "2"]
    assert set(doc["auc_by_epsilon"]) == {"inf", "2"}
    assert all(0 <= x["auc"] <= 1 for x in doc["runs"])
    assert doc["runs"][0]["epsilon_reached"] is None
    assert doc["runs"][1]["epsilon_reached"] <= 2.0
    assert 0 <= doc["baselines"]["pooled"]["auc"] <= 1
    assert doc["baselines"]["best_alone"]["member"] in {"client-1", "client-2"}
    assert (out / "tradeoff.png").stat().st_size > 1000
    assert "pooled (no DP)" in r.output


def test_cli_needs_one_task() -> None:
    r = CliRunner().invoke(app, ["explain", "tradeoff", "--rounds", "1"])
    assert r.exit_code == 2
    r = CliRunner().invoke(app, ["explain", "tradeoff", "--data", "x.csv"])
    assert r.exit_code == 2
