"""The yardsticks of a vertical run: the same models on the joined table in one place (what
the federation avoids), and on the label party's columns alone (what it gains).

Only a simulation can build the joined table — it holds every party's file. ``veil train
--vertical`` and the demos do; a real label party (``veil party train``) cannot, and reports
no baseline.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from veil.vertical import gbdt
from veil.vertical.binning import fit_bins
from veil.vertical.ids import normalise_id
from veil.vertical.tables import PartyTable
from veil.vertical.training import GuestRun, VerticalSettings, auc


def joined_blocks(
    run: GuestRun, guest: PartyTable, hosts: Sequence[PartyTable]
) -> list[np.ndarray]:
    """Each party's columns of the aligned customers, in the aligned order."""
    ids = [normalise_id(guest.ids[i]) for i in run.alignment.guest_rows]
    blocks = [guest.features[run.alignment.guest_rows]]
    for table in hosts:
        where = {normalise_id(k): i for i, k in enumerate(table.ids)}
        blocks.append(table.features[[where[k] for k in ids]])
    return blocks


def boost_baselines(
    blocks: list[np.ndarray], y: np.ndarray, split: tuple, config: gbdt.GBDTConfig
) -> tuple[dict, np.ndarray]:
    """Pooled (the same GBDT, same bins; scikit-learn's HGB) and label-party-alone AUCs, and
    the pooled GBDT's validation predictions (SecureBoost must equal them)."""
    from sklearn.ensemble import HistGradientBoostingClassifier  # lazy: baselines only

    tr, va = split
    binnings = [fit_bins(b[tr], config.n_bins) for b in blocks]
    bins = [np.hstack([bn.transform(b[rows]) for bn, b in zip(binnings, blocks, strict=True)])
            for rows in (tr, va)]  # fmt: skip
    pooled = gbdt.fit(bins[0], y[tr], config, [b.shape[1] for b in blocks])
    p_pooled = pooled.predict_proba(bins[1])
    alone = gbdt.fit(binnings[0].transform(blocks[0][tr]), y[tr], config)
    joined = np.hstack(blocks)
    hgb = HistGradientBoostingClassifier(
        max_iter=config.n_trees, max_depth=config.max_depth, learning_rate=config.learning_rate,
        random_state=0,
    )  # fmt: skip
    hgb.fit(joined[tr], y[tr])
    return {
        "pooled": auc(y[va], p_pooled),
        "pooled_sklearn_hgb": auc(y[va], hgb.predict_proba(joined[va])[:, 1]),
        "label_party_alone": auc(y[va], alone.predict_proba(binnings[0].transform(blocks[0][va]))),
    }, p_pooled


def lr_baselines(blocks: list[np.ndarray], y: np.ndarray, split: tuple) -> dict:
    """scikit-learn's logistic regression on the label party's and the LR host's columns
    joined (``blocks[0]``, ``blocks[1]``), and on the label party's alone."""
    from sklearn.linear_model import LogisticRegression  # lazy: baselines only
    from sklearn.preprocessing import StandardScaler

    tr, va = split
    out = {}
    for key, parts in (("pooled", blocks[:2]), ("label_party_alone", blocks[:1])):
        xs = np.hstack(parts)
        scaler = StandardScaler().fit(xs[tr])
        model = LogisticRegression(max_iter=1000).fit(scaler.transform(xs[tr]), y[tr])
        out[key] = auc(y[va], model.predict_proba(scaler.transform(xs[va]))[:, 1])
    return out


def baselines(
    run: GuestRun, guest: PartyTable, hosts: dict[str, PartyTable], settings: VerticalSettings
) -> dict:
    """Both models' baselines on the run's split; SecureBoost's distance from the pooled GBDT."""
    assert guest.labels is not None
    names = list(hosts)
    blocks = joined_blocks(run, guest, [hosts[n] for n in names])
    y = guest.labels[run.alignment.guest_rows]
    out: dict[str, dict] = {}
    if "secureboost" in run.models:
        out["secureboost"], p_pooled = boost_baselines(blocks, y, run.split, settings.boost)
        diff = float(np.max(np.abs(run.predictions["secureboost"] - p_pooled)))
        out["secureboost"]["pooled_predictions_max_abs_diff"] = diff
    if "hetero_lr" in run.models:
        host = names.index(settings.lr_host or names[0])
        out["hetero_lr"] = lr_baselines([blocks[0], blocks[1 + host]], y, run.split)
    return out
