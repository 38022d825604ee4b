"""``veil train --vertical``: one party per file, the label party found by its column,
report fields a script can rely on, and clear refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from veil.errors import ConfigError, DataError
from veil.scenarios.vertical_files import train_files

from .test_processes import _tables

pytestmark = pytest.mark.slow


def test_train_vertical_command_writes_the_report(tmp_path: Path) -> None:
    paths = _tables(tmp_path)
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "veil.cli", "train", "--vertical", str(paths["shop"]),
         str(paths["bank"]), str(paths["agency"]), "--id", "id", "--target", "y",
         "--positive", "1", "--model", "secureboost", "--out", str(out)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    assert report["mode"] == "vertical" and report["label_party"] == "bank"
    assert 250 < report["intersection"]["size"] <= 400
    assert report["test"]["auc"] == pytest.approx(report["baselines"]["pooled"]["auc"], abs=1e-12)
    assert report["test"]["auc"] > report["baselines"]["label_party_alone"]["auc"]
    assert set(report["bytes_sent"]) == {"shop", "agency"} and report["seconds"] > 0
    assert (out / "report.png").exists()


def test_logreg_trains_two_files(tmp_path: Path) -> None:
    paths = _tables(tmp_path)
    report = train_files([paths["bank"], paths["agency"]], "id", "y", model="logreg",
                         positive="1", out=tmp_path / "lr", epochs=1)  # fmt: skip
    assert report["model"] == "hetero_lr"
    assert abs(report["test"]["auc"] - report["baselines"]["pooled"]["auc"]) < 0.03


def test_refusals(tmp_path: Path) -> None:
    paths = _tables(tmp_path)
    files = [paths["bank"], paths["shop"], paths["agency"]]
    with pytest.raises(ConfigError, match="two parties"):
        train_files(files, "id", "y", model="logreg", out=tmp_path / "x")
    with pytest.raises(DataError, match="exactly one file"):
        train_files([paths["shop"], paths["agency"]], "id", "y", out=tmp_path / "x")
    with pytest.raises(ConfigError):
        train_files(files, "id", "y", model="mlp", out=tmp_path / "x")
    done = subprocess.run([sys.executable, "-m", "veil.cli", "train", "--vertical", "--id", "id",
                           "--target", "y"], capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 2
