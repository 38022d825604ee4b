"""What the vertical demos and ``veil train --vertical`` draw and print: ``report.png``
(quality against the baselines, traffic per party, what each party taught the model) and the
seed's four lines (data protected, parties aligned, model trained, final performance)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rich.console import Console

TITLES = {"secureboost": "SecureBoost", "hetero_lr": "hetero LR"}
BASELINES = {
    "pooled": "same model, joined table",
    "pooled_sklearn_hgb": "scikit-learn HGB, joined table",
    "label_party_alone": "label party alone",
}


def plot(report: dict, path: Path) -> None:
    import matplotlib  # lazy: matplotlib (≈0.4 s) only to draw report.png

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: after the Agg backend is chosen

    fig, (a1, a2, a3) = plt.subplots(
        1, 3, figsize=(18, 4.4), constrained_layout=True, width_ratios=[1.3, 1, 1]
    )
    _quality_panel(a1, report)
    _traffic_panel(a2, report)
    _importance_panel(a3, report)
    fig.suptitle(f"veil {report.get('scenario', 'vertical')}: one model over parties that hold "
                 "different columns of the same people; no column pooled")  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _quality_panel(ax, report: dict) -> None:
    labels, values, colours = [], [], []
    for model, result in report["models"].items():
        labels.append(f"{TITLES[model]}\n(federated)")
        values.append(result["auc"])
        colours.append("C0")
        for key, value in report.get("baselines", {}).get(model, {}).items():
            if key in BASELINES:
                labels.append(f"{TITLES[model]}: {BASELINES[key]}")
                values.append(value)
                colours.append("C7" if key == "label_party_alone" else "C1")
    ax.barh(range(len(values)), values, color=colours)
    ax.set_yticks(range(len(values)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set(xlim=(0.45, min(1.0, max(values) + 0.06)), xlabel="ROC AUC (held-out aligned rows)",
           title="quality")  # fmt: skip
    for i, v in enumerate(values):
        ax.text(v + 0.003, i, f"{v:.3f}", va="center", fontsize=8)


def _traffic_panel(ax, report: dict) -> None:
    traffic = report["traffic"]
    parties = list(traffic["bytes_sent"])
    x = np.arange(len(parties))
    ax.bar(x - 0.2, [traffic["bytes_sent"][p] / 2**20 for p in parties], 0.4,
           label="label party → party")  # fmt: skip
    ax.bar(x + 0.2, [traffic["bytes_received"][p] / 2**20 for p in parties], 0.4,
           label="party → label party")  # fmt: skip
    ax.set_xticks(x, parties)
    ax.set(ylabel="MiB (sealed)", title="traffic")
    ax.legend(fontsize=8)


def _importance_panel(ax, report: dict) -> None:
    """Each party's share of what each model learned (SecureBoost: split gain; LR: Shapley)."""
    models = [m for m in report["models"] if "importance" in report["models"][m]]
    if not models:
        ax.set_axis_off()
        return
    shares = [report["models"][m]["importance"]["parties"] for m in models]
    names = sorted({p["name"] for table in shares for p in table})
    width = 0.8 / len(models)
    for i, (model, table) in enumerate(zip(models, shares, strict=True)):
        share = {p["name"]: p["value"] for p in table}
        ax.bar(np.arange(len(names)) + (i - (len(models) - 1) / 2) * width,
               [100 * share.get(n, 0.0) for n in names], width, label=TITLES[model])  # fmt: skip
    ax.set_xticks(range(len(names)), names)
    ax.set(ylabel="% of what the model learned", title="importance by party")
    ax.legend(fontsize=8)


def summarise(report: dict, console: Console) -> None:
    """The seed's four lines (as every demo prints them), each made real for a vertical run."""
    traffic, a = report["traffic"], report["alignment"]
    label_party = next(iter(report["parties"]))
    mib = (sum(traffic["bytes_sent"].values()) + sum(traffic["bytes_received"].values())) / 2**20
    console.print(f"[bold green]Data encryption completed:[/] {len(report['parties'])} parties' "
                  f"tables stayed with them; {traffic['messages']:,} messages sealed (HPKE) and "
                  f"signed (Ed25519), {mib:.1f} MiB; {a['rows']:,} shared people aligned by PSI "
                  f"in {a['seconds']} s")  # fmt: skip
    claim = report.get("claims", {})
    console.print(f"[bold green]Proof verification result:[/] {bool(claim.get('verified_by'))} "
                  f"({label_party} proved {claim.get('statement', '?')} in zero knowledge to "
                  f"{', '.join(claim.get('verified_by', [])) or 'nobody'})")  # fmt: skip
    trained = []
    for model, m in report["models"].items():
        unit = (f"{m['trees']} trees, {m['seconds_per_tree']} s a tree" if "trees" in m
                else f"{m['epochs']} epochs, {m['seconds_per_epoch']} s an epoch")  # fmt: skip
        learned = ", ".join(f"{p['name']} {100 * p['value']:.0f} %"
                            for p in m.get("importance", {}).get("parties", []))  # fmt: skip
        trained.append(f"{TITLES[model]} ({unit}, resumed {m['resumed']}×; learned from "
                       f"{learned})")  # fmt: skip
    console.print(f"[bold green]Federated learning completed:[/] {'; '.join(trained)}")
    scores = []
    for model, m in report["models"].items():
        base = report.get("baselines", {}).get(model, {})
        extra = (f" (joined table {base['pooled']:.4f}, {label_party} alone "
                 f"{base['label_party_alone']:.4f})" if base else "")  # fmt: skip
        scores.append(f"{TITLES[model]} AUC {m['auc']:.4f}{extra}")
    console.print(f"[bold green]Final model performance:[/] {'; '.join(scores)}")
    diff = report.get("baselines", {}).get("secureboost", {}).get("pooled_predictions_max_abs_diff")
    if diff is not None:
        console.print(f"  SecureBoost is lossless: max |Δp| = {diff:.1e} against the same GBDT "
                      "on the joined table")  # fmt: skip
    console.print(f"  {report.get('seconds', '?')} s in all; report.json and report.png written")
