"""Per-decision explanations (veil.fl.explain.local, ``veil explain --run …``)."""

from __future__ import annotations

import inspect
import itertools
import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import veil
from veil.cli import app
from veil.crypto.keys import identity_file_text
from veil.fl.checkpoint import SealedCheckpointer
from veil.fl.engine import RunState
from veil.fl.explain import local
from veil.fl.explain.importance import feature_groups
from veil.fl.models import ModelKind, ModelSpec, build_model
from veil.fl.params import get_vector
from veil.fl.preprocess import Preprocessor, TableStats, infer_schema, local_stats
from veil.fl.sealed import seal_table


def _table(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    income = rng.normal(100, 30, n)
    income[::7] = np.nan  # a missing-value indicator column
    return pd.DataFrame(
        {
            "id": [f"a{i}" for i in range(n)],
            "income": income,
            "age": rng.integers(20, 70, n).astype(float),
            "home": rng.choice(["own", "rent", "rent", "parents"], n),
            "job": rng.choice(["fixed", "freelance"], n),
            "status": rng.choice(["good", "good", "bad"], n),
        }
    )


def _consortium(
    frames: list[pd.DataFrame],
) -> tuple[Preprocessor, TableStats]:
    schema = infer_schema(frames[0], "status", exclude=["id"])
    merged = TableStats()
    for f in frames:
        merged = merged.merge(local_stats(f, schema))
    return Preprocessor.fit(schema, merged), merged


@pytest.fixture(scope="module")
def fitted():
    a, b = _table(60, 0), _table(40, 1)
    prep, stats = _consortium([a, b])
    return a, prep, stats


def _model(prep: Preprocessor, kind: ModelKind, seed: int = 3):
    spec = ModelSpec(kind, prep.n_features, len(prep.classes), (8,) if kind == "mlp" else ())
    vec = get_vector(build_model(spec, seed=seed))
    return spec, vec * 4  # larger weights: clearly non-zero, non-linear effects


def test_values_sum_to_prediction_minus_base(fitted) -> None:
    frame, prep, stats = fitted
    spec, vec = _model(prep, ModelKind.MLP)
    for i in (0, 7, 13):  # 7: income missing
        e = local.explain_row(spec, vec, prep, stats, frame.iloc[i].to_dict())
        total = sum(r.shap for r in e.reasons)
        assert total == pytest.approx(e.log_odds - e.base_value, abs=1e-4)
        prob = sum(r.shap_probability for r in e.reasons)
        assert prob == pytest.approx(e.prediction - e.base_probability, abs=1e-5)
        assert 1 / (1 + math.exp(-e.log_odds)) == pytest.approx(e.prediction, rel=1e-5)


def test_a_column_at_its_reference_value_gets_zero(fitted) -> None:
    frame, prep, stats = fitted
    spec, vec = _model(prep, ModelKind.MLP)
    bg = local.background_row(prep, stats)
    row = frame.iloc[1].to_dict() | {"age": bg["age"], "home": bg["home"]}
    e = local.explain_row(spec, vec, prep, stats, row)
    by = {r.feature: r for r in e.reasons}
    assert by["age"].shap == 0.0 and by["home"].shap == 0.0
    assert by["age"].shap_probability == 0.0
    assert abs(by["income"].shap) > 0


def test_linear_model_matches_the_closed_form(fitted) -> None:
    """For logistic regression the log-odds are linear: φ_j = Σ_{i in column j} w_i (x_i − b_i)."""
    frame, prep, stats = fitted
    spec, vec = _model(prep, ModelKind.LOGREG)
    cls = local.risk_class(prep, stats)
    c = prep.classes.index(cls)
    w = vec[: spec.n_features * 2].reshape(2, -1).astype(np.float64)  # Linear(d, 2).weight
    w_diff = w[c] - w[1 - c]
    row = frame.iloc[7].to_dict()
    e = local.explain_row(spec, vec, prep, stats, row)
    bg = local.background_row(prep, stats)
    frame2 = pd.DataFrame([row, {**bg, "status": "good"}])
    x, _ = prep.transform(frame2)
    contrib = w_diff * (x[0] - x[1])
    for r, (name, cols) in zip(e.reasons, feature_groups(prep), strict=True):
        assert r.feature == name
        assert r.shap == pytest.approx(contrib[cols].sum(), abs=1e-5)


def _brute_force(v, k: int) -> np.ndarray:
    """Shapley's formula, coalition by coalition."""
    phi = np.zeros(k)
    for j in range(k):
        others = [i for i in range(k) if i != j]
        for size in range(k):
            for s in itertools.combinations(others, size):
                weight = math.factorial(size) * math.factorial(k - size - 1) / math.factorial(k)
                phi[j] += weight * (v({*s, j}) - v(set(s)))
    return phi


def _players(k: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A row of ones against a background of zeros: column j is in the coalition when 1."""
    names = [f"c{j}" for j in range(k)]
    return pd.DataFrame([np.ones(k)], columns=names), pd.DataFrame([np.zeros(k)], columns=names)


def test_exact_values_match_shapleys_formula() -> None:
    """With every coalition enumerated, shap's Kernel SHAP (as :func:`local.shap_values`
    calls it) returns Shapley's values of an arbitrary, non-additive game."""
    k = 5
    rng = np.random.default_rng(0)
    table = rng.normal(size=1 << k)

    def key(s) -> int:
        return sum(1 << i for i in s)

    def game(z: np.ndarray) -> np.ndarray:
        bits = (np.asarray(z, dtype=np.float64) > 0.5) @ (1 << np.arange(k))
        return np.stack([table[bits], 2 * table[bits]], axis=1)

    phi, base = local.shap_values(game, *_players(k))
    want = _brute_force(lambda s: table[key(s)], k)
    assert np.allclose(phi[:, 0], want, atol=1e-10) and np.allclose(phi[:, 1], 2 * want)
    assert base[0] == table[0]


def test_sampled_values_for_many_columns_stay_efficient() -> None:
    k = local.MAX_EXACT + 2
    w = np.arange(1.0, k + 1)

    def game(z: np.ndarray) -> np.ndarray:
        m = np.asarray(z, dtype=np.float64)
        lin = m @ w
        return np.stack([lin, lin + 3.0 * m[:, 0] * m[:, 1]], axis=1)

    phi, _ = local.shap_values(game, *_players(k))
    assert np.allclose(phi[:, 0], w)  # additive game: the regression fits it exactly
    assert phi[:, 1].sum() == pytest.approx(w.sum() + 3.0)
    assert phi[0, 1] == pytest.approx(w[0] + 1.5, abs=0.3)
    again, _ = local.shap_values(game, *_players(k))
    assert np.array_equal(phi, again)  # seeded


def test_background_comes_from_aggregated_statistics_only(fitted) -> None:
    """No function of the explanation takes another member's rows: the reference point is
    a function of the preprocessor and the merged statistics alone."""
    _, prep, stats = fitted
    params = inspect.signature(local.background_row).parameters
    assert list(params) == ["prep", "stats"]
    assert [p.annotation for p in params.values()] == ["Preprocessor", "TableStats"]
    sig = inspect.signature(local.explain_row).parameters
    assert "row" in sig and not any("frame" in p or "rows" in p for p in sig)
    bg = local.background_row(prep, stats)
    assert bg["income"] == pytest.approx(stats.numeric["income"].mean)
    assert bg["home"] == max(stats.levels["home"], key=stats.levels["home"].get)
    assert set(bg) == {"income", "age", "home", "job"}


def test_reasons_in_words(fitted) -> None:
    frame, prep, stats = fitted
    spec, vec = _model(prep, ModelKind.MLP)
    e = local.explain_row(spec, vec, prep, stats, frame.iloc[7].to_dict(), row_id="7")
    lines = local.summary_lines(e, top=3)
    assert lines[0].startswith("row 7: P(status = bad)")
    assert len(lines) == 3 + 3
    assert all(("raised" in s or "lowered" in s) and "log-odds" in s for s in lines[3:])
    assert any("consortium" in s for s in lines[3:])


def _key(path: Path, kind: str):
    ident = veil.generate_identity(kind)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(identity_file_text(ident))
    return ident


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, fitted):
    """A run folder as the demo leaves it, plus preprocessing.json."""
    frame, prep, stats = fitted
    out = tmp_path_factory.mktemp("run")
    (out / "keys").mkdir()
    cons = _key(out / "keys" / "consortium.identity", "x25519")
    signer = _key(out / "keys" / "consortium-signing.identity", "ed25519")
    member = _key(out / "keys" / "bank-a.identity", "x25519")
    spec, vec = _model(prep, ModelKind.MLP)
    ckpt = SealedCheckpointer(out / "checkpoint.sealed", [cons.recipient()], signer=signer)
    ckpt.save(RunState(1, vec, {}, [{}]))
    (out / "report.json").write_text(json.dumps({"config": {"model": spec.to_dict()}}))
    local.write_preprocessing(out / local.PREP_FILE, prep, stats)
    seal_table(frame, out / "shards" / "bank-a.sealed", [member.recipient()])
    frame.to_csv(out / "mine.csv", index=False)
    return out


