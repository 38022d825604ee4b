"""Engine-neutral learning logic: one client's local update and model evaluation.

Both functions take and return plain numpy data (a flat float32 parameter vector, feature
matrix, labels), so the embedded runner, the Flower ClientApp and the baselines all call the
very same code. Training is deterministic under ``TrainConfig.seed`` + the round and client
indices: the runner derives a per-(round, client) seed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

from veil.errors import ConfigError, DataError
from veil.fl import record_dp as rdp
from veil.fl.local_config import (  # re-exported: the one-call API's types
    ClientUpdate,
    DPSteps,
    Optimizer,
    TrainConfig,
    derive_seed,
    make_optimizer,
)
from veil.fl.models import ModelSpec, build_model
from veil.fl.params import get_vector, set_vector

__all__ = [
    "ClientUpdate",
    "DPSteps",
    "Metrics",
    "Optimizer",
    "TrainConfig",
    "derive_seed",
    "evaluate",
    "local_update",
    "make_optimizer",
]


@dataclass(frozen=True)
class Metrics:
    """Evaluation of a model on held-out data."""

    accuracy: float
    auc: float
    log_loss: float
    n: int

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)


def local_update(
    spec: ModelSpec,
    global_vec: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    cfg: TrainConfig,
    *,
    seed: int,
    record_dp: rdp.RecordDP | None = None,
) -> ClientUpdate:
    """Train from ``global_vec`` on (x, y) for ``cfg.epochs`` and return the new vector.

    ``record_dp`` (:class:`veil.fl.record_dp.RecordDP`) trains with DP-SGD instead (Poisson
    sampling, per-sample clipping, Gaussian noise from a fresh seed, so ``seed`` is unused)."""
    # lazy: torch (≈1.3 s) only when a model is built or trained
    import torch
    from torch import nn

    if record_dp is not None:
        if not isinstance(record_dp, rdp.RecordDP):
            raise ConfigError("record_dp must be a veil.fl.record_dp.RecordDP")
        rdp.check_trainable(spec, cfg)
        x, y = _check_xy(spec, x, y)
        return rdp.dp_local_update(spec, global_vec, x, y, cfg, record_dp)
    x, y = _check_xy(spec, x, y)
    model = build_model(spec)
    set_vector(model, global_vec)
    model.train()
    params = list(model.parameters())
    anchor = [p.detach().clone() for p in params] if cfg.proximal_mu > 0 else None
    opt = make_optimizer(params, cfg)
    loss_fn = nn.CrossEntropyLoss()
    # shards opened from sealed bytes are read-only views: torch needs writable memory
    xt = torch.from_numpy(x if x.flags.writeable else x.copy())
    yt = torch.from_numpy(y if y.flags.writeable else y.copy())
    gen = torch.Generator().manual_seed(seed)
    total, count = 0.0, 0
    for idx in _batches(len(yt), cfg, gen):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xt[idx]), yt[idx])
        if anchor is not None:
            prox = sum(((p - a) ** 2).sum() for p, a in zip(params, anchor, strict=True))
            loss = loss + 0.5 * cfg.proximal_mu * prox
        loss.backward()
        opt.step()
        total += float(loss.detach()) * len(idx)
        count += len(idx)
    return ClientUpdate(get_vector(model), len(yt), total / max(count, 1))


def _batches(n: int, cfg: TrainConfig, gen: torch.Generator) -> Iterator[torch.Tensor]:
    """Mini-batch indices: ``epochs`` shuffled passes, or exactly ``local_steps`` batches."""
    import torch  # lazy: torch (≈1.3 s) only when a model is built or trained

    steps = 0
    for _ in range(cfg.epochs if cfg.local_steps is None else 1_000_000):
        order = torch.randperm(n, generator=gen)
        for start in range(0, n, cfg.batch_size):
            if cfg.local_steps is not None and steps >= cfg.local_steps:
                return
            steps += 1
            yield order[start : start + cfg.batch_size]


def predict_proba(spec: ModelSpec, vec: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Class probabilities, shape (n, n_classes)."""
    import torch  # lazy: torch (≈1.3 s) only when a model is built or trained

    model = build_model(spec)
    set_vector(model, vec)
    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
        return torch.softmax(logits, dim=1).double().numpy()


def evaluate(spec: ModelSpec, vec: np.ndarray, x: np.ndarray, y: np.ndarray) -> Metrics:
    """Accuracy, ROC AUC (binary; macro one-vs-rest when multiclass) and log loss."""
    x, y = _check_xy(spec, x, y)
    proba = predict_proba(spec, vec, x)
    return metrics_from_proba(proba, y, spec.n_classes)


def metrics_from_proba(proba: np.ndarray, y: np.ndarray, n_classes: int) -> Metrics:
    """The three metrics from predicted probabilities."""
    from sklearn.metrics import (  # lazy: scikit-learn (≈1 s) only for this step
        log_loss,
        roc_auc_score,
    )

    labels = list(range(n_classes))
    acc = float((proba.argmax(axis=1) == y).mean())
    present = np.unique(y)
    if len(present) < 2:
        auc = float("nan")  # undefined on a one-class sample
    elif n_classes == 2:
        auc = float(roc_auc_score(y, proba[:, 1]))
    else:
        p = proba / proba.sum(axis=1, keepdims=True)
        auc = float(roc_auc_score(y, p, multi_class="ovr", average="macro", labels=labels))
    clipped = np.clip(proba, 1e-12, 1.0)
    ll = float(log_loss(y, clipped / clipped.sum(axis=1, keepdims=True), labels=labels))
    return Metrics(acc, auc, ll, len(y))


def _check_xy(spec: ModelSpec, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.ascontiguousarray(x, dtype=np.float32)
    y = np.ascontiguousarray(y, dtype=np.int64)
    if x.ndim != 2 or x.shape[1] != spec.n_features:
        raise DataError(f"features have shape {x.shape}, the model needs (n, {spec.n_features})")
    if len(y) != len(x) or len(y) == 0:
        raise DataError("features and labels differ in length, or there are no rows")
    if y.min() < 0 or y.max() >= spec.n_classes:
        raise DataError("a label is outside the model's classes")
    if not np.isfinite(x).all():
        raise DataError("features contain NaN or infinity")
    return x, y
