"""Aggregation strategies against hand-computed references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from veil.errors import ConfigError
from veil.fl.strategies import FedAdam, FedAvg, FedProx, make_strategy, weighted_mean
from veil.fl.training import TrainConfig

vecs = arrays(np.float32, 5, elements=st.floats(-100, 100, width=32))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(vecs, st.integers(1, 1000)), min_size=1, max_size=6))
def test_weighted_mean_matches_reference(updates):
    got = weighted_mean(updates)
    total = sum(n for _, n in updates)
    ref = sum(v.astype(np.float64) * n for v, n in updates) / total
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-4)


def test_fedavg_weights_by_sample_count():
    a, b = np.zeros(2, np.float32), np.ones(2, np.float32)
    np.testing.assert_allclose(FedAvg().aggregate(a, [(a, 1), (b, 3)]), [0.75, 0.75])


def test_fedprox_sets_mu_and_averages():
    s = FedProx(mu=0.2)
    assert s.client_config(TrainConfig()).proximal_mu == 0.2
    with pytest.raises(ConfigError):
        FedProx(mu=0)


def test_fedadam_first_steps_follow_the_formula():
    s = FedAdam(eta=0.1, beta1=0.9, beta2=0.99, tau=1e-3)
    x = np.zeros(3, np.float32)
    target = np.array([1.0, -2.0, 0.0], np.float32)
    x1 = s.aggregate(x, [(target, 10)])
    d = target.astype(np.float64)
    m, v = 0.1 * d, 0.01 * d * d
    np.testing.assert_allclose(x1, 0.1 * m / (np.sqrt(v) + 1e-3), rtol=1e-6)
    # state round trip: a fresh strategy loaded with the state takes the same next step
    t = FedAdam(eta=0.1, beta1=0.9, beta2=0.99, tau=1e-3)
    t.load_state(s.state())
    np.testing.assert_array_equal(s.aggregate(x1, [(target, 1)]), t.aggregate(x1, [(target, 1)]))


def test_make_strategy():
    assert make_strategy("FedAvg").name == "fedavg"
    assert make_strategy("fedadam", eta=0.5).eta == 0.5
    with pytest.raises(ConfigError):
        make_strategy("krum")
    with pytest.raises(ValueError):
        weighted_mean([])