def test_cli_prints_reasons_and_json(run_dir: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["explain", "--run", str(run_dir), "--member", "bank-a", "--row", "7"])
    assert r.exit_code == 0, r.output
    assert "top reasons" in r.output and "consortium mean" in r.output
    r = runner.invoke(
        app,
        ["explain", "--run", str(run_dir), "--data", str(run_dir / "mine.csv"),
         "--id-column", "id", "--row", "a7", "--json"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["row"] == "id=a7" and doc["units"] == "log-odds"
    assert doc["background"] == local.BACKGROUND
    assert {v["feature"] for v in doc["values"]} == {"income", "age", "home", "job"}
    assert sum(v["shap"] for v in doc["values"]) == pytest.approx(
        doc["log_odds"] - doc["base_value"], abs=1e-4
    )
    assert next(v for v in doc["values"] if v["feature"] == "income")["value"] is None


def test_cli_refuses_a_foreign_checkpoint_and_a_bad_row(run_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["explain", "--run", str(run_dir), "--member", "bank-a", "--row", "999"])
    assert r.exit_code != 0 and "out of range" in str(r.exception)
    fake = tmp_path / "run"
    fake.mkdir()
    for name in ("report.json", "checkpoint.sealed", local.PREP_FILE):
        (fake / name).write_bytes((run_dir / name).read_bytes())
    (fake / "keys").mkdir()
    (fake / "keys" / "consortium.identity").write_bytes(
        (run_dir / "keys" / "consortium.identity").read_bytes()
    )
    _key(fake / "keys" / "consortium-signing.identity", "ed25519")  # not the run's signer
    r = runner.invoke(
        app, ["explain", "--run", str(fake), "--data", str(run_dir / "mine.csv"), "--row", "1"]
    )
    assert r.exit_code != 0 and "does not open" in str(r.exception)


def test_a_member_checks_the_model_with_the_public_signing_key_only(
    run_dir: Path, tmp_path: Path
) -> None:
    """No private signing key in the member's copy of the run: the public one (a
    ``.recipient`` file, or ``--signer``) authenticates the checkpoint; another key refuses it."""
    copy = tmp_path / "run"
    copy.mkdir()
    for name in ("report.json", "checkpoint.sealed", local.PREP_FILE, "mine.csv"):
        (copy / name).write_bytes((run_dir / name).read_bytes())
    (copy / "keys").mkdir()
    (copy / "keys" / "consortium.identity").write_bytes(
        (run_dir / "keys" / "consortium.identity").read_bytes()
    )
    runner = CliRunner()
    argv = ["explain", "--run", str(copy), "--data", str(copy / "mine.csv"), "--row", "1"]
    r = runner.invoke(app, argv)
    assert r.exit_code != 0 and "no signing key" in str(r.exception)
    signer = veil.load_identities([run_dir / "keys" / "consortium-signing.identity"])[0]
    (copy / "keys" / "consortium-signing.recipient").write_text(f"{signer.recipient()}\n")
    r = runner.invoke(app, argv)
    assert r.exit_code == 0, r.output
    other = veil.generate_identity("ed25519").recipient()
    r = runner.invoke(app, [*argv, "--signer", str(other)])
    assert r.exit_code != 0 and "does not open" in str(r.exception)
    r = runner.invoke(app, [*argv, "--signer", str(veil.generate_identity("x25519").recipient())])
    assert r.exit_code != 0 and "ed25519" in str(r.exception)


def test_a_wide_table_is_sampled_and_still_exact_where_it_must_be() -> None:
    """More columns than :data:`local.MAX_EXACT`: shap samples coalitions; the values still
    sum to prediction − base in log-odds, a column at its reference still gets 0, and a
    logistic regression's values are still its closed form w·(x − reference)."""
    rng = np.random.default_rng(5)
    n, k = 80, local.MAX_EXACT + 2
    wide = pd.DataFrame({f"x{j}": rng.normal(j, 1.0, n) for j in range(k - 1)})
    wide["kind"] = rng.choice(["p", "q", "r"], n)
    wide["status"] = rng.choice(["good", "bad"], n)
    prep, stats = _consortium([wide])
    spec, vec = _model(prep, ModelKind.LOGREG, seed=1)
    bg = local.background_row(prep, stats)
    row = wide.iloc[3].to_dict() | {"x4": bg["x4"]}
    e = local.explain_row(spec, vec, prep, stats, row)
    assert len(e.reasons) == k
    assert sum(r.shap for r in e.reasons) == pytest.approx(e.log_odds - e.base_value, abs=1e-6)
    by = {r.feature: r for r in e.reasons}
    assert by["x4"].shap == 0.0 and by["x4"].shap_probability == 0.0
    c = prep.classes.index(local.risk_class(prep, stats))
    w = vec[: spec.n_features * 2].reshape(2, -1).astype(np.float64)
    x, _ = prep.transform(pd.DataFrame([row, {**bg, "status": "good"}]))
    contrib = (w[c] - w[1 - c]) * (x[0] - x[1])
    for name, cols in feature_groups(prep):
        assert by[name].shap == pytest.approx(contrib[cols].sum(), abs=1e-5)
