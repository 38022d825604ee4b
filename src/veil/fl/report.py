"""``report.json`` (the contract other issues extend) and ``report.png``.

report.json keys: ``scenario``; ``final`` {accuracy, auc}; ``baselines`` {centralized
{accuracy, auc}, local_only {client: {…}}}; ``rounds`` [{round, metrics, accepted,
rejected [{client, reason}], seconds, bytes_up}]; ``encryption`` {sealed_files, bytes};
``claims`` {verified, failed}; ``privacy`` {epsilon, delta} (null until DP exists); plus
``config`` describing the run. The demos add ``importance`` (drawn by
:func:`plot_importance`) and, with ``--contributions``, ``contributions`` (docs/explain.md).
"""

from __future__ import annotations

import json
import math
import os
from datetime import UTC, datetime
from pathlib import Path


def default_out() -> Path:
    """``runs/<UTC timestamp>``: where a run writes when no ``--out`` is given."""
    return Path("runs") / datetime.now(UTC).strftime("%Y%m%d-%H%M%S")


def build_report(
    *,
    scenario: str,
    rounds: list[dict],
    baselines: dict,
    encryption: dict | None = None,
    claims: dict | None = None,
    config: dict | None = None,
) -> dict:
    """Assemble the report dictionary from a run's pieces."""
    last = rounds[-1]["metrics"] if rounds else {}
    return {
        "scenario": scenario,
        "final": {"accuracy": last.get("accuracy"), "auc": last.get("auc")},
        "baselines": baselines,
        "rounds": rounds,
        "encryption": encryption or {"sealed_files": 0, "bytes": 0},
        "claims": claims or {"verified": 0, "failed": 0, "available": False},
        "privacy": {"epsilon": None, "delta": None},
        "config": config or {},
    }


def write_json(report: dict, path: Path) -> None:
    """Write atomically; NaN becomes null so the file is strict JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(_clean(report), indent=2) + "\n")
    os.replace(tmp, path)


def plot(report: dict, path: Path) -> None:
    """Accuracy and AUC per round: federated vs centralised vs each institution alone."""
    import matplotlib  # lazy: matplotlib (≈0.4 s) only to draw report.png

    matplotlib.use("Agg")
    # lazy: pyplot must load after the Agg backend is chosen (no display needed)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    rounds = [r["round"] for r in report["rounds"]]
    eps = [r.get("epsilon") for r in report["rounds"]]
    with_eps = any(e is not None for e in eps)
    fig, axes = plt.subplots(
        1, 3 if with_eps else 2, figsize=(16 if with_eps else 11, 4.2), constrained_layout=True
    )
    if with_eps:  # verified aggregation with DP noise: ε after each round
        ax = axes[2]
        level = "record" if "record" in str(report["privacy"].get("mechanism")) else "client"
        ax.plot(rounds, eps, "o-", ms=3, lw=2, color="C2", label=f"ε ({level}-level)")
        ax.set_yscale("log")
        ax.set_xlabel("round")
        ax.set_ylabel(f"ε  (δ = {report['privacy'].get('delta')})")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    for ax, key, label in zip(axes, ("accuracy", "auc"), ("accuracy", "ROC AUC"), strict=False):
        ax.plot(
            rounds,
            [r["metrics"][key] for r in report["rounds"]],
            "o-",
            ms=3,
            lw=2,
            label="federated",
            color="C0",
        )
        central = report["baselines"]["centralized"][key]
        ax.axhline(
            central, color="C3", ls="--", lw=1.5, label=f"centralised (pooled) {central:.3f}"
        )
        for i, m in enumerate(report["baselines"]["local_only"].values()):
            v = m.get(key)
            if v is not None and not (isinstance(v, float) and math.isnan(v)):
                ax.axhline(
                    v, color="0.6", ls=":", lw=1, label="each institution alone" if i == 0 else None
                )
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("round")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(f"veil — {report['scenario']}: federated vs centralised vs local-only")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


def plot_importance(report: dict, path: Path) -> None:
    """The securely aggregated importance as bars, ± its spread across members; nothing
    when the report has none."""
    imp = report.get("importance")
    if not imp or not imp.get("features"):
        return
    import matplotlib  # lazy: matplotlib (≈0.4 s) only to draw importance.png

    matplotlib.use("Agg")
    # lazy: pyplot must load after the Agg backend is chosen (no display needed)
    import matplotlib.pyplot as plt

    feats = imp["features"][::-1]  # largest on top
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(feats) + 1.6), constrained_layout=True)
    ax.barh(
        [f["name"] for f in feats],
        [f["value"] for f in feats],
        xerr=[f.get("spread") or 0.0 for f in feats],
        color="C0",
        ecolor="0.5",
        capsize=2,
    )
    ax.axvline(0, color="0.3", lw=0.8)
    ax.set_xlabel(f"rise in {imp.get('metric', 'loss')} when the column is permuted")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(
        f"veil — {report['scenario']}: feature importance, {imp['aggregation']}\n"
        f"row-weighted mean over {imp['members']} members ± spread across members",
        fontsize=9,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


def _clean(obj: object) -> object:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item"):  # numpy scalar
        return _clean(obj.item())
    return obj
