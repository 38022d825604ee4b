"""Global feature importance: per-column permutation, the fixed-point sum (plain and
verified), and the issue's target on the finance data (docs/explain.md)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from veil.fl import partition as parts
from veil.fl.explain import importance as imp
from veil.fl.models import ModelKind, ModelSpec, build_model
from veil.fl.params import get_vector
from veil.fl.pipeline import TableClient, federate, holdout
from veil.fl.preprocess import fit_federated, infer_schema
from veil.fl.runner import RunConfig
from veil.fl.strategies import make_strategy


def _frame(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    b = np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n))
    c = rng.choice(["x", "y", "z"], size=n)
    return pd.DataFrame({"a": a, "b": b, "c": c, "t": np.where(a > 0, "pos", "neg")})


def test_groups_are_original_columns():
    frame = _frame()
    prep = fit_federated([frame], infer_schema(frame, "t"))
    groups = dict(imp.feature_groups(prep))
    assert list(groups) == ["a", "b", "c"]
    names = prep.feature_names
    assert [names[i] for i in groups["b"]] == ["b", "b__missing"]  # indicator moves with it
    assert [names[i] for i in groups["c"]] == ["c=x", "c=y", "c=z"]  # the one-hot block
    assert sorted(np.concatenate(list(groups.values()))) == list(range(len(names)))


def _logreg_on_a(prep):
    """A logistic regression whose logit depends on column "a" only."""
    spec = ModelSpec(ModelKind.LOGREG, prep.n_features, 2, ())
    model = build_model(spec, seed=0)
    w = model.state_dict()
    key = next(k for k in w if k.endswith("weight"))
    w[key].zero_()
    w[key][1, 0], w[key][0, 0] = 3.0, -3.0
    model.load_state_dict(w)
    return spec, get_vector(model)


def test_a_column_the_model_ignores_has_zero_importance():
    frame = _frame()
    prep = fit_federated([frame], infer_schema(frame, "t"))
    spec, vec = _logreg_on_a(prep)
    v = imp.permutation_importance(prep, spec, vec, frame, repeats=4, seed=1)
    assert imp.columns(prep) == [name for name, _ in imp.feature_groups(prep)]
    assert v[0] > 0.5  # permuting "a" destroys the model
    assert np.allclose(v[1:], 0.0, atol=1e-9)  # "b" and "c" change no prediction


def test_importance_is_the_mean_rise_in_log_loss_over_seeded_repeats():
    """The value is LL(permuted) − LL(original), averaged; seeded, hence reproducible;
    a one-class sample (where AUC is undefined) is scored too."""
    from sklearn.metrics import log_loss

    frame = _frame()
    prep = fit_federated([frame], infer_schema(frame, "t"))
    spec, vec = _logreg_on_a(prep)
    est = imp.released_classifier(prep, spec, vec)
    x, y = frame[imp.columns(prep)], prep.transform(frame)[1]
    base = log_loss(y, est.predict_proba(x), labels=[0, 1])
    v = imp.permutation_importance(prep, spec, vec, frame, repeats=3, seed=[7, 8])
    again = imp.permutation_importance(prep, spec, vec, frame, repeats=3, seed=[7, 8])
    assert np.array_equal(v, again)
    shuffled = x.assign(a=x["a"].sample(frac=1.0, random_state=0).to_numpy())
    assert log_loss(y, est.predict_proba(shuffled), labels=[0, 1]) - base == pytest.approx(
        v[0], rel=0.5
    )  # one shuffle against the mean of three: the same scale
    for j, col in enumerate(imp.columns(prep)):  # the lookup encodes as the preprocessor does
        perm = x.assign(**{col: x[col].sample(frac=1.0, random_state=j).to_numpy()})
        direct, _ = prep.transform(perm.assign(t="pos"))
        assert np.array_equal(est.encode(perm), direct)
    one_class = frame[frame["t"] == "pos"]
    w = imp.permutation_importance(prep, spec, vec, one_class, repeats=2)
    assert w.shape == (3,) and np.isfinite(w).all()


def test_codec_releases_weighted_mean_and_spread_only():
    rng = np.random.default_rng(3)
    vs = rng.normal(0, 0.05, size=(5, 7))
    ns = np.array([120, 80, 200, 35, 150])
    codec = imp.Codec(7, bound=1.0, max_weight=int(ns.sum()))
    bits = imp.frac_bits(codec, 0.0)
    total = imp.plain_sum([codec.encode(v, n) for v, n in zip(vs, ns, strict=True)], bits)
    mean, spread, cover = codec.decode(total)
    want = np.average(vs, axis=0, weights=ns)
    want_sd = np.sqrt(np.average((vs - want) ** 2, axis=0, weights=ns))
    assert cover == pytest.approx(1.0, abs=1e-6)
    assert np.allclose(mean, want, atol=1e-5) and np.allclose(spread, want_sd, atol=1e-3)
    for v, n in zip(vs, ns, strict=True):  # clipped: any vector stays within PINE's bound
        assert np.linalg.norm(codec.encode(v * 100, n)) <= codec.norm_bound


def test_verified_sum_equals_the_plain_sum(tmp_path):
    """The real Leader and Helper process, noise off: the same Σu as the plain sum."""
    rng = np.random.default_rng(4)
    codec = imp.Codec(4, bound=1.0, max_weight=300)
    u = {f"m{k}": codec.encode(rng.normal(0, 0.1, 4), 100) for k in range(3)}
    total, info = imp.verified_sum(tmp_path, u, codec, imp.ImportanceSettings())
    plain = imp.plain_sum(list(u.values()), info["num_frac_bits"])
    assert info["aggregation"].startswith("verified") and info["accepted"] == list(u)
    assert np.allclose(total, plain, atol=1e-6)


def _finance_run(seed: int = 0, rounds: int = 20):
    """The finance demo's split and model in quick settings, without sealing or proofs."""
    from veil.scenarios import finance

    spec = finance.SPEC
    ds = spec.load()
    train_df, test_df = holdout(ds.frame, ds.target, spec.test_fraction, seed)
    labels = train_df[ds.target].astype(str).to_numpy()
    idx = parts.split(spec.partition, labels, 5, rng=np.random.default_rng(seed + 1))
    clients = [
        TableClient(n, (lambda f=train_df.iloc[i]: f))
        for n, i in zip(spec.institutions, idx, strict=True)
    ]
    train, held = imp.carve(clients, imp.VALIDATION_FRACTION, seed)
    cfg = RunConfig(rounds=rounds, seed=seed, train=spec.train, lr_decay=spec.lr_decay)
    res = federate(
        train, test_df, infer_schema(ds.frame, ds.target), model=spec.model,
        hidden=spec.hidden, strategy=make_strategy("fedavg"), cfg=cfg, baselines=False,
    )  # fmt: skip
    return res, held, test_df


@pytest.mark.slow
def test_finance_ranking_matches_the_pooled_rows():
    """The issue's target: Spearman ρ ≥ 0.9 and the same top 5 as the same method on the
    members' held-out rows pooled (docs/explain.md gives the figures for other seeds)."""
    res, held, test_df = _finance_run()
    sec = imp.global_importance(
        held, res.prep, res.spec, res.result.vector, reference=test_df,
        settings=imp.ImportanceSettings(seed=0),
    )  # fmt: skip
    assert sec["aggregation"] == "plain sum (no --secure)" and sec["members"] == 5
    assert len(sec["features"]) == 13  # credit_data's columns, not its one-hot columns
    values = [f["value"] for f in sec["features"]]
    assert values == sorted(values, reverse=True)
    pooled, evaluation = sec["reference"]
    assert pooled["rows"] == sec["rows"]
    assert pooled["spearman"] >= 0.9 and pooled["same_top"], pooled
    assert evaluation["spearman"] >= 0.85, evaluation  # other rows: sampling noise too
