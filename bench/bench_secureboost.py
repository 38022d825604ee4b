"""SecureBoost (``veil.vertical.secureboost``): what the encryption costs over the plain GBDT.

A synthetic table (``make_classification``, 5,000 rows, 30 columns: 10 with the label
party and 10 at each of two hosts) is split 4,000 / 1,000; SecureBoost trains 10 trees of
depth 4 (32 bins) in one process over the sealed in-process channel, for Paillier and OU
(2048-bit keys). Reported per scheme: wall seconds of training and per tree, bytes both ways
between the label party and the hosts (sealed messages as sent), federated prediction
seconds, and the held-out AUC; against the plain GBDT on the joined binned table (same
model: the predictions' largest difference is reported) and scikit-learn's
HistGradientBoostingClassifier with the same depth, trees and learning rate.

Run: ``python -m bench secureboost``; ``VEIL_BENCH_QUICK=1`` shrinks to 600 rows, 2 trees.
"""

from __future__ import annotations

import itertools
import time

import numpy as np
from sklearn.datasets import make_classification
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from bench.common import quick, write_result
from veil.vertical.binning import fit_bins
from veil.vertical.channel import HostData
from veil.vertical.gbdt import GBDTConfig, fit
from veil.vertical.local import in_process
from veil.vertical.secureboost import SecureBoostHost, predict_proba, train_secureboost

WIDTHS = (10, 10, 10)


def _data(rows: int) -> tuple[list[np.ndarray], np.ndarray]:
    x, y = make_classification(
        n_samples=rows, n_features=sum(WIDTHS), n_informative=12, flip_y=0.05, random_state=0
    )
    edges = np.cumsum((0, *WIDTHS))
    return [x[:, a:b] for a, b in itertools.pairwise(edges)], y


def _secure(scheme: str, parts, y, train, test, config: GBDTConfig) -> tuple[dict, np.ndarray]:
    hosts = [
        HostData(
            f"host{i}", [str(r) for r in range(len(y))], x, [f"x{j}" for j in range(x.shape[1])]
        )
        for i, x in enumerate(parts[1:], start=1)
    ]
    for host in hosts:
        host.aligned = train
    channel, _ = in_process(hosts, {"sb": SecureBoostHost})
    t0 = time.perf_counter()
    model = train_secureboost(channel, parts[0][train], y[train], config, scheme=scheme)
    train_s = time.perf_counter() - t0
    traffic = channel.traffic.total()
    for host in hosts:
        host.aligned = test
    t0 = time.perf_counter()
    p = predict_proba(channel, model, parts[0][test])
    predict_s = time.perf_counter() - t0
    return {
        "train_s": round(train_s, 2),
        "per_tree_s": round(train_s / config.n_trees, 2),
        "train_bytes": traffic,
        "train_mib": round(traffic / 2**20, 1),
        "messages": channel.traffic.messages,
        "predict_s": round(predict_s, 3),
        "auc": round(float(roc_auc_score(y[test], p)), 4),
    }, p


def main() -> None:
    rows, trees = (600, 2) if quick() else (5000, 10)
    config = GBDTConfig(n_trees=trees, max_depth=4, learning_rate=0.3, n_bins=32)
    parts, y = _data(rows)
    train, test = np.arange(rows * 4 // 5), np.arange(rows * 4 // 5, rows)
    binnings = [fit_bins(x[train], config.n_bins) for x in parts]
    bins = np.hstack([b.transform(x) for b, x in zip(binnings, parts, strict=True)])
    t0 = time.perf_counter()
    plain = fit(bins[train], y[train], config, list(WIDTHS))
    plain_s = time.perf_counter() - t0
    plain_p = plain.predict_proba(bins[test])
    joined = np.hstack(parts)
    t0 = time.perf_counter()
    hgb = HistGradientBoostingClassifier(
        max_iter=trees, max_depth=4, learning_rate=0.3, max_bins=32, early_stopping=False
    ).fit(joined[train], y[train])
    hgb_s = time.perf_counter() - t0
    result: dict = {
        "rows_train": len(train),
        "rows_test": len(test),
        "features": dict(zip(("guest", "host1", "host2"), WIDTHS, strict=True)),
        "config": {"n_trees": trees, "max_depth": 4, "learning_rate": 0.3, "n_bins": 32},
        "plain": {
            "train_s": round(plain_s, 3),
            "auc": round(float(roc_auc_score(y[test], plain_p)), 4),
        },
        "sklearn_hgb": {
            "train_s": round(hgb_s, 3),
            "auc": round(float(roc_auc_score(y[test], hgb.predict_proba(joined[test])[:, 1])), 4),
        },
    }
    for scheme in ("ou", "paillier"):
        figures, p = _secure(scheme, parts, y, train, test, config)
        figures["max_abs_diff_vs_plain"] = float(np.max(np.abs(p - plain_p)))
        result[scheme] = figures
        print(scheme, figures)
    print("plain", result["plain"], "hgb", result["sklearn_hgb"])
    print(write_result("vertical_secureboost", result))


if __name__ == "__main__":
    main()
