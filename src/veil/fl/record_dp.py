"""Record-level differential privacy: DP-SGD on each client through Opacus (docs/dp.md).

Each client trains with DP-SGD (Abadi et al., CCS 2016): every local step draws a Poisson
sample of its rows (each row independently with probability q = batch_size / n), clips each
row's gradient to L2 ≤ C (Opacus ``GradSampleModule`` per-sample gradients), adds Gaussian
noise N(0, z²C²) to the sum and divides by the expected batch size (Opacus ``DPOptimizer``).
A client's rows are protected by its own mechanism, so the consortium's guarantee is the
worst client's: ε(δ) = max over clients of the RDP accountant (Opacus ``RDPAccountant``,
Mironov 2017; Mironov, Talwar, Zhang 2019 for the sampled Gaussian) composed over every
local step of every round that client trained in.

This is the alternative to client-level DP (:mod:`veil.aggregation.dp`) for cross-silo
consortia: with five banks, hiding a whole bank costs the model its signal, while hiding
one customer among a bank's thousands costs little.

Noise and sampling come from a ``torch.Generator`` seeded from ``os.urandom`` per update
(Opacus' ``secure_mode`` needs ``torchcsprng``, which does not exist for this torch): the
seed is unpredictable, but the generator itself is torch's Mersenne Twister, and the
floating-point Gaussian has Mironov's (CCS 2012) least-significant-bit caveat.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from veil.errors import ConfigError
from veil.fl.local_config import ClientUpdate, DPSteps, TrainConfig, make_optimizer
from veil.fl.models import build_model
from veil.fl.params import get_vector, set_vector

if TYPE_CHECKING:
    from veil.fl.models import ModelSpec

MECHANISM = "record-level DP-SGD (Opacus)"


@dataclass(frozen=True)
class RecordDP:
    """DP-SGD settings shared by every client.

    Give ``noise_multiplier`` z, or ``target_epsilon`` with ``rounds`` (the planned number
    of rounds): each client then calibrates its own z for its sampling rate so that its ε
    after ``rounds`` rounds of local steps is ≤ ``target_epsilon`` at ``delta``.
    """

    max_grad_norm: float = 1.0
    delta: float = 1e-5
    noise_multiplier: float | None = None
    target_epsilon: float | None = None
    rounds: int | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.max_grad_norm) and self.max_grad_norm > 0):
            raise ConfigError("record DP: max_grad_norm must be a positive number")
        if not 0 < self.delta < 1:
            raise ConfigError("record DP: delta must be in (0, 1)")
        if (self.noise_multiplier is None) == (self.target_epsilon is None):
            raise ConfigError(
                "record DP: give exactly one of a noise multiplier and a target epsilon"
            )
        if self.noise_multiplier is not None and not (
            math.isfinite(self.noise_multiplier) and self.noise_multiplier > 0
        ):
            raise ConfigError("record DP: the noise multiplier must be positive")
        if self.target_epsilon is not None:
            if not (math.isfinite(self.target_epsilon) and self.target_epsilon > 0):
                raise ConfigError("record DP: the target epsilon must be positive")
            if self.rounds is None or self.rounds < 1:
                raise ConfigError("record DP: a target epsilon needs the planned rounds")

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)


def steps_per_round(n: int, cfg: TrainConfig) -> int:
    """Local steps in one round: ``local_steps``, or ``epochs`` passes of n/batch steps."""
    if cfg.local_steps is not None:
        return cfg.local_steps
    return max(1, math.ceil(cfg.epochs * n / cfg.batch_size))


def sample_rate(n: int, cfg: TrainConfig) -> float:
    """Poisson sampling rate q = batch_size / n (at most 1)."""
    return min(1.0, cfg.batch_size / n)


@lru_cache(maxsize=256)
def _calibrate(target: float, delta: float, q: float, steps: int) -> float:
    from opacus.accountants.utils import get_noise_multiplier  # lazy: opacus (≈2 s), DP-SGD only

    with warnings.catch_warnings():  # "optimal order is the largest alpha": still a bound
        warnings.filterwarnings("ignore", "Optimal order", UserWarning)
        z = get_noise_multiplier(
            target_epsilon=target,
            target_delta=delta,
            sample_rate=q,
            steps=steps,
            accountant="rdp",
            epsilon_tolerance=0.005,
        )
    return float(z)


def noise_for(dp: RecordDP, n: int, cfg: TrainConfig) -> float:
    """This client's z: the configured one, or the one calibrated for its (q, total steps)."""
    if dp.noise_multiplier is not None:
        return dp.noise_multiplier
    assert dp.target_epsilon is not None and dp.rounds is not None
    q, k = sample_rate(n, cfg), steps_per_round(n, cfg) * dp.rounds
    return _calibrate(dp.target_epsilon, dp.delta, q, k)


def check_trainable(spec: ModelSpec, cfg: TrainConfig) -> None:
    """Refuse, before any training, what DP-SGD here cannot do (ConfigError)."""
    from opacus.validators import ModuleValidator  # lazy: opacus (≈2 s), DP-SGD only

    if cfg.proximal_mu > 0:
        raise ConfigError(
            "record DP: FedProx's proximal term is not privatised by DP-SGD here; use fedavg"
        )
    errors = ModuleValidator.validate(build_model(spec), strict=False)
    if errors:
        raise ConfigError(f"record DP: Opacus cannot train this model: {errors[0]}")


