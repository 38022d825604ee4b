"""Aggregation strategies, engine-neutral: plain numpy in, plain numpy out.

* :class:`FedAvg` — McMahan et al., AISTATS 2017, Algorithm 1: the sample-count-weighted
  mean of the client models.
* :class:`FedProx` — Li et al., MLSys 2020: FedAvg aggregation, plus a proximal term
  ``mu/2 ||w - w_t||^2`` in each client's local loss (set through :meth:`client_config`).
* :class:`FedAdam` — Reddi et al., ICLR 2021 ("Adaptive Federated Optimization"),
  Algorithm 2: the weighted mean update is a pseudo-gradient fed to a server-side Adam.

A strategy's mutable state (FedAdam's moments) is exposed as named arrays so that it goes
into the checkpoint and ``--resume`` gives the same result as an uninterrupted run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from veil.errors import ConfigError
from veil.fl.training import TrainConfig


def weighted_mean(updates: Sequence[tuple[np.ndarray, int]]) -> np.ndarray:
    """Σ n_k w_k / Σ n_k, accumulated in float64, returned as float32."""
    if not updates:
        raise ValueError("no updates to aggregate")
    total = float(sum(n for _, n in updates))
    if total <= 0:
        raise ValueError("the sample counts sum to zero")
    acc = np.zeros(updates[0][0].shape, dtype=np.float64)
    for vec, n in updates:
        acc += vec.astype(np.float64) * (n / total)
    return acc.astype(np.float32)


@dataclass
class FedAvg:
    """Federated averaging, weighted by sample count."""

    name: str = field(default="fedavg", init=False)

    def client_config(self, base: TrainConfig) -> TrainConfig:
        """The local training configuration this strategy asks clients to use."""
        return base

    def aggregate(
        self, global_vec: np.ndarray, updates: Sequence[tuple[np.ndarray, int]]
    ) -> np.ndarray:
        """The next global model from the accepted (vector, sample count) pairs."""
        return weighted_mean(updates)

    def state(self) -> dict[str, np.ndarray]:
        """Mutable server state to checkpoint (none for FedAvg)."""
        return {}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore :meth:`state` output."""
        if state:
            raise ConfigError(f"{self.name} has no state but the checkpoint carries some")

    def describe(self) -> dict:
        """Name and hyper-parameters, for the report."""
        return {"name": self.name}


@dataclass
class FedProx(FedAvg):
    """FedAvg with a proximal term in every client's loss."""

    mu: float = 0.01
    name: str = field(default="fedprox", init=False)

    def __post_init__(self) -> None:
        if not self.mu > 0:
            raise ConfigError("FedProx needs mu > 0")

    def client_config(self, base: TrainConfig) -> TrainConfig:
        """Clients train with ``proximal_mu = mu``."""
        return replace(base, proximal_mu=self.mu)

    def describe(self) -> dict:
        """Name and mu."""
        return {"name": self.name, "mu": self.mu}


@dataclass
class FedAdam(FedAvg):
    """Server-side Adam on the pseudo-gradient Δ = mean(w_k) - w (Reddi et al., Alg. 2)."""

    eta: float = 0.01
    beta1: float = 0.9
    beta2: float = 0.99
    tau: float = 1e-3
    name: str = field(default="fedadam", init=False)
    _m: np.ndarray | None = field(default=None, init=False, repr=False)
    _v: np.ndarray | None = field(default=None, init=False, repr=False)

    def aggregate(
        self, global_vec: np.ndarray, updates: Sequence[tuple[np.ndarray, int]]
    ) -> np.ndarray:
        """x ← x + η m / (√v + τ), with m, v the moments of Δ."""
        delta = weighted_mean(updates).astype(np.float64) - global_vec.astype(np.float64)
        if self._m is None or self._v is None:
            self._m = np.zeros_like(delta)
            self._v = np.zeros_like(delta)
        self._m = self.beta1 * self._m + (1 - self.beta1) * delta
        self._v = self.beta2 * self._v + (1 - self.beta2) * delta * delta
        step = self.eta * self._m / (np.sqrt(self._v) + self.tau)
        return (global_vec.astype(np.float64) + step).astype(np.float32)

    def state(self) -> dict[str, np.ndarray]:
        """The two moment vectors (float64), once the first round has run."""
        if self._m is None or self._v is None:
            return {}
        return {"fedadam.m": self._m.copy(), "fedadam.v": self._v.copy()}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore the moments from a checkpoint."""
        if not state:
            self._m = self._v = None
            return
        try:
            m, v = state["fedadam.m"], state["fedadam.v"]
        except KeyError as exc:
            raise ConfigError("checkpoint lacks FedAdam's moments") from exc
        if m.shape != v.shape:
            raise ConfigError("FedAdam moments differ in shape")
        self._m, self._v = m.astype(np.float64), v.astype(np.float64)

    def describe(self) -> dict:
        """Name and server optimiser settings."""
        return {
            "name": self.name,
            "eta": self.eta,
            "beta1": self.beta1,
            "beta2": self.beta2,
            "tau": self.tau,
        }


def make_strategy(name: str, **kwargs: float) -> FedAvg:
    """Strategy by name: ``fedavg``, ``fedprox`` (mu=…), ``fedadam`` (eta=…)."""
    table = {"fedavg": FedAvg, "fedprox": FedProx, "fedadam": FedAdam}
    try:
        cls = table[name.lower()]
    except KeyError as exc:
        raise ConfigError(f"unknown strategy {name!r}; choose one of {sorted(table)}") from exc
    return cls(**kwargs)
