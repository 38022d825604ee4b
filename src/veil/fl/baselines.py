"""The two yardsticks every federated run is compared with.

* **centralised** — the same model and optimiser trained on all clients' training rows
  pooled in one place (what federated learning avoids): ``rounds × epochs`` full passes
  over the pooled data (never fewer steps than a federated client makes), with the same
  learning-rate decay per round;
* **local only** — each client trains the same way on its own rows alone.

Both are evaluated on the same held-out set as the federated model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from veil.fl.models import ModelSpec, build_model
from veil.fl.params import get_vector
from veil.fl.runner import RunConfig
from veil.fl.training import Metrics, derive_seed, local_update


def train_alone(
    spec: ModelSpec, x: np.ndarray, y: np.ndarray, cfg: RunConfig, *, stream: int = 0
) -> np.ndarray:
    """Train from the same initial model as the federation, with the same schedule."""
    import torch  # lazy: torch (≈1.3 s) only when a model is built or trained

    torch.set_num_threads(cfg.torch_threads)
    vec = get_vector(build_model(spec, seed=cfg.seed))
    for r in range(1, cfg.rounds + 1):
        step = replace(
            cfg.train, lr=cfg.train.lr * cfg.lr_decay ** (r - 1), proximal_mu=0.0, local_steps=None
        )
        vec = local_update(
            spec, vec, x, y, step, seed=derive_seed(cfg.seed, r, 10_000 + stream)
        ).vector
    return vec


def compare(
    spec: ModelSpec,
    shards: list[tuple[str, np.ndarray, np.ndarray]],
    cfg: RunConfig,
    evaluate: Callable[[np.ndarray], Metrics],
) -> dict:
    """``{"centralized": {...}, "local_only": {name: {...}}}`` as in report.json."""
    x = np.vstack([s[1] for s in shards])
    y = np.concatenate([s[2] for s in shards])
    central = evaluate(train_alone(spec, x, y, cfg))
    local = {
        name: _short(evaluate(train_alone(spec, xs, ys, cfg, stream=k + 1)))
        for k, (name, xs, ys) in enumerate(shards)
    }
    return {"centralized": _short(central), "local_only": local}


def _short(m: Metrics) -> dict:
    return {"accuracy": m.accuracy, "auc": m.auc, "log_loss": m.log_loss}
