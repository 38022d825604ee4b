"""What a local update is configured with and what it returns: the types that the plain
trainer (:mod:`veil.fl.training`) and the DP-SGD trainer (:mod:`veil.fl.record_dp`) share,
in a module of their own so that the two import one way (training → record_dp → here)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

import numpy as np

from veil.errors import ConfigError

if TYPE_CHECKING:
    import torch


class Optimizer(StrEnum):
    """Local optimiser."""

    SGD = "sgd"
    ADAM = "adam"


@dataclass(frozen=True)
class TrainConfig:
    """Local training hyper-parameters (the same for every client in a round).

    ``proximal_mu`` > 0 adds FedProx's term ``mu/2 * ||w - w_global||^2`` to the loss
    (Li et al., MLSys 2020, eq. 2).
    """

    epochs: int = 1
    batch_size: int = 32
    lr: float = 0.01
    optimizer: Optimizer = Optimizer.ADAM
    proximal_mu: float = 0.0
    weight_decay: float = 0.0
    momentum: float = 0.0
    #: when set, each round runs exactly this many mini-batches instead of ``epochs`` passes
    #: (FedAvg's K local steps): fewer local steps means less client drift on skewed shards
    local_steps: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "optimizer", Optimizer(self.optimizer))
        if self.local_steps is not None and self.local_steps < 1:
            raise ConfigError("local_steps must be at least 1")
        if self.epochs < 1 or self.batch_size < 1 or not self.lr > 0 or self.proximal_mu < 0:
            raise ConfigError("epochs, batch size and learning rate must be positive, mu >= 0")

    def to_dict(self) -> dict:
        """JSON-ready form."""
        d = asdict(self)
        d["optimizer"] = self.optimizer.value
        return d


@dataclass(frozen=True)
class DPSteps:
    """What one client's local update spent: ``steps`` sampled-Gaussian steps."""

    noise_multiplier: float
    sample_rate: float
    steps: int


@dataclass(frozen=True)
class ClientUpdate:
    """What a client returns: its new parameters, its sample count, its mean training loss."""

    vector: np.ndarray
    num_examples: int
    loss: float
    #: with record-level DP: the DP-SGD steps this update spent (for the accountant)
    dp: DPSteps | None = None


def derive_seed(seed: int, round_: int, client: int) -> int:
    """A distinct, reproducible seed for each (round, client) pair."""
    return int(np.random.SeedSequence([seed, round_, client]).generate_state(1)[0])


def make_optimizer(params: list, cfg: TrainConfig) -> torch.optim.Optimizer:
    """The configured local optimiser over ``params``."""
    import torch  # lazy: torch (≈1.3 s) only when a model is built or trained

    if cfg.optimizer is Optimizer.ADAM:
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
