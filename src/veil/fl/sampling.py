"""Cross-device rounds: which devices a round asks, and which of them never answer in time.

A cross-device federation has thousands of devices and asks a few percent of them each round
(McMahan et al., "Learning Differentially Private Recurrent Language Models", ICLR 2018:
Poisson sampling with rate q, the fixed-denominator estimator). Sampled devices are
unreliable: some drop out (never report), some report after the round's deadline (their
report is discarded; they did the work). The round completes with whatever valid reports
arrive in time; the Aggregators refuse to release anything below ``min_reports``.

Client-level DP with amplification by sampling holds only for the sampling the accountant
assumes: **Poisson** sampling with the task's ``dp.sampling_rate`` (dp-accounting's
``PoissonSampledDpEvent``). Dropouts and late reports only remove participants after the
draw; with the fixed denominator they never raise one device's influence, so the
accounting stays an upper bound. Fixed-size sampling is offered for runs without DP.

Draws are reproducible: round r uses a generator seeded by ``derive_seed(seed, r, -1)``, so
a resumed run asks the same devices the uninterrupted run would have asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from veil.errors import ConfigError
from veil.fl.local_config import derive_seed


class Fate(Enum):
    """What happens to one sampled device in a round (simulated unreliability)."""

    ON_TIME = "on time"
    DROPPED = "dropped out"
    LATE = "late"


@dataclass(frozen=True)
class Sampling:
    """Who a round asks: Poisson with rate ``rate`` (each device independently), or exactly
    ``size`` devices; of those, a fraction ``dropout`` never reports and a fraction ``late``
    reports after the deadline. ``deadline`` (seconds of wall clock) closes a round: devices
    not yet asked when it passes are recorded as late, so a round never waits forever."""

    rate: float | None = None
    size: int | None = None
    dropout: float = 0.0
    late: float = 0.0
    deadline: float | None = None

    def __post_init__(self) -> None:
        if (self.rate is None) == (self.size is None):
            raise ConfigError("sampling: give exactly one of rate (Poisson) or size (fixed)")
        if self.rate is not None and not 0 < self.rate <= 1:
            raise ConfigError("sampling rate must be in (0, 1]")
        if self.size is not None and self.size < 1:
            raise ConfigError("sampling size must be at least 1")
        if not (0 <= self.dropout < 1 and 0 <= self.late < 1 and self.dropout + self.late < 1):
            raise ConfigError("dropout and late are fractions in [0, 1) summing to below 1")
        if self.deadline is not None and not self.deadline > 0:
            raise ConfigError("the round deadline must be positive (seconds)")

    @property
    def poisson(self) -> bool:
        return self.rate is not None

    def expected(self, population: int) -> float:
        """The expected number of devices asked per round."""
        return self.rate * population if self.rate is not None else float(self.size)

    def draw(self, seed: int, rnd: int, population: int) -> tuple[np.ndarray, list[Fate]]:
        """Round ``rnd``'s sample (indices into the population, ascending) and each sampled
        device's fate."""
        if population < 1:
            raise ConfigError("no devices to sample from")
        rng = np.random.default_rng(derive_seed(seed, rnd, 2**31 - 1))
        if self.rate is not None:
            chosen = np.flatnonzero(rng.random(population) < self.rate)
        else:
            if self.size > population:
                raise ConfigError(f"sampling size {self.size} exceeds {population} devices")
            chosen = np.sort(rng.choice(population, size=self.size, replace=False))
        u = rng.random(chosen.size)
        fates = [
            Fate.DROPPED if x < self.dropout else Fate.LATE if x < self.dropout + self.late
            else Fate.ON_TIME
            for x in u
        ]  # fmt: skip
        return chosen, fates

    def check_accounting(self, dp_sampling_rate: float, noise: bool) -> None:
        """Refuse a run whose sampling is not what the client-level accountant assumes."""
        if not noise:
            return
        if self.rate is None:
            raise ConfigError(
                "client-level DP with sampling is accounted for Poisson sampling only: "
                "use a sampling rate, not a fixed size"
            )
        if not np.isclose(self.rate, dp_sampling_rate, rtol=1e-12, atol=0):
            raise ConfigError(
                f"the pool samples with q={self.rate:g} but the task's accountant assumes "
                f"dp.sampling_rate={dp_sampling_rate:g}"
            )
