"""What ``veil demo vertical`` measures and draws: the baselines on the joined table (which
only the simulation can build), ``report.png`` (quality and traffic) and the summary lines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rich.console import Console

from veil.scenarios.vertical_data import ID
from veil.vertical import gbdt
from veil.vertical.binning import fit_bins
from veil.vertical.ids import normalise_id
from veil.vertical.tables import PartyTable, read_table
from veil.vertical.training import GuestRun, VerticalSettings, auc

console = Console()
HOSTS = ("shop", "agency")


def _joined(guest_run: GuestRun, bank: PartyTable, files: dict) -> list[np.ndarray]:
    """Each party's columns of the aligned customers, in the aligned order (simulation only)."""
    ids = [normalise_id(bank.ids[i]) for i in guest_run.alignment.guest_rows]
    blocks = [bank.features[guest_run.alignment.guest_rows]]
    for name in HOSTS:
        table = read_table(files[name].path, ID)
        where = {normalise_id(k): i for i, k in enumerate(table.ids)}
        blocks.append(table.features[[where[k] for k in ids]])
    return blocks


def baselines(
    guest_run: GuestRun, bank: PartyTable, files: dict, settings: VerticalSettings
) -> dict:
    """The same models on the joined table in one place, and on the bank's columns alone."""
    from sklearn.ensemble import HistGradientBoostingClassifier  # lazy: baselines only
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    assert bank.labels is not None
    blocks = _joined(guest_run, bank, files)
    y = bank.labels[guest_run.alignment.guest_rows]
    tr, va = guest_run.split
    out: dict[str, dict] = {}
    cfg = settings.boost
    binnings = [fit_bins(b[tr], cfg.n_bins) for b in blocks]
    bins = [np.hstack([bn.transform(b[rows]) for bn, b in zip(binnings, blocks, strict=True)])
            for rows in (tr, va)]  # fmt: skip
    widths = [b.shape[1] for b in blocks]
    pooled = gbdt.fit(bins[0], y[tr], cfg, widths)
    p_pooled = pooled.predict_proba(bins[1])
    alone = gbdt.fit(binnings[0].transform(blocks[0][tr]), y[tr], cfg)
    joined = np.hstack(blocks)
    hgb = HistGradientBoostingClassifier(
        max_iter=cfg.n_trees, max_depth=cfg.max_depth, learning_rate=cfg.learning_rate,
        random_state=0,
    )  # fmt: skip
    hgb.fit(joined[tr], y[tr])
    out["secureboost"] = {
        "pooled_same_gbdt": auc(y[va], p_pooled),
        "pooled_sklearn_hgb": auc(y[va], hgb.predict_proba(joined[va])[:, 1]),
        "bank_alone": auc(y[va], alone.predict_proba(binnings[0].transform(blocks[0][va]))),
    }
    secure = guest_run.predictions.get("secureboost")
    if secure is not None:
        diff = float(np.max(np.abs(secure - p_pooled)))
        out["secureboost"]["pooled_predictions_max_abs_diff"] = diff
    lr_host = 1 + HOSTS.index(settings.lr_host or HOSTS[0])
    for key, cols in (("pooled_sklearn_lr", [0, lr_host]), ("bank_alone", [0])):
        xs = np.hstack([blocks[c] for c in cols])
        scaler = StandardScaler().fit(xs[tr])
        model = LogisticRegression(max_iter=1000).fit(scaler.transform(xs[tr]), y[tr])
        out.setdefault("hetero_lr", {})[key] = auc(
            y[va], model.predict_proba(scaler.transform(xs[va]))[:, 1]
        )
    return out


