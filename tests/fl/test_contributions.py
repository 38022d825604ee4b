"""Members' contributions: leave-one-out and truncated Monte Carlo Shapley over cached
coalition values (docs/explain.md, *What each member contributes*)."""

from __future__ import annotations

import numpy as np
import pytest

from veil.fl.explain import contributions as contrib

NAMES = ("a", "b", "c", "d")


def _game(fn):
    calls = []

    def train(names: tuple[str, ...]) -> float:
        calls.append(names)
        return fn(set(names))

    return contrib.CoalitionValues(train, NAMES), calls


def test_additive_game_gives_each_member_its_own_gain():
    gain = {"a": 0.10, "b": 0.05, "c": 0.0, "d": 0.02}
    values, calls = _game(lambda s: contrib.EMPTY_VALUE + sum(gain[n] for n in s))
    shap = contrib.tmc_shapley(values, contrib.ContributionSettings(permutations=6, tolerance=0))
    assert shap == pytest.approx(gain)
    assert contrib.leave_one_out(values) == pytest.approx(gain)
    assert len(calls) == len(set(map(frozenset, calls))) <= 2 ** len(NAMES) - 1  # cached


def test_shapley_is_efficient_and_symmetric():
    # any one member gives the whole model: Shapley splits the gain, leave-one-out sees 0
    values, _ = _game(lambda s: 0.8 if s else contrib.EMPTY_VALUE)
    settings = contrib.ContributionSettings(permutations=400, tolerance=0.0, seed=1)
    shap = contrib.tmc_shapley(values, settings)
    assert sum(shap.values()) == pytest.approx(0.8 - contrib.EMPTY_VALUE)
    assert np.allclose(list(shap.values()), 0.3 / 4, atol=0.02)
    assert all(v == 0 for v in contrib.leave_one_out(values).values())
    assert contrib.exact_shapley(values) == pytest.approx(dict.fromkeys(NAMES, 0.3 / 4))
    sec = contrib.contributions(values, contrib.ContributionSettings(exact_up_to=3))
    assert sec["method"].startswith("leave-one-out and truncated Monte Carlo Shapley (10 ")


def test_truncation_stops_training_once_the_value_is_reached():
    def game(s: set[str]) -> float:
        return 0.8 if "a" in s else 0.6 if s else contrib.EMPTY_VALUE

    runs = []
    for tol in (0.0, 0.01):
        values, _ = _game(game)
        settings = contrib.ContributionSettings(permutations=8, tolerance=tol, seed=2)
        shap = contrib.tmc_shapley(values, settings)
        assert shap["a"] > max(shap["b"], shap["c"], shap["d"])
        assert sum(shap.values()) == pytest.approx(0.3)
        runs.append(values.runs)
    assert runs[1] < runs[0]  # once "a" is in, the rest of a permutation is not trained


def test_section_and_lines():
    gain = {"a": 0.018, "b": 0.0, "c": -0.004, "d": 0.01}
    values, _ = _game(lambda s: contrib.EMPTY_VALUE + sum(gain[n] for n in s))
    sec = contrib.contributions(values, contrib.ContributionSettings(exact_up_to=4))
    assert sec["method"] == "leave-one-out and exact Shapley (all 15 coalitions, re-runs)"
    assert sec["runs"] == 15
    first = sec["members"][0]
    assert first["name"] == "a" and first["auc_points"] == pytest.approx(1.8)
    assert first["leave_one_out_points"] == pytest.approx(1.8)
    out = contrib.lines(sec)
    assert out[0].startswith(f"contributions: {sec['runs']} sub-federations re-run")
    assert "a adds" in out[1] and "AUC points" in out[1]


@pytest.mark.slow
def test_medical_sub_federations_are_rerun(tmp_path):
    """Real re-runs: three hospitals, a few rounds each, every coalition at most once."""
    from veil.fl.pipeline import TableClient, holdout
    from veil.fl.preprocess import infer_schema
    from veil.fl.runner import RunConfig
    from veil.fl.strategies import make_strategy
    from veil.scenarios import medical

    spec = medical.SPEC
    ds = spec.load()
    train_df, test_df = holdout(ds.frame, ds.target, spec.test_fraction, 0)
    thirds = np.array_split(np.arange(len(train_df)), 3)
    clients = [
        TableClient(n, (lambda f=train_df.iloc[i]: f))
        for n, i in zip(spec.institutions, thirds, strict=True)
    ]
    values = contrib.rerun_values(
        clients, test_df, infer_schema(ds.frame, ds.target), model=spec.model, hidden=(),
        strategy=lambda: make_strategy("fedavg"),
        cfg=RunConfig(rounds=3, seed=0, train=spec.train, lr_decay=spec.lr_decay),
    )  # fmt: skip
    sec = contrib.contributions(values, contrib.ContributionSettings(permutations=4))
    assert sec["runs"] <= 7 and sec["rounds"] == 3
    assert 0.9 < sec["full_auc"] <= 1.0
    total = sum(m["auc_points"] for m in sec["members"])
    assert abs(total - 100 * (sec["full_auc"] - 0.5)) <= 100 * sec["tolerance"] * 3
