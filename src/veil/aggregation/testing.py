"""The test kit: a throw-away consortium with fresh keys, in memory, and hostile clients with
an exactness oracle to compose into a verified round (tests, benchmarks, the demo).

Not for deployments: the keys exist only in this process (use ``veil helper init``), and
:class:`HostileClients` builds reports a lying client could.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

import numpy as np

from veil.aggregation.adversary import ATTACKS, Attack, hostile_report
from veil.aggregation.aggregator import HelperCore
from veil.aggregation.client import ReportBuilder, weighted_update
from veil.aggregation.config import ConsortiumConfig, DpConfig
from veil.aggregation.leader import RoundResult, VerifiedAggregator, finalize
from veil.aggregation.report import Report
from veil.aggregation.store import AggregatorStore
from veil.aggregation.transport import InProcessHelper, token_audience
from veil.aggregation.vdafs import TaskVdafs
from veil.crypto.hpke_keys import X25519Identity
from veil.crypto.signing import Ed25519Identity
from veil.errors import ConfigError


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

    def in_process(
        self, helper_db=":memory:", workers: int = 1
    ) -> tuple[VerifiedAggregator, HelperCore]:
        """Leader and Helper in this process, each verifying on ``workers`` processes."""
        store = AggregatorStore(helper_db, self.helper_hpke)
        core = HelperCore(self.cfg, self.helper_hpke, store, workers=workers)
        leader = VerifiedAggregator(
            self.cfg, self.leader_hpke, InProcessHelper(core), workers=workers
        )
        return leader, core


class RecordingHelper(InProcessHelper):
    """The in-process Helper, keeping every verify request and answer (to replay or read)."""

    def __init__(self, core: HelperCore) -> None:
        super().__init__(core)
        self.requests: list[bytes] = []
        self.answers: list[bytes] = []

    def verify(self, body: bytes) -> bytes:
        self.requests.append(body)
        out = super().verify(body)
        self.answers.append(out)
        return out


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


@dataclass
class HostileClients:
    """Attack injection and the exact-aggregate oracle, composed into a verified round:
    ``SecureAggregation.start(..., make_report=h.report, observers=[h.oracle])``.

    Clients named in ``attacks`` build hostile reports (:mod:`veil.aggregation.adversary`);
    the others build honest ones, whose u = (w/W)·clip(Δ) is kept for the oracle.
    """

    attacks: dict[str, Attack] = field(default_factory=dict)
    _last: dict[str, Report] = field(default_factory=dict)  # each honest report, for REPLAY
    _honest: dict[str, np.ndarray] = field(default_factory=dict)  # this round's honest u
    _round: int | None = None
    _vdafs: tuple[ConsortiumConfig, TaskVdafs] | None = None

    @classmethod
    def last(cls, client_names: list[str], k: int) -> HostileClients:
        """The last ``k`` clients turn hostile, each with a different attack, spread over the
        list so that a few hostile clients show different failure modes."""
        if not 0 <= k <= len(client_names):
            raise ConfigError("--malicious cannot exceed the number of clients")
        hostile = client_names[len(client_names) - k :] if k else []
        n = max(len(hostile), 1)
        return cls({c: ATTACKS[(i * len(ATTACKS) // n) % len(ATTACKS)]
                    for i, c in enumerate(hostile)})  # fmt: skip

    def report(self, rnd: int, builder: ReportBuilder, delta: np.ndarray, weight: int) -> Report:
        """A ``ReportFactory``: the attack assigned to this client, else its honest report."""
        if rnd != self._round:
            self._round, self._honest = rnd, {}
        name = builder.client_id
        attack = self.attacks.get(name)
        if attack is Attack.REPLAY and name not in self._last:
            attack = None  # nothing to replay yet: honest in its first round
        if attack is not None:
            return hostile_report(attack, builder, rnd, delta, weight, earlier=self._last.get(name))
        rep = builder.build(rnd, delta, weight)
        self._last[name] = rep
        self._honest[name] = weighted_update(delta, weight, builder.cfg, builder.clip)
        return rep

    def oracle(self, cfg: ConsortiumConfig, res: RoundResult) -> dict:
        """A ``RoundObserver``: with noise off, ``aggregate_equals_honest`` — the verified
        aggregate equals the honest clients' Σw·clip(Δ)/D bit for bit (exactly the honest
        clients accepted, their u summed in the clear)."""
        if cfg.dp.noise_multiplier != 0:
            return {}
        honest = self._honest if res.round == self._round else {}
        if not honest or sorted(res.accepted) != sorted(honest):
            return {"aggregate_equals_honest": False}
        v = self._task_vdafs(cfg)
        total = v.pine.agg_init(None)
        for u in honest.values():
            total = v.pine.field.add(total, v.pine.encode_float_vec(u))
        ref = finalize(v, total, cfg)
        return {"aggregate_equals_honest": bool(np.array_equal(ref, res.aggregate))}

    def describe(self) -> dict[str, str]:
        """Which client runs which attack (report.json's ``config.secure.malicious``)."""
        return {n: a.value for n, a in self.attacks.items()}

    def _task_vdafs(self, cfg: ConsortiumConfig) -> TaskVdafs:
        if self._vdafs is None or self._vdafs[0] is not cfg:
            self._vdafs = (cfg, TaskVdafs.for_config(cfg))
        return self._vdafs[1]