def plot(report: dict, path: Path) -> None:
    import matplotlib  # lazy: matplotlib (≈0.4 s) only to draw report.png

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: after the Agg backend is chosen

    fig, (a1, a2, a3) = plt.subplots(
        1, 3, figsize=(18, 4.4), constrained_layout=True, width_ratios=[1.3, 1, 1]
    )
    labels, values, colours = [], [], []
    names = {
        "pooled_same_gbdt": "same GBDT, joined table",
        "pooled_sklearn_hgb": "sklearn HGB, joined",
        "pooled_sklearn_lr": "sklearn LR, joined",
        "bank_alone": "bank alone",
    }
    for model, title in (("secureboost", "SecureBoost"), ("hetero_lr", "hetero LR")):
        if model not in report["models"]:
            continue
        labels.append(f"{title}\n(federated)")
        values.append(report["models"][model]["auc"])
        colours.append("C0")
        for key, value in report["baselines"].get(model, {}).items():
            if key in names:
                labels.append(f"{title}: {names[key]}")
                values.append(value)
                colours.append("C7" if key == "bank_alone" else "C1")
    a1.barh(range(len(values)), values, color=colours)
    a1.set_yticks(range(len(values)), labels, fontsize=8)
    a1.invert_yaxis()
    a1.set(xlim=(0.5, max(values) + 0.05), xlabel="ROC AUC (held-out aligned customers)",
           title="quality")  # fmt: skip
    for i, v in enumerate(values):
        a1.text(v + 0.003, i, f"{v:.3f}", va="center", fontsize=8)
    traffic = report["traffic"]
    parties = list(traffic["bytes_sent"])
    sent = [traffic["bytes_sent"][p] / 2**20 for p in parties]
    got = [traffic["bytes_received"][p] / 2**20 for p in parties]
    a2.bar(np.arange(len(parties)) - 0.2, sent, 0.4, label="bank → party")
    a2.bar(np.arange(len(parties)) + 0.2, got, 0.4, label="party → bank")
    a2.set_xticks(range(len(parties)), parties)
    a2.set(ylabel="MiB (sealed)", title="traffic")
    a2.legend(fontsize=8)
    _importance_panel(a3, report)
    fig.suptitle(
        "veil demo vertical: bank + shop + agency, one credit-risk model, no pooled columns"
    )
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _importance_panel(ax, report: dict) -> None:
    """Each party's share of what each model learned (SecureBoost: split gain; LR: Shapley)."""
    models = [m for m in report["models"] if "importance" in report["models"][m]]
    if not models:
        ax.set_axis_off()
        return
    shares = [report["models"][m]["importance"]["parties"] for m in models]
    names = sorted({p["name"] for table in shares for p in table})
    width = 0.8 / max(1, len(models))
    for i, model in enumerate(models):
        share = {p["name"]: p["value"] for p in report["models"][model]["importance"]["parties"]}
        ax.bar(np.arange(len(names)) + (i - (len(models) - 1) / 2) * width,
               [100 * share.get(n, 0.0) for n in names], width, label=model)  # fmt: skip
    ax.set_xticks(range(len(names)), names)
    ax.set(ylabel="% of what the model learned", title="importance by party")
    ax.legend(fontsize=8)


def summarise(report: dict) -> None:
    a = report["alignment"]
    console.print(
        f"  aligned {a['rows']:,} shared customers by PSI ({a['per_host']}) in {a['seconds']} s"
    )
    for model, base in report["baselines"].items():
        if model not in report["models"]:
            continue
        m = report["models"][model]
        pooled = base.get("pooled_same_gbdt", base.get("pooled_sklearn_lr"))
        console.print(f"  {model}: AUC {m['auc']:.4f} (joined table {pooled:.4f}, bank alone "
                      f"{base['bank_alone']:.4f}); {m['seconds']} s, {m['bytes'] / 2**20:.1f} MiB, "
                      f"resumed {m['resumed']}×")  # fmt: skip
    for model, result in report["models"].items():
        imp = result.get("importance")
        if imp:
            parties = ", ".join(f"{p['name']} {100 * p['value']:.0f} %" for p in imp["parties"])
            top = ", ".join(f"{f['name']} {100 * f['value']:.0f} %" for f in imp["features"][:3])
            console.print(f"  {model} learned from: {parties}; the bank's top columns: {top}")
    if "pooled_predictions_max_abs_diff" in report["baselines"].get("secureboost", {}):
        diff = report["baselines"]["secureboost"]["pooled_predictions_max_abs_diff"]
        console.print(f"  SecureBoost vs the same GBDT on the joined table: max |Δp| = {diff:.1e}")
    console.print(f"  done in {report['seconds']} s; report.json and report.png written")
