"""Flat parameter vectors: stable order, exact round trip, strict validation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.errors import ConfigError, FormatError
from veil.fl.models import ModelKind, ModelSpec, build_model
from veil.fl.params import get_vector, set_vector, spec_of


@settings(max_examples=15, deadline=None)
@given(
    n_features=st.integers(1, 20),
    n_classes=st.integers(2, 6),
    hidden=st.lists(st.integers(1, 16), max_size=3),
    seed=st.integers(0, 2**31 - 1),
)
def test_vector_round_trip_and_size(n_features, n_classes, hidden, seed):
    spec = ModelSpec(ModelKind.MLP, n_features, n_classes, tuple(hidden))
    model = build_model(spec, seed=seed)
    vec = get_vector(model)
    assert vec.dtype == np.float32 and vec.size == spec_of(model).size
    expected = sum(p.numel() for p in model.parameters())
    assert vec.size == expected
    other = build_model(spec, seed=seed + 1)
    assert not np.array_equal(get_vector(other), vec)
    set_vector(other, vec)
    assert np.array_equal(get_vector(other), vec)


def test_order_is_state_dict_order():
    spec = ModelSpec(ModelKind.MLP, 3, 2, (4,))
    model = build_model(spec)
    ps = spec_of(model)
    assert ps.names == ("0.weight", "0.bias", "2.weight", "2.bias")
    vec = get_vector(model)
    parts = ps.split(vec)
    assert np.array_equal(parts["0.bias"], model.state_dict()["0.bias"].numpy())
    assert np.array_equal(ps.join(parts), vec)


def test_same_seed_same_model_and_cnn_shape():
    spec = ModelSpec(ModelKind.CNN, 64, 10, (4, 8))
    a, b = get_vector(build_model(spec, seed=3)), get_vector(build_model(spec, seed=3))
    assert np.array_equal(a, b)
    import torch

    out = build_model(spec)(torch.zeros(2, 64))
    assert out.shape == (2, 10)


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros(3, np.float32),
        np.zeros(17, np.float64),
        np.zeros((1, 17), np.float32),
        [0.0] * 17,
    ],
)
def test_set_vector_refuses_bad_input(bad):
    model = build_model(ModelSpec(ModelKind.LOGREG, 7, 2))  # 7*2 + 2 = 16 values
    with pytest.raises(FormatError):
        set_vector(model, bad)


def test_spec_validation_and_dict_round_trip():
    spec = ModelSpec(ModelKind.MLP, 5, 3, (8, 4))
    assert ModelSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(ConfigError):
        ModelSpec(ModelKind.LOGREG, 5, 1)
    with pytest.raises(ConfigError):
        ModelSpec(ModelKind.CNN, 10, 2)
    with pytest.raises(ConfigError):
        ModelSpec.from_dict({"kind": "rnn", "n_features": 2, "n_classes": 2})
