"""The privacy/utility trade-off, measured (docs/dp.md, *Choosing ε: the trade-off*).

The same federated task is trained at several record-level ε (DP-SGD on every member,
:mod:`veil.fl.record_dp`; ε = ∞ is the run without DP-SGD), each evaluated on the same
held-out rows, beside the two non-private references the pipeline already trains: the
pooled (centralised) model and the best member alone. A consortium then picks its ε knowing
what each step down costs — and whether the private federation still beats a bank alone.

Every setting but ε is fixed: split, initial model and schedule come from ``seed`` (the
finance demo's split and schedule with ``finance_task``); only DP-SGD's noise is fresh in
each run (it is seeded from ``os.urandom``), so ``repeats`` > 1 shows its spread.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from veil.errors import ConfigError, DataError
from veil.fl import partition as parts
from veil.fl.models import ModelKind
from veil.fl.pipeline import TableClient, federate, holdout
from veil.fl.preprocess import Schema, infer_schema
from veil.fl.record_dp import RecordDP
from veil.fl.report import write_json
from veil.fl.runner import RunConfig
from veil.fl.strategies import FedAvg
from veil.fl.training import Optimizer, TrainConfig

if TYPE_CHECKING:
    import pandas as pd

EPSILONS = (math.inf, 8.0, 4.0, 2.0, 1.0)
#: the schedule of ``veil train`` and the finance demo (veil.scenarios.finance)
TRAIN = TrainConfig(batch_size=32, lr=0.05, optimizer=Optimizer.SGD, momentum=0.9, local_steps=10)
LR_DECAY = 0.97
FINANCE_BANKS = ("bank-a", "bank-b", "bank-c", "bank-d", "bank-e")
FINANCE_PARTITION = "dirichlet:1.0"


@dataclass(frozen=True)
class Task:
    """One federated task: the members' rows, the held-out rows, the schema."""

    name: str
    train: pd.DataFrame
    test: pd.DataFrame
    schema: Schema
    members: tuple[tuple[str, np.ndarray], ...]  # (name, row positions in ``train``)

    def clients(self) -> list[TableClient]:
        """Fresh clients (each run encodes and trains from scratch)."""
        return [TableClient(n, (lambda f=self.train.iloc[i]: f)) for n, i in self.members]


@dataclass(frozen=True)
class Settings:
    """What is held fixed across the ε of one trade-off."""

    epsilons: tuple[float, ...] = EPSILONS
    rounds: int = 20
    model: ModelKind = ModelKind.LOGREG
    repeats: int = 1
    seed: int = 0
    delta: float = 1e-5
    max_grad_norm: float = 1.0

    def __post_init__(self) -> None:
        if not self.epsilons or any(not (e > 0) for e in self.epsilons):
            raise ConfigError("every ε must be positive (inf: no DP-SGD)")
        if self.rounds < 1 or self.repeats < 1:
            raise ConfigError("--rounds and --repeats must be at least 1")
        if self.model not in (ModelKind.LOGREG, ModelKind.MLP):
            raise ConfigError("the trade-off trains tables: logreg or mlp")


def parse_epsilons(text: str) -> tuple[float, ...]:
    """``"inf,8,4,2,1"`` → (inf, 8, 4, 2, 1), largest first."""
    try:
        eps = {float(t) for t in text.replace(" ", "").split(",") if t}
    except ValueError as exc:
        raise ConfigError(f"--epsilons {text!r}: give numbers such as inf,8,4,2,1") from exc
    return tuple(sorted(eps, reverse=True))


def finance_task(seed: int = 0) -> Task:
    """The finance demo's task: credit data, 25 % held out, five banks by Dirichlet(1.0)."""
    from veil.fl.data import credit_risk  # lazy: pandas and the packaged data (≈0.5 s)

    ds = credit_risk()
    train, test = holdout(ds.frame, ds.target, 0.25, seed)
    labels = train[ds.target].astype(str).to_numpy()
    idx = parts.split(FINANCE_PARTITION, labels, 5, rng=np.random.default_rng(seed + 1))
    schema = infer_schema(ds.frame, ds.target)
    return Task("finance", train, test, schema, tuple(zip(FINANCE_BANKS, idx, strict=True)))


def table_task(
    path: Path,
    target: str,
    *,
    partition_by: str | None = None,
    clients: int = 5,
    partition: str = "iid",
    test_fraction: float = 0.25,
    seed: int = 0,
) -> Task:
    """A table split as ``veil train`` splits it (by a column, or synthetically)."""
    from veil.fl.data import read_table  # lazy: pandas (≈0.3 s)

    frame = read_table(path)
    if partition_by is not None and partition_by not in frame.columns:
        raise DataError(f"unknown --partition-by column {partition_by!r}")
    schema = infer_schema(frame, target, exclude=[partition_by] if partition_by else [])
    train, test = holdout(frame, target, test_fraction, seed)
    if partition_by is not None:
        names, idx = parts.by_column(train[partition_by].to_numpy())
        members = tuple((f"{partition_by}={n}", i) for n, i in zip(names, idx, strict=True))
    else:
        labels = train[target].astype(str).to_numpy()
        idx = parts.split(
            partition, labels, clients, rng=np.random.default_rng(seed + 1), min_size=1
        )
        members = tuple((f"client-{k + 1}", i) for k, i in enumerate(idx))
    return Task(f"train:{Path(path).name}", train, test, schema, members)


