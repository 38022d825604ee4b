"""A throw-away consortium with fresh keys, in memory: for tests, benchmarks and examples.

Not for deployments: the keys exist only in this process (use ``veil helper init``).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from veil.aggregation.aggregator import HelperCore
from veil.aggregation.client import ReportBuilder
from veil.aggregation.config import ConsortiumConfig, DpConfig
from veil.aggregation.leader import VerifiedAggregator
from veil.aggregation.store import AggregatorStore
from veil.aggregation.transport import InProcessHelper, token_audience
from veil.crypto.hpke_keys import X25519Identity
from veil.crypto.signing import Ed25519Identity


@dataclass
class Consortium:
    cfg: ConsortiumConfig
    leader_hpke: X25519Identity
    leader_signing: Ed25519Identity
    helper_hpke: X25519Identity
    client_keys: dict[str, Ed25519Identity]

    @property
    def audience(self) -> bytes:
        """The Helper-and-task audience the Leader's bearer tokens are bound to."""
        return token_audience(self.cfg.helper_hpke, self.cfg.task_id)

    def builder(self, cid: str) -> ReportBuilder:
        return ReportBuilder(self.cfg, cid, self.client_keys[cid])

    def in_process(self, helper_db=":memory:") -> tuple[VerifiedAggregator, HelperCore]:
        core = HelperCore(self.cfg, self.helper_hpke, AggregatorStore(helper_db, self.helper_hpke))
        return VerifiedAggregator(self.cfg, self.leader_hpke, InProcessHelper(core)), core


def make_consortium(n_clients=4, dimension=64, noise=0.0, **task) -> Consortium:
    lh, ls, hh = X25519Identity.generate(), Ed25519Identity.generate(), X25519Identity.generate()
    keys = {f"c{i}": Ed25519Identity.generate() for i in range(n_clients)}
    return consortium_of(lh, ls, hh, keys, dimension=dimension, noise=noise, **task)


def consortium_of(
    lh: X25519Identity,
    ls: Ed25519Identity,
    hh: X25519Identity,
    keys: dict[str, Ed25519Identity],
    *,
    dimension: int = 64,
    noise: float = 0.0,
    **task,
) -> Consortium:
    """The :func:`make_consortium` task for given keys (a fuzz harness fixes them)."""
    cfg = ConsortiumConfig(
        task_id=os.urandom(32),
        dimension=dimension,
        clip_norm=1.0,
        max_weight=100,
        leader_hpke=lh.recipient(),
        leader_signing=ls.recipient(),
        helper_hpke=hh.recipient(),
        helper_endpoint="http://127.0.0.1:1",
        clients={c: k.recipient() for c, k in keys.items()},
        min_reports=1,
        dp=DpConfig(noise_multiplier=noise),
        allow_unsafe=True,  # test consortia: one client, no noise (recorded in audit records)
    )
    cfg = dataclasses.replace(cfg, **task)
    return Consortium(cfg, lh, ls, hh, keys)
