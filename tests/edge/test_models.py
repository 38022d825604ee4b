"""The numpy models: gradients against finite differences and against PyTorch's autograd on
the same flat vector, and training that learns a real dataset."""

from __future__ import annotations

import numpy as np
import pytest

from veil.edge.device import local_train, sgd
from veil.edge.models import SmallMLP, SoftmaxRegression
from veil.errors import DataError, FormatError

MODELS = {
    "logistic": lambda: SoftmaxRegression(5, 2),
    "softmax": lambda: SoftmaxRegression(6, 4),
    "mlp": lambda: SmallMLP(5, 7, 3),
}


def _data(model, n=20, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, model.n_features)), rng.integers(0, model.n_classes, n)


@pytest.fixture(scope="module")
def breast_cancer():
    """WDBC (569 tumours, 30 features), standardised, split 400/169."""
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    order = np.random.default_rng(0).permutation(len(y))
    x, y = x[order], y[order]
    return (x[:400], y[:400]), (x[400:], y[400:])


@pytest.mark.parametrize("name", MODELS)
def test_gradient_matches_finite_differences(name):
    model = MODELS[name]()
    x, y = _data(model)
    vec = np.random.default_rng(1).normal(size=model.size) * 0.5  # float64: exact enough
    _, grad = model.loss_and_grad(vec, x, y)
    eps = 1e-6
    numeric = np.empty(model.size)
    for i in range(model.size):
        e = np.zeros(model.size)
        e[i] = eps
        numeric[i] = model.loss_and_grad(vec + e, x, y)[0] - model.loss_and_grad(vec - e, x, y)[0]
        numeric[i] /= 2 * eps
    assert grad.shape == (model.size,)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", ["softmax", "mlp"])
def test_same_loss_and_gradient_as_the_torch_model_on_the_same_vector(name):
    """The flat layout is veil.fl's: a vector means the same model on a device and a server."""
    pytest.importorskip("torch")
    import torch

    from veil.fl.models import ModelKind, ModelSpec, build_model
    from veil.fl.params import set_vector

    model = MODELS[name]()
    hidden = (model.hidden,) if isinstance(model, SmallMLP) else ()
    kind = ModelKind.MLP if hidden else ModelKind.LOGREG
    spec = ModelSpec(kind, model.n_features, model.n_classes, hidden=hidden)
    net = build_model(spec)
    x, y = _data(model)
    vec = model.init(3)
    set_vector(net, vec)
    loss_t = torch.nn.functional.cross_entropy(
        net(torch.from_numpy(x.astype(np.float32))), torch.from_numpy(y)
    )
    loss_t.backward()
    grad_t = np.concatenate([p.grad.numpy().ravel() for p in net.parameters()])
    loss, grad = model.loss_and_grad(vec, x, y)
    assert loss == pytest.approx(float(loss_t.detach()), rel=1e-5)
    np.testing.assert_allclose(grad, grad_t, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", MODELS)
def test_init_is_deterministic_float32_and_torch_scaled(name):
    model = MODELS[name]()
    a, b, c = model.init(0), model.init(0), model.init(1)
    assert a.dtype == np.float32 and a.shape == (model.size,)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.abs(a).max() <= 1 / np.sqrt(min(model.n_features, getattr(model, "hidden", 99)))


@pytest.mark.parametrize("name", MODELS)
def test_predict_proba_rows_are_distributions(name):
    model = MODELS[name]()
    x, _ = _data(model)
    p = model.predict_proba(model.init(0), x * 1e3)  # large logits: no overflow
    assert p.shape == (len(x), model.n_classes) and np.all(np.isfinite(p))
    np.testing.assert_allclose(p.sum(axis=1), 1.0)


def test_bad_inputs_are_refused():
    model = SmallMLP(5, 7, 3)
    x, y = _data(model)
    vec = model.init(0)
    with pytest.raises(FormatError):
        model.loss_and_grad(vec[:-1], x, y)
    with pytest.raises(DataError):
        model.loss_and_grad(np.where(np.arange(model.size) == 0, np.nan, vec), x, y)
    with pytest.raises(DataError):
        model.loss_and_grad(vec, x[:, :4], y)
    with pytest.raises(DataError):
        model.loss_and_grad(vec, x, y + 3)
    with pytest.raises(DataError):
        model.loss_and_grad(vec, x, y.astype(float))
    with pytest.raises(DataError):
        SoftmaxRegression(3, 1)


@pytest.mark.parametrize(
    "model", [SoftmaxRegression(30, 2), SmallMLP(30, 16, 2)], ids=["logistic", "mlp"]
)
def test_training_learns_breast_cancer(model, breast_cancer):
    (x, y), (xt, yt) = breast_cancer
    vec = model.init(0)
    before = model.loss_and_grad(vec, xt, yt)[0]
    delta, n = local_train(model, vec, x, y, epochs=5, lr=0.1, batch_size=32, seed=0)
    trained = vec + delta
    assert n == 400 and delta.dtype == np.float32
    assert model.loss_and_grad(trained, xt, yt)[0] < before / 3
    accuracy = float(np.mean(model.predict_proba(trained, xt).argmax(axis=1) == yt))
    assert accuracy > 0.93


def test_sgd_is_deterministic_in_the_seed():
    model = SmallMLP(5, 7, 3)
    x, y = _data(model, n=50)
    vec = model.init(0)

    def run(seed: int) -> tuple[np.ndarray, float]:
        return sgd(model, vec, x, y, epochs=2, lr=0.1, batch_size=8, seed=seed)

    (a, la), (b, lb), (c, _) = run(4), run(4), run(5)
    assert np.array_equal(a, b) and la == lb and a.dtype == np.float32
    assert not np.array_equal(a, c)
    assert np.array_equal(vec, model.init(0)), "the global vector was changed in place"
