"""Preprocessing from merged per-client statistics equals pooled preprocessing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.errors import DataError
from veil.fl import preprocess as pp


@settings(max_examples=30, deadline=None)
@given(
    chunks=st.lists(
        st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=0, max_size=30),
        min_size=1,
        max_size=5,
    )
)
def test_chan_merge_equals_pooled_moments(chunks):
    values = [v for c in chunks for v in c]
    if len(values) < 2:
        return
    merged = pp.NumericStats()
    for c in chunks:
        a = np.asarray(c, dtype=np.float64)
        m = float(a.mean()) if len(a) else 0.0
        merged = merged.merge(pp.NumericStats(len(a), m, float(((a - m) ** 2).sum()), 0))
    pooled = np.asarray(values)
    assert merged.n == len(values)
    np.testing.assert_allclose(merged.mean, pooled.mean(), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(merged.m2 / (merged.n - 1), pooled.var(ddof=1), rtol=1e-7, atol=1e-6)


def _frame(seed=0, n=60):
    rng = np.random.default_rng(seed)
    f = pd.DataFrame(
        {
            "age": rng.integers(18, 90, n).astype(float),
            "income": rng.normal(50, 10, n),
            "home": rng.choice(["rent", "own", "parents"], n),
            "y": rng.choice(["yes", "no"], n),
        }
    )
    f.loc[::7, "income"] = np.nan
    f.loc[::11, "home"] = None
    return f


def test_federated_fit_matches_pooled_fit():
    f = _frame()
    schema = pp.infer_schema(f, "y")
    assert schema.numeric == ("age", "income") and schema.categorical == ("home",)
    fed = pp.fit_federated([f.iloc[:20], f.iloc[20:45], f.iloc[45:]], schema)
    pooled = pp.fit_federated([f], schema)
    np.testing.assert_allclose(fed.means, pooled.means)
    np.testing.assert_allclose(fed.stds, pooled.stds)
    assert fed.levels == pooled.levels and fed.indicators == ("income",)
    x, _y = fed.transform(f)
    assert x.shape == (60, fed.n_features) and np.isfinite(x).all()
    assert "home=<missing>" in fed.feature_names and "income__missing" in fed.feature_names
    np.testing.assert_allclose(x[:, 0].mean(), 0, atol=1e-6)
    # serialisation round trips (what Flower clients receive)
    again = pp.preprocessor_from_dict(pp.preprocessor_to_dict(fed))
    np.testing.assert_array_equal(again.transform(f)[0], x)
    st_ = pp.local_stats(f, schema)
    assert pp.stats_from_dict(pp.stats_to_dict(st_)).rows == 60


def test_unseen_level_is_all_zero():
    f = _frame()
    prep = pp.fit_federated([f], pp.infer_schema(f, "y"))
    g = f.copy()
    g["home"] = "castle"
    x, _ = prep.transform(g)
    cols = [i for i, n in enumerate(prep.feature_names) if n.startswith("home=")]
    assert (x[:, cols] == 0).all()


def test_bad_tables_give_clear_errors():
    f = _frame()
    with pytest.raises(DataError, match="unknown target"):
        pp.infer_schema(f, "nope")
    g = f.copy()
    g["age"] = g["age"].astype(object)
    g.loc[3, "age"] = "forty"
    with pytest.raises(DataError, match=r"'age'.*'forty'"):
        pp.infer_schema(g, "y")
    one = f.assign(y="yes")
    with pytest.raises(DataError, match="single class"):
        pp.fit_federated([one], pp.infer_schema(one, "y"))
    with pytest.raises(DataError):
        pp.stats_from_dict({"rows": "x"})
