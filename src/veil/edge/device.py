"""A device's round: minibatch SGD on its own data, then one signed, sealed PINE report.

The report is what :class:`veil.aggregation.client.ReportBuilder` makes for any other client
(docs/protocol.md §4): the update Δ is clipped, scaled by the device's weight, PINE-sharded,
HPKE-sealed to the two Aggregators and signed with the device's Ed25519 key. Nothing here
imports PyTorch, Flower or pandas (tests/edge/test_edge_imports.py holds that).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from veil.aggregation.client import ReportBuilder
from veil.aggregation.config import ConsortiumConfig
from veil.crypto.signing import Ed25519Identity
from veil.edge.models import EdgeModel
from veil.errors import ConfigError, DataError


@dataclass(frozen=True)
class LocalSGD:
    """Plain minibatch SGD, the same for every device in a round (no optimiser state to
    keep between rounds, which a device may not be able to hold)."""

    epochs: int = 1
    lr: float = 0.1
    batch_size: int = 32

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or not self.lr > 0:
            raise ConfigError("epochs, batch size and learning rate must be positive")


@dataclass(frozen=True)
class EdgeUpdate:
    """A plain (unverified) local result: the fields of ``veil.fl``'s ``ClientUpdate``."""

    vector: np.ndarray
    num_examples: int
    loss: float


def sgd(
    model: EdgeModel,
    vec: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
) -> tuple[np.ndarray, float]:
    """The trained float32 vector and the mean training loss; deterministic in ``seed``
    (one shuffle per epoch from ``numpy.random.default_rng(seed)``)."""
    LocalSGD(epochs, lr, batch_size)  # the same checks
    x = model.check_x(x)
    y = model.check_y(y, len(x))
    if not len(y):
        raise DataError("a device needs at least one example to train")
    w = np.array(vec, dtype=np.float32)  # a copy: the caller's vector is the global model
    model.tensors(w)  # length and finiteness, before any step
    rng = np.random.default_rng(seed)
    total = 0.0
    for _ in range(epochs):
        order = rng.permutation(len(y))
        for start in range(0, len(y), batch_size):
            idx = order[start : start + batch_size]
            loss, grad = model.loss_and_grad(w, x[idx], y[idx])
            w -= (lr * grad).astype(np.float32)
            total += loss * len(idx)
    return w, total / (epochs * len(y))


def local_train(
    model: EdgeModel,
    vec: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
) -> tuple[np.ndarray, int]:
    """(Δ, n): the float32 change SGD makes to ``vec`` on n examples (what a report carries)."""
    w, _ = sgd(model, vec, x, y, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed)
    return w - np.asarray(vec, dtype=np.float32), len(y)


def round_seed(seed: int, rnd: int, client_id: str) -> int:
    """A distinct, reproducible seed for each (device seed, round, client id)."""
    tag = int.from_bytes(client_id.encode(), "big")
    return int(np.random.SeedSequence([seed, rnd, tag]).generate_state(1)[0])


class EdgeDevice:
    """One enrolled device: its client id, its Ed25519 signing key, its data and model.

    ``weight`` is the w of u = (w/W)·clip(Δ) (docs/protocol.md §4.1); ``None`` gives every
    device the task's full weight W, the usual choice when each device is one user (then
    ``max_weight = 1`` in the consortium and every device counts the same)."""

    def __init__(
        self,
        client_id: str,
        signing_key: Ed25519Identity,
        x: np.ndarray,
        y: np.ndarray,
        model: EdgeModel,
        *,
        seed: int = 0,
        weight: int | None = None,
    ) -> None:
        self.client_id, self.key, self.model = client_id, signing_key, model
        self.x = model.check_x(x)
        self.y = model.check_y(y, len(self.x))
        self.seed, self.weight = seed, weight
        self._builder: ReportBuilder | None = None

    def update(self, rnd: int, global_vec: np.ndarray, train: LocalSGD) -> EdgeUpdate:
        """Train from the global vector; the plain result, for runs without verification."""
        w, loss = sgd(
            self.model,
            global_vec,
            self.x,
            self.y,
            epochs=train.epochs,
            lr=train.lr,
            batch_size=train.batch_size,
            seed=round_seed(self.seed, rnd, self.client_id),
        )
        return EdgeUpdate(w, len(self.y), loss)

    def report(
        self, rnd: int, global_vec: np.ndarray, cfg: ConsortiumConfig, train: LocalSGD
    ) -> bytes:
        """Train, then the encoded report of Δ = trained − global: clipped, weighted,
        PINE-sharded, sealed to both Aggregators and signed (docs/protocol.md §3, §4)."""
        builder = self.builder(cfg)
        upd = self.update(rnd, global_vec, train)
        delta = upd.vector - np.asarray(global_vec, dtype=np.float32)
        weight = cfg.max_weight if self.weight is None else self.weight
        return builder.build(rnd, delta, weight).encode()

    def builder(self, cfg: ConsortiumConfig) -> ReportBuilder:
        """The report builder for ``cfg`` (kept: building PINE's parameters costs time),
        after checking that this device and its model fit the task."""
        if self._builder is not None and self._builder.cfg is cfg:
            return self._builder
        if cfg.dimension != self.model.size:
            raise ConfigError(
                f"the task's dimension is {cfg.dimension}, the model has {self.model.size}"
            )
        enrolled = cfg.clients.get(self.client_id)
        if enrolled is None or enrolled.public_bytes() != self.key.recipient().public_bytes():
            raise ConfigError(f"{self.client_id!r} is not enrolled with this key")
        self._builder = ReportBuilder(cfg, self.client_id, self.key)
        return self._builder
