"""Small numpy models on one flat float32 parameter vector, with hand-derived gradients.

A device trains these without PyTorch. The flat layout is the one :mod:`veil.fl.params` gives
the equivalent torch modules (``state_dict`` order, each ``nn.Linear`` as weight ``(out, in)``
then bias ``(out,)``), so a vector means the same thing on both sides:

* :class:`SoftmaxRegression` ↔ ``ModelSpec(logreg, n_features, n_classes)``;
* :class:`SmallMLP` (ReLU) ↔ ``ModelSpec(mlp, n_features, n_classes, hidden=(h,))``.

Logistic regression is the two-class softmax (as in veil.fl). The arithmetic runs in float64
(log-sum-exp, batch sums), the parameters stay float32: the rounding of a float32 gradient
step is far below what clipping and fixed-point encoding do to the update anyway.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from math import prod, sqrt

import numpy as np

from veil.errors import DataError, FormatError


@dataclass(frozen=True)
class Layout:
    """Names and shapes of the tensors in a flat vector, in order (torch ``state_dict``)."""

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]

    @property
    def size(self) -> int:
        return sum(prod(s) for s in self.shapes)

    def split(self, vec: np.ndarray) -> list[np.ndarray]:
        """Views of ``vec`` shaped as the tensors (no copy)."""
        out, pos = [], 0
        for shape in self.shapes:
            n = prod(shape)
            out.append(vec[pos : pos + n].reshape(shape))
            pos += n
        return out


def _linear_layout(prefix: str, n_in: int, n_out: int) -> tuple[list[str], list[tuple]]:
    return [f"{prefix}.weight", f"{prefix}.bias"], [(n_out, n_in), (n_out,)]


def _uniform_init(layout: Layout, fan_in: dict[str, int], seed: int) -> np.ndarray:
    """torch ``nn.Linear``'s default distribution: U(±1/√fan_in) for weights and biases."""
    rng = np.random.default_rng(seed)
    parts = []
    for name, shape in zip(layout.names, layout.shapes, strict=True):
        bound = 1.0 / sqrt(fan_in[name.rsplit(".", 1)[0]])
        parts.append(rng.uniform(-bound, bound, size=prod(shape)))
    return np.concatenate(parts).astype(np.float32)


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax, shifted by the row maximum so that exp never overflows."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def cross_entropy(z: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of logits ``z`` against labels ``y``, and its gradient in ``z``."""
    n = len(y)
    shifted = z - z.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=1))
    loss = float(np.mean(log_norm - shifted[np.arange(n), y]))
    dz = np.exp(shifted - log_norm[:, None])
    dz[np.arange(n), y] -= 1.0
    return loss, dz / n


