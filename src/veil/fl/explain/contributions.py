"""What each member contributes to the model's AUC (docs/explain.md, *What each member
contributes*).

veil releases only sums of updates, so no member's own model exists to value; per-round
reconstructions (GTG-Shapley) are not available. The honest alternative is to re-run
sub-federations: a coalition S trains with the same pipeline and schedule (quick settings),
and its value v(S) is the AUC of the model it releases on the consortium's held-out rows,
v(∅) = 0.5 (an uninformed model). From these, leave-one-out v(N) − v(N∖{i}) and the Shapley
value: exact over every coalition for a few members, else truncated Monte Carlo (Ghorbani &
Zou, ICML 2019): marginals along K seeded permutations, each coalition trained once
(cached), and a permutation's remaining marginals set to 0 once v(S) is within
``tolerance`` of v(N).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from veil.errors import ConfigError
from veil.fl.models import ModelKind
from veil.fl.pipeline import TableClient, federate
from veil.fl.preprocess import Schema
from veil.fl.runner import RunConfig
from veil.fl.strategies import FedAvg

#: AUC of a model that knows nothing: the value of the empty coalition
EMPTY_VALUE = 0.5


@dataclass(frozen=True)
class ContributionSettings:
    """The Shapley estimate's budget."""

    permutations: int = 10  # K
    tolerance: float = 0.002  # truncate once |v(N) − v(S)| < this (AUC, 0.2 points)
    seed: int = 0
    #: up to this many members every coalition is trained and Shapley is exact: with
    #: v(∅) = 0.5 the first member of a permutation gains ~30 points, so a few sampled
    #: permutations are far noisier than 2^N − 1 runs (31 for five banks)
    exact_up_to: int = 5


@dataclass
class CoalitionValues:
    """v(S) with every coalition trained at most once; counts runs and seconds."""

    train: Callable[[tuple[str, ...]], float]
    names: tuple[str, ...]
    rounds: int | None = None  # of each re-run, for the report
    cache: dict[frozenset[str], float] = field(default_factory=dict)
    seconds: float = 0.0

    def __call__(self, members: Sequence[str]) -> float:
        key = frozenset(members)
        if not key:
            return EMPTY_VALUE
        if key not in self.cache:
            t0 = time.perf_counter()
            value = self.train(tuple(n for n in self.names if n in key))
            self.cache[key] = EMPTY_VALUE if math.isnan(value) else float(value)
            self.seconds += time.perf_counter() - t0
        return self.cache[key]

    @property
    def runs(self) -> int:
        return len(self.cache)


def leave_one_out(values: CoalitionValues) -> dict[str, float]:
    """v(N) − v(N∖{i}) per member."""
    full = values(values.names)
    return {n: full - values([m for m in values.names if m != n]) for n in values.names}


def tmc_shapley(values: CoalitionValues, settings: ContributionSettings) -> dict[str, float]:
    """Truncated Monte Carlo Shapley: the mean marginal along K seeded permutations."""
    if settings.permutations < 1:
        raise ConfigError("the Shapley estimate needs at least one permutation")
    names = values.names
    full = values(names)
    rng = np.random.default_rng(settings.seed)
    total = dict.fromkeys(names, 0.0)
    for _ in range(settings.permutations):
        order = [names[i] for i in rng.permutation(len(names))]
        prev = EMPTY_VALUE
        for j, name in enumerate(order):
            if abs(full - prev) < settings.tolerance:
                break  # truncated: the rest add (about) nothing
            cur = values(order[: j + 1])
            total[name] += cur - prev
            prev = cur
    return {n: s / settings.permutations for n, s in total.items()}


def exact_shapley(values: CoalitionValues) -> dict[str, float]:
    """Σ over S ⊆ N∖{i} of |S|!(n−|S|−1)!/n! · (v(S ∪ {i}) − v(S)): every coalition once."""
    names, n = values.names, len(values.names)
    out = {}
    for i in names:
        rest = [m for m in names if m != i]
        out[i] = sum(
            math.factorial(k) * math.factorial(n - k - 1) / math.factorial(n)
            * (values([*s, i]) - values(s))
            for k in range(n) for s in itertools.combinations(rest, k)
        )  # fmt: skip
    return out


def contributions(values: CoalitionValues, settings: ContributionSettings) -> dict:
    """report.json's ``contributions``: Shapley and leave-one-out, in AUC points."""
    loo = leave_one_out(values)
    if len(values.names) <= settings.exact_up_to:
        shap, how = exact_shapley(values), f"exact Shapley (all {2 ** len(values.names) - 1}"
        how += " coalitions, re-runs)"
    else:
        shap = tmc_shapley(values, settings)
        how = f"truncated Monte Carlo Shapley ({settings.permutations} permutations, re-runs)"
    order = sorted(values.names, key=lambda n: -shap[n])
    return {
        "method": f"leave-one-out and {how}",
        "value": "ROC AUC on the held-out rows of the model a sub-federation releases; "
        f"empty coalition {EMPTY_VALUE}",
        "full_auc": values(values.names),
        "tolerance": settings.tolerance,
        "rounds": values.rounds,
        "runs": values.runs,
        "seconds": round(values.seconds, 1),
        "members": [
            {
                "name": n,
                "auc_points": 100 * shap[n],
                "leave_one_out_points": 100 * loo[n],
            }
            for n in order
        ],
    }


def lines(section: dict) -> list[str]:
    """What the demo prints: the cost, then 'bank-c adds +1.8 AUC points (leave-one-out +0.4)'."""
    head = (
        f"contributions: {section['runs']} sub-federations re-run ({section['rounds']} rounds, "
        f"{section['seconds']:.0f} s); all together AUC {section['full_auc']:.4f}"
    )
    return [head] + [
        f"{m['name']} adds {m['auc_points']:+.1f} AUC points "
        f"(leave-one-out {m['leave_one_out_points']:+.1f})"
        for m in section["members"]
    ]


def rerun_values(
    clients: Sequence[TableClient],
    test_frame: object,
    schema: Schema,
    *,
    model: ModelKind,
    hidden: tuple[int, ...],
    strategy: Callable[[], FedAvg],
    cfg: RunConfig,
) -> CoalitionValues:
    """v(S) by re-running the pipeline on S's members (fresh clients over the same rows,
    a fresh strategy, the preprocessor fitted on S's statistics, no baselines)."""

    def train(names: tuple[str, ...]) -> float:
        chosen = [TableClient(c.name, c.frame) for c in clients if c.name in names]
        res = federate(
            chosen, test_frame, schema, model=model, hidden=hidden, strategy=strategy(),
            cfg=cfg, baselines=False,
        )  # fmt: skip
        return float(res.result.rounds[-1]["metrics"]["auc"])

    return CoalitionValues(train, tuple(c.name for c in clients), rounds=cfg.rounds)