def dp_local_update(
    spec: ModelSpec,
    global_vec: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    cfg: TrainConfig,
    dp: RecordDP,
) -> ClientUpdate:
    """DP-SGD from ``global_vec`` on (x, y) (already checked); the update carries its
    :class:`DPSteps` for the accountant."""
    # lazy: opacus and torch (≈2 s), DP-SGD only
    import torch
    from opacus import GradSampleModule
    from opacus.optimizers import DPOptimizer
    from torch import nn

    check_trainable(spec, cfg)
    n = len(y)
    q, k, z = sample_rate(n, cfg), steps_per_round(n, cfg), noise_for(dp, n, cfg)
    base = build_model(spec)
    set_vector(base, global_vec)
    model = GradSampleModule(base, loss_reduction="mean")
    model.train()
    gen = torch.Generator().manual_seed(int.from_bytes(os.urandom(8), "little") >> 1)
    opt = DPOptimizer(
        make_optimizer(list(model.parameters()), cfg),
        noise_multiplier=z,
        max_grad_norm=dp.max_grad_norm,
        expected_batch_size=max(1, round(q * n)),
        loss_reduction="mean",
        generator=gen,
    )
    loss_fn = nn.CrossEntropyLoss()
    xt = torch.from_numpy(x if x.flags.writeable else x.copy())
    yt = torch.from_numpy(y if y.flags.writeable else y.copy())
    total, count = 0.0, 0
    for _ in range(k):
        idx = (torch.rand(n, generator=gen) < q).nonzero().flatten()
        opt.zero_grad(set_to_none=True)
        if len(idx) == 0:  # an empty Poisson sample is still a noisy step
            for p in model.parameters():
                p.grad_sample = torch.zeros((0, *p.shape), dtype=p.dtype)
        else:
            loss = loss_fn(model(xt[idx]), yt[idx])
            with warnings.catch_warnings():  # Opacus' hooks fire on output grads: expected
                warnings.filterwarnings("ignore", "Full backward hook", UserWarning)
                loss.backward()
            total += float(loss.detach()) * len(idx)
            count += len(idx)
        opt.step()
    return ClientUpdate(get_vector(base), n, total / max(count, 1), dp=DPSteps(z, q, k))


@dataclass
class RecordLedger:
    """Per-client RDP accountants; ε of the consortium = the worst client's."""

    delta: float
    _acc: dict = field(default_factory=dict)
    _noise: dict = field(default_factory=dict)
    _round: dict = field(default_factory=dict)

    def spend(self, client: str, steps: DPSteps) -> None:
        """Compose one local update's steps into ``client``'s accountant."""
        from opacus.accountants import RDPAccountant  # lazy: opacus (≈2 s), DP-SGD only

        acc = self._acc.setdefault(client, RDPAccountant())
        # RDP composes additively: steps of the same (z, q) merge into one history entry
        key = (steps.noise_multiplier, steps.sample_rate)
        for i, (z, q, k) in enumerate(acc.history):
            if (z, q) == key:
                acc.history[i] = (z, q, k + steps.steps)
                break
        else:
            acc.history.append((*key, steps.steps))
        self._noise[client] = steps.noise_multiplier
        self._round[client] = [steps.noise_multiplier, steps.sample_rate, steps.steps]

    def spent(self) -> dict[str, list]:
        """{client: [z, q, steps]} spent since the last call (kept in each round record)."""
        out, self._round = self._round, {}
        return out

    def replay(self, spent: dict[str, list]) -> None:
        """Re-compose a checkpointed round's :meth:`spent` (resume)."""
        for client, (z, q, k) in spent.items():
            self.spend(client, DPSteps(float(z), float(q), int(k)))
        self._round = {}

    def epsilons(self) -> dict[str, float]:
        """ε(δ) per client so far."""
        with warnings.catch_warnings():  # "optimal order is the largest alpha": still a bound
            warnings.filterwarnings("ignore", "Optimal order", UserWarning)
            return {c: float(a.get_epsilon(self.delta)) for c, a in self._acc.items()}

    @property
    def epsilon(self) -> float | None:
        """max over clients (None before any step)."""
        eps = self.epsilons()
        return max(eps.values()) if eps else None

    def summary(self, dp: RecordDP, client_level: dict | None = None) -> dict:
        """report.json's ``privacy`` section (a client-level guarantee, if any, beside it)."""
        out = {
            "epsilon": self.epsilon,
            "delta": self.delta,
            "mechanism": MECHANISM,
            "accounting": "RDP (Opacus RDPAccountant), per client, max over clients",
            "max_grad_norm": dp.max_grad_norm,
            "target_epsilon": dp.target_epsilon,
            "noise_multiplier": dict(self._noise),
            "epsilon_per_client": self.epsilons(),
        }
        if client_level is not None:
            out["client_level"] = client_level
        return out

    def annotate(self, record: dict) -> dict:
        """A round record with this round's spend and ε so far; a client-level ε already in
        it (verified aggregation's) is kept as ``client_epsilon``."""
        record["record_dp"] = self.spent()
        if "epsilon" in record:
            record["client_epsilon"] = record["epsilon"]
        record["epsilon"] = self.epsilon
        return record