class _Model(ABC):
    """What both models share: the layout, checks on inputs, initialisation."""

    n_features: int
    n_classes: int
    layout: Layout
    _fan_in: dict[str, int]

    @property
    def size(self) -> int:
        """d: the length of the flat parameter vector."""
        return self.layout.size

    def init(self, seed: int) -> np.ndarray:
        """A fresh float32 vector, deterministic in ``seed``."""
        return _uniform_init(self.layout, self._fan_in, seed)

    def tensors(self, vec: np.ndarray) -> list[np.ndarray]:
        """The float64 tensors of ``vec``; a wrong length or a non-finite value is refused."""
        v = np.asarray(vec)
        if v.ndim != 1 or v.shape[0] != self.size:
            raise FormatError(f"parameter vector has shape {v.shape}, expected ({self.size},)")
        v = v.astype(np.float64)
        if not np.all(np.isfinite(v)):
            raise DataError("parameter vector has NaN or infinite entries")
        return self.layout.split(v)

    def check_x(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise DataError(f"features have shape {x.shape}, expected (n, {self.n_features})")
        return x

    def check_y(self, y: np.ndarray, n: int) -> np.ndarray:
        y = np.asarray(y)
        if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"labels must be {n} integers")
        if n and (y.min() < 0 or y.max() >= self.n_classes):
            raise DataError(f"labels must lie in [0, {self.n_classes})")
        return y.astype(np.intp, copy=False)

    @abstractmethod
    def logits(self, vec: np.ndarray, x: np.ndarray) -> np.ndarray:
        """The (n, n_classes) logits of checked features ``x``."""

    @abstractmethod
    def loss_and_grad(
        self, vec: np.ndarray, x: np.ndarray, y: np.ndarray
    ) -> tuple[float, np.ndarray]:
        """Mean cross-entropy on (x, y) and its gradient with respect to ``vec``."""

    def predict_proba(self, vec: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Class probabilities, shape (n, n_classes), float64."""
        return softmax(self.logits(vec, self.check_x(x)))


class SoftmaxRegression(_Model):
    """Multinomial logistic regression: logits = x Wᵀ + b (logistic regression at 2 classes)."""

    def __init__(self, n_features: int, n_classes: int) -> None:
        if n_features < 1 or n_classes < 2:
            raise DataError("a model needs at least one feature and two classes")
        self.n_features, self.n_classes = n_features, n_classes
        names, shapes = _linear_layout("0", n_features, n_classes)
        self.layout = Layout(tuple(names), tuple(shapes))
        self._fan_in = {"0": n_features}

    def logits(self, vec: np.ndarray, x: np.ndarray) -> np.ndarray:
        w, b = self.tensors(vec)
        return x @ w.T + b

    def loss_and_grad(
        self, vec: np.ndarray, x: np.ndarray, y: np.ndarray
    ) -> tuple[float, np.ndarray]:
        """Mean cross-entropy and its gradient (float64, the layout of ``vec``).

        dL/dz = (softmax(z) − onehot(y))/n, so dW = dzᵀx and db = Σ dz."""
        x = self.check_x(x)
        y = self.check_y(y, len(x))
        w, b = self.tensors(vec)
        loss, dz = cross_entropy(x @ w.T + b, y)
        return loss, np.concatenate([(dz.T @ x).ravel(), dz.sum(axis=0)])


class SmallMLP(_Model):
    """One hidden layer: logits = relu(x W₁ᵀ + b₁) W₂ᵀ + b₂ (torch: Linear, ReLU, Linear)."""

    def __init__(self, n_features: int, hidden: int, n_classes: int) -> None:
        if n_features < 1 or hidden < 1 or n_classes < 2:
            raise DataError("a model needs a feature, a hidden unit and two classes")
        self.n_features, self.hidden, self.n_classes = n_features, hidden, n_classes
        n1, s1 = _linear_layout("0", n_features, hidden)
        n2, s2 = _linear_layout("2", hidden, n_classes)  # "1" is the ReLU, as in nn.Sequential
        self.layout = Layout(tuple(n1 + n2), tuple(s1 + s2))
        self._fan_in = {"0": n_features, "2": hidden}

    def logits(self, vec: np.ndarray, x: np.ndarray) -> np.ndarray:
        w1, b1, w2, b2 = self.tensors(vec)
        return np.maximum(x @ w1.T + b1, 0.0) @ w2.T + b2

    def loss_and_grad(
        self, vec: np.ndarray, x: np.ndarray, y: np.ndarray
    ) -> tuple[float, np.ndarray]:
        """Mean cross-entropy and its gradient, by the chain rule through the two layers.

        With h = xW₁ᵀ + b₁, a = relu(h), z = aW₂ᵀ + b₂ and dz = (softmax(z) − onehot(y))/n:
        dW₂ = dzᵀa, db₂ = Σ dz, dh = (dz W₂)·[h > 0], dW₁ = dhᵀx, db₁ = Σ dh."""
        x = self.check_x(x)
        y = self.check_y(y, len(x))
        w1, b1, w2, b2 = self.tensors(vec)
        h = x @ w1.T + b1
        a = np.maximum(h, 0.0)
        loss, dz = cross_entropy(a @ w2.T + b2, y)
        dh = (dz @ w2) * (h > 0)
        grads = (dh.T @ x, dh.sum(axis=0), dz.T @ a, dz.sum(axis=0))
        return loss, np.concatenate([g.ravel() for g in grads])


#: either model (they share ``size``, ``init``, ``loss_and_grad``, ``predict_proba``)
EdgeModel = SoftmaxRegression | SmallMLP
