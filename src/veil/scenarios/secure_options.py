"""What ``veil demo … --secure`` sets: the demo's DP defaults and its hostile banks.

The library's :class:`~veil.aggregation.fl_bridge.SecureOptions` keeps neutral defaults; the
demo's C and z (docs/dp.md, *The demo*) and ``--malicious K`` live here. Hostile banks and the
exactness oracle come from the test kit (:class:`veil.aggregation.testing.HostileClients`) and
are composed into the round, which knows of neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from veil.aggregation.fl_bridge import LazySecureAggregation, SecureOptions
from veil.aggregation.task_state import StateKeys
from veil.aggregation.testing import HostileClients

DEMO_CLIP_NORM = 0.3  # the finance MLP's updates measure 0.2-0.3 in L2 (docs/dp.md)
DEMO_NOISE_MULTIPLIER = 0.02


@dataclass(frozen=True)
class DemoSecure:
    """``--secure`` and its companions: the task's options and ``--malicious K``."""

    options: SecureOptions
    malicious: int = 0


def demo_options(
    *,
    malicious: int = 0,
    target_epsilon: float | None = None,
    delta: float = 1e-5,
    noise_multiplier: float | None = None,
    clip_norm: float | None = None,
) -> DemoSecure:
    """The demo's defaults (docs/dp.md, *The demo*): C = DEMO_CLIP_NORM and, unless ε or z is
    given, z = DEMO_NOISE_MULTIPLIER."""
    if target_epsilon is None and noise_multiplier is None:
        noise_multiplier = DEMO_NOISE_MULTIPLIER
    opts = SecureOptions(
        clip_norm=DEMO_CLIP_NORM if clip_norm is None else clip_norm,
        noise_multiplier=noise_multiplier,
        target_epsilon=target_epsilon,
        delta=delta,
    )
    return DemoSecure(opts, malicious)


class DemoAggregation(LazySecureAggregation):
    """The demo's verified aggregation: the last K banks hostile, each round checked against
    the honest banks' exact sum (noise off), and ``describe()`` naming each bank's attack."""

    def __init__(
        self,
        folder: Path,
        client_names: list[str],
        rounds: int,
        opts: SecureOptions,
        audit_path: Path | None,
        *,
        malicious: int,
        keyring: StateKeys,
        resume: bool,
    ) -> None:
        self.hostile = HostileClients.last(client_names, malicious)
        super().__init__(
            folder, client_names, rounds, opts, audit_path, keyring=keyring, resume=resume,
            make_report=self.hostile.report, observers=[self.hostile.oracle],
        )  # fmt: skip

    def describe(self) -> dict:
        out = super().describe()
        if out:  # {} when no round ran
            out["malicious"] = self.hostile.describe()
        return out
