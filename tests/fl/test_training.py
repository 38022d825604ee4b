"""Local training and evaluation: deterministic, actually learning, metrics correct."""

from __future__ import annotations

import numpy as np
import pytest

from veil.errors import ConfigError, DataError
from veil.fl.models import ModelKind, ModelSpec, build_model
from veil.fl.params import get_vector
from veil.fl.training import (
    Optimizer,
    TrainConfig,
    derive_seed,
    evaluate,
    local_update,
    metrics_from_proba,
)


def _blobs(n=400, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(size=(n, 4)).astype(np.float32) + (2 * y[:, None] - 1) * 1.5
    return x.astype(np.float32), y


def test_learns_and_is_deterministic():
    x, y = _blobs()
    spec = ModelSpec(ModelKind.LOGREG, 4, 2)
    v0 = get_vector(build_model(spec, seed=1))
    before = evaluate(spec, v0, x, y)
    cfg = TrainConfig(epochs=3, lr=0.1, optimizer=Optimizer.SGD)
    a = local_update(spec, v0, x, y, cfg, seed=5)
    b = local_update(spec, v0, x, y, cfg, seed=5)
    c = local_update(spec, v0, x, y, cfg, seed=6)
    assert np.array_equal(a.vector, b.vector) and not np.array_equal(a.vector, c.vector)
    after = evaluate(spec, a.vector, x, y)
    assert after.accuracy > 0.95 > before.accuracy or after.log_loss < before.log_loss / 2
    assert a.num_examples == 400


def test_fedprox_term_pulls_towards_the_global_model():
    x, y = _blobs(seed=2)
    spec = ModelSpec(ModelKind.MLP, 4, 2, (8,))
    v0 = get_vector(build_model(spec))
    free = local_update(spec, v0, x, y, TrainConfig(epochs=3, lr=0.05), seed=1).vector
    prox = local_update(spec, v0, x, y, TrainConfig(epochs=3, lr=0.05, proximal_mu=5.0), seed=1)
    assert np.linalg.norm(prox.vector - v0) < np.linalg.norm(free - v0)


def test_local_steps_counts_batches():
    x, y = _blobs(n=100)
    spec = ModelSpec(ModelKind.LOGREG, 4, 2)
    v0 = get_vector(build_model(spec))
    cfg = TrainConfig(batch_size=10, lr=0.1, optimizer=Optimizer.SGD, local_steps=3)
    u = local_update(spec, v0, x, y, cfg, seed=0)
    # 3 batches of 10 → the same as one epoch truncated: differs from a full epoch
    full = local_update(spec, v0, x, y, TrainConfig(batch_size=10, lr=0.1, optimizer="sgd"), seed=0)
    assert not np.array_equal(u.vector, full.vector)
    with pytest.raises(ConfigError):
        TrainConfig(local_steps=0)


def test_metrics_against_sklearn():
    from sklearn.metrics import log_loss, roc_auc_score

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    p = rng.dirichlet(np.ones(3), 200)
    m = metrics_from_proba(p, y, 3)
    assert m.accuracy == pytest.approx((p.argmax(1) == y).mean())
    assert m.auc == pytest.approx(roc_auc_score(y, p, multi_class="ovr"))
    assert m.log_loss == pytest.approx(log_loss(y, p))


def test_bad_inputs():
    spec = ModelSpec(ModelKind.LOGREG, 4, 2)
    v0 = get_vector(build_model(spec))
    x, y = _blobs(n=20)
    with pytest.raises(DataError):
        local_update(spec, v0, x[:, :3], y, TrainConfig(), seed=0)
    with pytest.raises(DataError):
        local_update(spec, v0, x, y + 5, TrainConfig(), seed=0)
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(DataError):
        evaluate(spec, v0, bad, y)
    assert derive_seed(0, 1, 2) != derive_seed(0, 2, 1)
