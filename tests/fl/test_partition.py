"""Partitioners: disjoint, complete, skewed as asked, refusing impossible requests."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.errors import ConfigError, DataError
from veil.fl import partition as P


def _check_cover(parts, n):
    allidx = np.concatenate(parts)
    assert len(allidx) == n and len(np.unique(allidx)) == n


@settings(max_examples=30, deadline=None)
@given(n=st.integers(10, 500), k=st.integers(1, 8), seed=st.integers(0, 1000))
def test_iid_is_a_partition(n, k, seed):
    if n < k:
        return
    parts = P.iid(n, k, rng=np.random.default_rng(seed))
    _check_cover(parts, n)
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_dirichlet_is_a_partition_and_skews_labels():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 4000)
    skewed = P.dirichlet(labels, 5, 0.1, rng=np.random.default_rng(1))
    flat = P.dirichlet(labels, 5, 100.0, rng=np.random.default_rng(1))
    _check_cover(skewed, 4000)
    _check_cover(flat, 4000)

    def max_share(parts):
        return np.mean([np.bincount(labels[p], minlength=4).max() / len(p) for p in parts])

    assert max_share(skewed) > 0.6 > max_share(flat)
    assert min(map(len, skewed)) >= 10


def test_quantity_skew_and_by_column():
    parts = P.quantity_skew(1000, 4, 0.5, rng=np.random.default_rng(2))
    _check_cover(parts, 1000)
    keys, idx = P.by_column(["b", "a", "b", "c"])
    assert keys == ["a", "b", "c"]
    assert [list(i) for i in idx] == [[1], [0, 2], [3]]


def test_errors():
    with pytest.raises(ConfigError):
        P.parse_partition("random")
    with pytest.raises(ConfigError):
        P.parse_partition("dirichlet:-1")
    with pytest.raises(DataError):
        P.iid(3, 5, rng=np.random.default_rng(0))
    with pytest.raises(DataError):
        P.dirichlet(np.zeros(30, int), 5, 0.5, rng=np.random.default_rng(0), min_size=10)
    assert P.parse_partition("dirichlet:0.3") == ("dirichlet", 0.3)
