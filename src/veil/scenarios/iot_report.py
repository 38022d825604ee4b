"""What the IoT demo measures and draws: the metrics every demo reports (accuracy, ROC AUC,
log loss: :func:`veil.fl.training.metrics_from_proba`) on the held-out rows, and
``report.png`` — accuracy against the non-private and pooled baselines, ε per round, and each
round's reports accepted, rejected and missing (dropped or late)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from veil.edge.models import EdgeModel
from veil.fl.training import Metrics, metrics_from_proba


def scores(model: EdgeModel, vec: np.ndarray, x: np.ndarray, y: np.ndarray) -> Metrics:
    """Accuracy, ROC AUC and log loss of the numpy model, as every other demo scores."""
    return metrics_from_proba(model.predict_proba(vec, x), y, model.n_classes)


def plot_devices(report: dict, path: Path) -> None:
    """Three panels: accuracy per round, ε per round, reports per round."""
    import matplotlib  # lazy: matplotlib (≈0.4 s) only to draw report.png

    matplotlib.use("Agg")
    # lazy: pyplot must load after the Agg backend is chosen (no display needed)
    import matplotlib.pyplot as plt

    rounds = report["rounds"]
    r = [x["round"] for x in rounds]
    fig, (a1, a2, a3) = plt.subplots(1, 3, figsize=(16, 4.2), constrained_layout=True)
    a1.plot(r, [x["metrics"]["accuracy"] for x in rounds], "o-", ms=3, label="federated, DP")
    base = report["baselines"]
    if base.get("non_private"):
        a1.axhline(base["non_private"]["accuracy"], color="C1", ls=":", label="federated, no DP")
    a1.axhline(base["centralized"]["accuracy"], color="C3", ls="--", label="pooled rows")
    a1.set(xlabel="round", ylabel="accuracy (held-out rows)", title="accuracy")
    a1.legend(fontsize=8)
    eps = [x.get("epsilon") for x in rounds]
    a2.plot(r, [np.nan if e is None else e for e in eps], "o-", ms=3, color="C2")
    a2.set(xlabel="round", ylabel=f"ε per device (δ = {report['privacy']['delta']:.1g})",
           title="privacy spent")  # fmt: skip
    acc = np.array([len(x["accepted"]) for x in rounds])
    rej = np.array([len(x["rejected"]) for x in rounds])
    miss = np.array([x.get("dropped", 0) + x.get("late", 0) for x in rounds])
    a3.bar(r, acc, color="C0", label="accepted")
    a3.bar(r, rej, bottom=acc, color="C3", label="rejected (verified)")
    a3.bar(r, miss, bottom=acc + rej, color="0.7", label="dropped or late")
    a3.set(xlabel="round", ylabel="devices asked", title="reports per round")
    a3.legend(fontsize=8)
    for ax in (a1, a2, a3):
        ax.grid(alpha=0.3)
    fig.suptitle(f"veil demo iot: {report['devices']:,} devices")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
