"""`veil train` on tables it has never seen, and clear errors on bad ones."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from veil.cli import app
from veil.errors import DataError
from veil.fl.tabular import train_table


def _wine_table():
    from sklearn.datasets import load_wine

    b = load_wine()
    f = pd.DataFrame(b.data, columns=b.feature_names)
    rng = np.random.default_rng(0)
    f["region"] = rng.choice(["north", "south", "east"], len(f))
    f["cellar"] = rng.choice(["A", "B"], len(f))
    f.loc[::9, "alcohol"] = np.nan
    f.loc[::13, "region"] = None
    f["cultivar"] = np.array(["barolo", "grignolino", "barbera"])[b.target]
    return f


def test_train_on_unseen_multiclass_parquet(tmp_path):
    f = _wine_table()
    f.to_parquet(tmp_path / "wine.parquet")
    rep = train_table(
        tmp_path / "wine.parquet",
        "cultivar",
        clients=3,
        partition="dirichlet:1.0",
        rounds=8,
        out=tmp_path / "out",
        model="mlp",
    )
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    assert (tmp_path / "out" / "report.png").stat().st_size > 10_000
    assert saved["final"] == rep["final"]
    assert saved["config"]["classes"] == ["barbera", "barolo", "grignolino"]
    assert "region=<missing>" in saved["config"]["features"]
    assert saved["final"]["accuracy"] > 0.85
    assert set(saved["baselines"]["local_only"]) == {"client-1", "client-2", "client-3"}


def test_train_partition_by_column_csv_cli(tmp_path):
    f = _wine_table()
    f.to_csv(tmp_path / "wine.csv", index=False)
    r = CliRunner().invoke(
        app,
        [
            "train",
            "--data",
            str(tmp_path / "wine.csv"),
            "--target",
            "cultivar",
            "--partition-by",
            "cellar",
            "--rounds",
            "3",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "o" / "report.json").read_text())
    assert rep["config"]["clients"] == ["cellar=A", "cellar=B"]
    assert "cellar=A" not in " ".join(rep["config"]["features"])  # the key is not a feature


@pytest.mark.parametrize(
    ("mutate", "args", "message"),
    [
        (lambda f: f, {"target": "price"}, "unknown target"),
        (lambda f: f.assign(cultivar="barolo"), {}, "single class"),
        (
            lambda f: f.assign(ash=f["ash"].astype(object).where(f.index != 4, "about 2")),
            {},
            "'ash'",
        ),
        (lambda f: f, {"partition_by": "nope"}, "partition-by"),
    ],
)
def test_bad_tables(tmp_path, mutate, args, message):
    mutate(_wine_table()).to_csv(tmp_path / "t.csv", index=False)
    kw = {"target": "cultivar", "rounds": 1, "out": tmp_path / "o"} | args
    target = kw.pop("target")
    with pytest.raises(DataError, match=message):
        train_table(tmp_path / "t.csv", target, **kw)


def test_empty_partition_is_named(tmp_path):
    f = _wine_table()
    f.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(DataError, match=r"partition|rows"):
        train_table(tmp_path / "t.csv", "cultivar", clients=500, rounds=1, out=tmp_path / "o")


def test_cli_exit_code_on_bad_table(tmp_path):
    import subprocess
    import sys

    _wine_table().to_csv(tmp_path / "t.csv", index=False)
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "veil.cli",
            "train",
            "--data",
            str(tmp_path / "t.csv"),
            "--target",
            "nope",
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and "unknown target column 'nope'" in r.stderr


def test_train_with_record_dp_cli_reports_the_guarantee(tmp_path):
    """`veil train --record-dp`: every client trains with DP-SGD calibrated to the target ε,
    and the report says what was spent, per round and in total."""
    f = _wine_table()
    f.to_csv(tmp_path / "wine.csv", index=False)
    args = ["train", "--data", str(tmp_path / "wine.csv"), "--target", "cultivar",
            "--clients", "2", "--rounds", "3", "--out", str(tmp_path / "o"), "--record-dp",
            "--target-epsilon", "4", "--delta", "1e-4"]  # fmt: skip
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "o" / "report.json").read_text())
    p = rep["privacy"]
    assert 3.5 < p["epsilon"] <= 4.0 and p["delta"] == 1e-4
    assert [x["epsilon"] for x in rep["rounds"]] == sorted(x["epsilon"] for x in rep["rounds"])
    assert rep["config"]["record_dp"]["target_epsilon"] == 4.0
    # without --record-dp the DP flags are refused, not silently ignored
    bad = CliRunner().invoke(app, [*args[:-5], "--target-epsilon", "4"])
    assert bad.exit_code != 0 and "--record-dp" in bad.output


def test_train_resume_refuses_a_checkpoint_the_run_did_not_sign(tmp_path):
    """``veil train --identity``: the checkpoint is signed with the run's own key
    (``out/keys/checkpoint-signing.identity``); one sealed by anyone else is refused."""
    import veil
    from veil.crypto.keys import identity_file_text
    from veil.errors import CheckpointError

    f = _wine_table()
    f.to_parquet(tmp_path / "wine.parquet")
    ident = veil.generate_identity("x25519")
    (tmp_path / "me.identity").write_text(identity_file_text(ident))
    kw = dict(clients=2, out=tmp_path / "out", identity=tmp_path / "me.identity")
    train_table(tmp_path / "wine.parquet", "cultivar", rounds=2, **kw)
    rep = train_table(tmp_path / "wine.parquet", "cultivar", rounds=3, resume=True, **kw)
    assert [r["round"] for r in rep["rounds"]] == [1, 2, 3]
    ck = tmp_path / "out" / "checkpoint.sealed"
    data = veil.open(ck.read_bytes(), [ident])  # the attacker re-seals it, unsigned
    ck.write_bytes(veil.seal(data, [ident.recipient()]))
    before = ck.read_bytes()
    with pytest.raises(CheckpointError, match="not signed by this run's key"):
        train_table(tmp_path / "wine.parquet", "cultivar", rounds=4, resume=True, **kw)
    assert ck.read_bytes() == before