def _run(task: Task, s: Settings, epsilon: float, baselines: bool) -> tuple[dict, dict]:
    """One federation at ``epsilon``: (its figures, the pipeline's baselines)."""
    rdp = None
    if math.isfinite(epsilon):
        rdp = RecordDP(
            max_grad_norm=s.max_grad_norm, delta=s.delta, target_epsilon=epsilon, rounds=s.rounds
        )
    cfg = RunConfig(rounds=s.rounds, seed=s.seed, train=TRAIN, lr_decay=LR_DECAY, record_dp=rdp)
    res = federate(
        task.clients(),
        task.test,
        task.schema,
        model=s.model,
        hidden=(32, 16) if s.model is ModelKind.MLP else (),
        strategy=FedAvg(),
        cfg=cfg,
        baselines=baselines,
    )
    last = res.result.rounds[-1]
    m = last["metrics"]
    return {"auc": m["auc"], "accuracy": m["accuracy"], "epsilon": last.get("epsilon")}, (
        res.baselines
    )


def run_tradeoff(
    task: Task, s: Settings, on_run: Callable[[float, dict], None] | None = None
) -> dict:
    """Train at every ε (``repeats`` times when DP-SGD's noise makes runs differ) and
    collect AUC per ε with the pooled and best-member-alone baselines (tradeoff.json)."""
    runs, base = [], None
    for eps in s.epsilons:
        times = s.repeats if math.isfinite(eps) else 1  # without DP-SGD a run is deterministic
        got = []
        for _ in range(times):
            fig, b = _run(task, s, eps, baselines=base is None)
            base = base or b
            got.append(fig)
            if on_run is not None:
                on_run(eps, fig)
        runs.append(_summarise(eps, got))
    assert base is not None
    alone = base["local_only"]
    best = max(alone, key=lambda n: alone[n]["auc"])
    return {
        "task": task.name,
        "members": {n: len(i) for n, i in task.members},
        "test_rows": len(task.test),
        "model": s.model.value,
        "rounds": s.rounds,
        "repeats": s.repeats,
        "seed": s.seed,
        "delta": s.delta,
        "max_grad_norm": s.max_grad_norm,
        "runs": runs,
        "auc_by_epsilon": {r["epsilon"]: r["auc"] for r in runs},
        "baselines": {
            "pooled": {k: base["centralized"][k] for k in ("auc", "accuracy")},
            "best_alone": {"member": best, "auc": alone[best]["auc"]},
            "local_only": {n: v["auc"] for n, v in alone.items()},
            "note": "trained without DP: the non-private references",
        },
        "metric": "ROC AUC on the held-out rows after the last round",
    }


def _summarise(eps: float, got: Sequence[dict]) -> dict:
    aucs = [g["auc"] for g in got]
    reached = [g["epsilon"] for g in got if g["epsilon"] is not None]
    return {
        "epsilon": "inf" if math.isinf(eps) else f"{eps:g}",
        "target_epsilon": None if math.isinf(eps) else eps,
        "auc": float(np.mean(aucs)),
        "auc_runs": aucs,
        "accuracy": float(np.mean([g["accuracy"] for g in got])),
        "epsilon_reached": max(reached) if reached else None,
    }


def plot_tradeoff(result: dict, path: Path) -> None:
    """AUC against ε (log axis; ∞ = no DP-SGD drawn at the right, past a break), with the
    pooled and best-member-alone baselines as horizontal lines."""
    import matplotlib  # lazy: matplotlib (≈0.4 s) only to draw the figure

    matplotlib.use("Agg")
    # lazy: pyplot must load after the Agg backend is chosen
    import matplotlib.pyplot as plt

    runs = result["runs"]
    finite = [r for r in runs if r["target_epsilon"] is not None]
    top = max([r["target_epsilon"] for r in finite], default=1.0)
    x_inf = top * 4  # where ∞ sits: two octaves right of the largest finite ε
    fig, ax = plt.subplots(figsize=(7, 4.2), constrained_layout=True)
    b = result["baselines"]
    ax.axhline(b["pooled"]["auc"], color="C2", ls="--", lw=1.5, label="pooled (no DP)")
    best = b["best_alone"]
    ax.axhline(
        best["auc"],
        color="C3",
        ls=":",
        lw=1.5,
        label=f"best member alone ({best['member']}, no DP)",
    )
    if finite:
        xs = [r["target_epsilon"] for r in finite]
        ys = [r["auc"] for r in finite]
        lo = [r["auc"] - min(r["auc_runs"]) for r in finite]
        hi = [max(r["auc_runs"]) - r["auc"] for r in finite]
        ax.errorbar(xs, ys, yerr=[lo, hi], fmt="o-", color="C0", capsize=3, lw=2,
                    label="federated, record-level DP-SGD")  # fmt: skip
    for r in runs:
        if r["target_epsilon"] is None:
            ax.plot([x_inf], [r["auc"]], "s", color="C0", ms=8, label="federated, no DP (ε = ∞)")
    ax.set_xscale("log")
    ticks = sorted({r["target_epsilon"] for r in finite})
    ax.set_xticks([*ticks, x_inf], [f"{t:g}" for t in ticks] + ["∞"])
    ax.minorticks_off()
    if finite:
        ax.axvline(top * 2, color="0.6", lw=0.8, ls=(0, (2, 2)))  # the axis break before ∞
    ax.set_xlabel(f"record-level ε per customer (δ = {result['delta']:g})")
    ax.set_ylabel("ROC AUC (held-out rows)")
    ax.set_title(f"{result['task']}: {result['model']}, {result['rounds']} rounds")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write(result: dict, out: Path) -> tuple[Path, Path]:
    """``tradeoff.json`` and ``tradeoff.png`` under ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(result, out / "tradeoff.json")
    plot_tradeoff(result, out / "tradeoff.png")
    return out / "tradeoff.json", out / "tradeoff.png"
