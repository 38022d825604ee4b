"""Distributed discrete Gaussian noise and the privacy accountant (docs/dp.md).

Each Aggregator adds discrete Gaussian noise N_Z(0, σ_int²/2) to its integer aggregate share
(Kairouz, Liu, Steinke, "The Distributed Discrete Gaussian Mechanism for Federated Learning
with Secure Aggregation", ICML 2021), so the released sum carries variance σ_int², σ_int =
z · ⌊C·2^f⌋ (the PINE bound in integer units is the L2 sensitivity). Sampling follows Canonne,
Kamath, Steinke (NeurIPS 2020) Algorithm 3 — discrete Laplace proposals, Bernoulli acceptance —
vectorised with numpy in floating point over uniforms from ``os.urandom`` (the paper's exact
rational arithmetic is not used; see docs/dp.md). Accounting uses Google's ``dp-accounting``.

ε is reported twice: against outsiders (who see the released sum, noise z), and against one
curious Aggregator, which knows — and can subtract — its own half of the noise variance, so it
faces only the other half: multiplier z/√2 (:data:`ONE_AGGREGATOR_FACTOR`).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from enum import Enum

import numpy as np

from veil.errors import ConfigError


def _uniform_open0(n: int, rng=os.urandom) -> np.ndarray:
    """n uniforms in (0, 1] with 53 random bits each, from a CSPRNG."""
    raw = np.frombuffer(rng(8 * n), dtype=np.uint64)
    return ((raw >> np.uint64(11)).astype(np.float64) + 1.0) * 2.0**-53


def discrete_gaussian(sigma: float, n: int, *, rng=os.urandom) -> np.ndarray:
    """n samples of N_Z(0, σ²) (CKS20 Alg. 3) as int64; σ = 0 gives zeros."""
    if not math.isfinite(sigma) or sigma < 0:
        raise ConfigError("sigma must be a finite number ≥ 0")
    out = np.zeros(n, dtype=np.int64)
    if sigma == 0 or n == 0:
        return out
    t = math.floor(sigma) + 1
    todo = np.arange(n)
    while todo.size:
        m = todo.size
        u = _uniform_open0(3 * m, rng)
        g1 = np.floor(-t * np.log(u[:m]))
        g2 = np.floor(-t * np.log(u[m : 2 * m]))
        y = g1 - g2  # discrete Laplace with scale t
        accept_p = np.exp(-((np.abs(y) - sigma**2 / t) ** 2) / (2 * sigma**2))
        ok = u[2 * m :] <= accept_p
        out[todo[ok]] = y[ok].astype(np.int64)
        todo = todo[~ok]
    return out


def add_noise_to_share(field, share: np.ndarray, sigma_int: float, *, rng=os.urandom):
    """Add integer noise to a Field64 aggregate share (negatives as p − |x|)."""
    noise = discrete_gaussian(sigma_int, len(share), rng=rng)
    return field.add(share, _to_field(field, noise))


def _to_field(field, noise: np.ndarray) -> np.ndarray:
    p = np.uint64(field.MODULUS)
    neg = noise < 0
    mag = np.abs(noise).astype(np.uint64)
    return np.where(neg, p - mag, mag).astype(np.uint64)


#: An Aggregator that subtracts its own noise sees variance σ_int²/2: multiplier z·(1/√2).
ONE_AGGREGATOR_FACTOR = 1 / math.sqrt(2)


class Accounting(Enum):
    RDP = "rdp"
    PLD = "pld"


def _event(noise_multiplier: float, sampling_rate: float):
    import dp_accounting  # lazy: dp_accounting (≈1.2 s, loads scipy) only when ε is computed

    g = dp_accounting.GaussianDpEvent(noise_multiplier)
    return g if sampling_rate >= 1.0 else dp_accounting.PoissonSampledDpEvent(sampling_rate, g)


def _accountant(method: Accounting):
    import dp_accounting  # lazy: dp_accounting (≈1.2 s, loads scipy) only when ε is computed

    if method is Accounting.RDP:
        return dp_accounting.rdp.RdpAccountant()
    return dp_accounting.pld.PLDAccountant()


def epsilon(
    noise_multiplier: float,
    sampling_rate: float,
    steps: int,
    delta: float,
    method: Accounting = Accounting.RDP,
) -> float:
    """ε after ``steps`` rounds of the (sub-sampled) Gaussian mechanism with multiplier z."""
    if noise_multiplier <= 0:
        return math.inf
    if steps == 0:
        return 0.0
    acc = _accountant(method)
    acc.compose(_event(noise_multiplier, sampling_rate), steps)
    return float(acc.get_epsilon(delta))


def epsilon_matches(
    claimed: object, noise_multiplier: float, sampling_rate: float, steps: int, delta: float
) -> bool:
    """Whether ``claimed`` is the accountant's ε (RDP or PLD, either is a valid bound) after
    ``steps`` released rounds; with noise off the only honest claim is "none" (None).

    What the Helper checks before it countersigns an audit record (docs/protocol.md §12)."""
    if noise_multiplier <= 0:
        return claimed is None
    if isinstance(claimed, bool) or not isinstance(claimed, int | float):
        return False
    return any(
        math.isclose(claimed, epsilon(noise_multiplier, sampling_rate, steps, delta, m),
                     rel_tol=1e-9, abs_tol=1e-12)
        for m in Accounting
    )  # fmt: skip


def calibrate_noise_multiplier(
    target_epsilon: float,
    delta: float,
    sampling_rate: float,
    steps: int,
    method: Accounting = Accounting.RDP,
    *,
    against_one_aggregator: bool = False,
) -> float:
    """The smallest z whose ε after ``steps`` rounds is ≤ target (dp-accounting's search).

    ``against_one_aggregator``: the z whose *one-Aggregator* ε (multiplier z/√2) is ≤
    target, i.e. √2 times the outsiders' z — the target then holds against either Aggregator.
    """
    import dp_accounting  # lazy: dp_accounting (≈1.2 s, loads scipy) only when ε is computed

    if not target_epsilon > 0:
        raise ConfigError("target epsilon must be positive")
    scale = 1 / ONE_AGGREGATOR_FACTOR if against_one_aggregator else 1.0
    return scale * float(
        dp_accounting.calibrate_dp_mechanism(
            lambda: _accountant(method),
            lambda z: dp_accounting.SelfComposedDpEvent(_event(z, sampling_rate), steps),
            target_epsilon,
            delta,
            bracket_interval=dp_accounting.LowerEndpointAndGuess(1e-3, 1.0),
        )
    )


@dataclass
class PrivacyLedger:
    """ε after each round for the configured mechanism (reported in report.json)."""

    noise_multiplier: float
    sampling_rate: float
    delta: float
    method: Accounting = Accounting.RDP
    rounds: int = 0

    def step(self) -> float:
        self.rounds += 1
        return self.epsilon

    @property
    def epsilon(self) -> float:
        return epsilon(
            self.noise_multiplier, self.sampling_rate, self.rounds, self.delta, self.method
        )

    @property
    def epsilon_one_aggregator(self) -> float:
        """ε against one curious Aggregator, which knows its own noise share (z/√2)."""
        return epsilon(
            self.noise_multiplier * ONE_AGGREGATOR_FACTOR,
            self.sampling_rate,
            self.rounds,
            self.delta,
            self.method,
        )

    def summary(self) -> dict:
        """``epsilon``: against outsiders (what the audit log records); ``epsilon_one_aggregator``:
        against the Leader or the Helper alone, each of which can remove its own noise."""
        return {
            "epsilon": self.epsilon,
            "epsilon_one_aggregator": self.epsilon_one_aggregator,
            "delta": self.delta,
            "mechanism": "distributed discrete Gaussian (Kairouz-Liu-Steinke 2021), "
            f"client-level, z={self.noise_multiplier:g}, q={self.sampling_rate:g}, "
            f"{self.method.value.upper()} accounting",
        }


def client_privacy(
    noise_multiplier: float | None, clip_norm: float | None, ledger: PrivacyLedger | None
) -> dict:
    """report.json's ``privacy`` for verified aggregation's client-level noise; ``ledger``
    None: no round ran (no task yet, so nothing to report)."""
    if ledger is None:
        return {"epsilon": None, "epsilon_one_aggregator": None, "delta": None,
                "mechanism": "none: no round ran"}  # fmt: skip
    if noise_multiplier == 0:
        return {"epsilon": None, "epsilon_one_aggregator": None, "delta": None,
                "mechanism": "none: noise off (verified aggregation without DP)"}  # fmt: skip
    return {**ledger.summary(), "noise_multiplier": noise_multiplier, "clip_norm": clip_norm}
