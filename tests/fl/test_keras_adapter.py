"""The Keras 3 adapter (torch backend) behind the same vector / client interface."""

from __future__ import annotations

import os

import numpy as np
import pytest

from veil.errors import FormatError
from veil.fl.models import ModelKind, ModelSpec
from veil.fl.runner import RunConfig, run_federated
from veil.fl.strategies import FedAvg
from veil.fl.training import Optimizer, TrainConfig

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
os.environ.setdefault("KERAS_BACKEND", "torch")  # before keras is first imported
pytest.importorskip("keras")  # the fl-keras extra, which `make setup` installs
keras_adapter = pytest.importorskip("veil.fl.keras_adapter")


def _blobs(n, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centres = np.array([[3, 0, 0, 0], [0, 3, 0, 0], [0, 0, 3, 0]], np.float32)
    return (rng.normal(size=(n, 4)).astype(np.float32) + centres[y]), y


def test_vector_round_trip_and_validation():
    spec = ModelSpec(ModelKind.MLP, 4, 3, (8,))
    m = keras_adapter.build_keras_model(spec, seed=1)
    v = keras_adapter.get_vector(m)
    assert v.dtype == np.float32 and v.size == 4 * 8 + 8 + 8 * 3 + 3
    other = keras_adapter.build_keras_model(spec, seed=2)
    assert not np.array_equal(keras_adapter.get_vector(other), v)
    keras_adapter.set_vector(other, v)
    assert np.array_equal(keras_adapter.get_vector(other), v)
    with pytest.raises(FormatError):
        keras_adapter.set_vector(other, v[:-1])
    bad = v.copy()
    bad[0] = np.nan
    with pytest.raises(FormatError):
        keras_adapter.set_vector(other, bad)


def test_keras_clients_federate():
    spec = ModelSpec(ModelKind.LOGREG, 4, 3)
    clients = [keras_adapter.KerasClient(f"k{i}", spec, *_blobs(120, i)) for i in range(3)]
    xt, yt = _blobs(300, 99)
    init = keras_adapter.get_vector(keras_adapter.build_keras_model(spec, seed=0))
    cfg = RunConfig(rounds=3, train=TrainConfig(lr=0.1, optimizer=Optimizer.SGD, local_steps=8))
    res = run_federated(
        spec,
        clients,
        FedAvg(),
        cfg,
        initial=init,
        evaluate=lambda v: keras_adapter.keras_evaluate(spec, v, xt, yt),
    )
    assert res.rounds[-1]["accepted"] == ["k0", "k1", "k2"]
    before = keras_adapter.keras_evaluate(spec, init, xt, yt).accuracy
    assert res.rounds[-1]["metrics"]["accuracy"] > max(0.9, before + 0.2)
