"""Keras 3 adapter (optional extra ``fl-keras``): the same flat-vector interface and the same
``Client`` protocol as the PyTorch path, so Keras models take part in the embedded runner and
in any strategy unchanged.

Keras runs on its PyTorch backend here (``KERAS_BACKEND=torch``, set before the first import
of keras): no TensorFlow is needed. The vector order is ``model.weights`` order (each Dense
layer's kernel ``(in, out)`` then bias), recorded like :class:`veil.fl.params.ParamSpec`.
A federation uses one framework: Keras and PyTorch vectors have different layouts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from veil.errors import ConfigError, FormatError
from veil.fl.models import ModelKind, ModelSpec
from veil.fl.training import ClientUpdate, Metrics, Optimizer, TrainConfig, metrics_from_proba


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras  # lazy: keras is the optional fl-keras extra
    except ImportError as exc:
        raise ConfigError("the Keras adapter needs: pip install 'veil[fl-keras]'") from exc
    if keras.backend.backend() != "torch":
        raise ConfigError(f"Keras is on the {keras.backend.backend()!r} backend; veil needs torch")
    return keras


def build_keras_model(spec: ModelSpec, *, seed: int = 0):
    """Logistic regression or MLP as a Keras model, deterministic under ``seed``."""
    keras = _keras()
    if spec.kind is ModelKind.CNN:
        raise ConfigError("the Keras adapter builds logreg and mlp models")
    keras.utils.set_random_seed(seed)
    layers = [keras.Input((spec.n_features,))]
    if spec.kind is ModelKind.MLP:
        layers += [keras.layers.Dense(h, activation="relu") for h in spec.hidden]
    layers.append(keras.layers.Dense(spec.n_classes))
    return keras.Sequential(layers)


def get_vector(model) -> np.ndarray:
    """All weights, in ``model.weights`` order, as one float32 vector."""
    return np.concatenate([np.asarray(w).reshape(-1) for w in model.get_weights()]).astype(
        np.float32
    )


def set_vector(model, vec: np.ndarray) -> None:
    """Load a vector produced by :func:`get_vector` (length, dtype, finiteness checked)."""
    shapes = [w.shape for w in model.get_weights()]
    size = sum(int(np.prod(s)) for s in shapes)
    if not isinstance(vec, np.ndarray) or vec.dtype != np.float32 or vec.shape != (size,):
        raise FormatError(f"a Keras vector must be float32 of length {size}")
    if not np.isfinite(vec).all():
        raise FormatError("parameters contain NaN or infinity")
    out, pos = [], 0
    for s in shapes:
        n = int(np.prod(s))
        out.append(vec[pos : pos + n].reshape(s))
        pos += n
    model.set_weights(out)


def keras_update(
    spec: ModelSpec,
    global_vec: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    cfg: TrainConfig,
    *,
    seed: int,
) -> ClientUpdate:
    """Local training in Keras (epochs or ``local_steps`` mini-batches); FedProx not supported."""
    keras = _keras()
    if cfg.proximal_mu:
        raise ConfigError("the Keras adapter does not implement FedProx's proximal term")
    model = build_keras_model(spec, seed=seed)
    set_vector(model, global_vec)
    if cfg.optimizer is Optimizer.ADAM:
        opt = keras.optimizers.Adam(cfg.lr)
    else:
        opt = keras.optimizers.SGD(cfg.lr, momentum=cfg.momentum)
    model.compile(opt, keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    keras.utils.set_random_seed(seed)
    x = np.ascontiguousarray(x, np.float32)
    y = np.ascontiguousarray(y, np.int64)
    if cfg.local_steps is None:
        hist = model.fit(x, y, batch_size=cfg.batch_size, epochs=cfg.epochs, verbose=0)
        loss = float(hist.history["loss"][-1])
    else:
        rng = np.random.default_rng(seed)
        losses = []
        for _ in range(cfg.local_steps):
            idx = rng.choice(len(y), size=min(cfg.batch_size, len(y)), replace=False)
            losses.append(float(model.train_on_batch(x[idx], y[idx])))
        loss = float(np.mean(losses))
    return ClientUpdate(get_vector(model), len(y), loss)


def keras_evaluate(spec: ModelSpec, vec: np.ndarray, x: np.ndarray, y: np.ndarray) -> Metrics:
    """Accuracy, AUC and log loss of a Keras model given as a vector."""
    model = build_keras_model(spec)
    set_vector(model, vec)
    logits = np.asarray(model.predict(np.asarray(x, np.float32), verbose=0), dtype=np.float64)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    return metrics_from_proba(p / p.sum(axis=1, keepdims=True), np.asarray(y), spec.n_classes)


@dataclass
class KerasClient:
    """A client training a Keras model: plugs into :func:`veil.fl.runner.run_federated`."""

    name: str
    spec: ModelSpec
    x: np.ndarray
    y: np.ndarray

    def fit(self, global_vec: np.ndarray, cfg: TrainConfig, *, seed: int) -> ClientUpdate:
        """Local Keras training."""
        return keras_update(self.spec, global_vec, self.x, self.y, cfg, seed=seed)
