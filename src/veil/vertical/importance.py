"""What the vertical model learned from whom: importance per party, and per feature where
the feature lives (issue 17, item 4; docs/vertical.md, *Importance*).

* **SecureBoost**: each split's gain (the loss reduction the label party computes to choose
  it) summed per (party, feature) over all trees (as FATE and XGBoost's ``total_gain``). The
  label party sees its own features by name and every host's total; each host receives the
  totals of its own features (by index: it alone knows their names) and the party totals.
* **Hetero LR**: party-level Shapley values of the logit (Wang, Wu and Gong, *Interpret
  Federated Learning with Shapley Values*, 2019). The logit is additive over parties, so with
  the training rows' mean as the background, party P's Shapley value on a row is exactly
  φ_P = w_P·(x_P − E[x_P]): the label party's from its own columns, a host's from its partial
  score z_h (standardised columns: E = 0), which federated prediction already gives the label
  party on the rows it scores. Importance = mean |φ| over the validation rows; each party
  gets its own per-feature values, by name, from its own columns.

Values are shares of the whole (they sum to 1 over parties), so parties compare like with like.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from veil.vertical import wire
from veil.vertical.channel import Channel, check_reply
from veil.vertical.gbdt import Tree
from veil.vertical.hetero_lr import HeteroLRModel
from veil.vertical.secureboost import SecureBoostModel
from veil.vertical.shares import LR_METHOD, SB_METHOD, ranked


def boost_gains(trees: Sequence[Tree]) -> dict[tuple[int, int], tuple[float, int]]:
    """(party, feature) -> (summed gain, number of splits) over every tree."""
    out: dict[tuple[int, int], tuple[float, int]] = {}
    for tree in trees:
        for node in np.flatnonzero(tree.party >= 0):
            key = (int(tree.party[node]), int(tree.feature[node]))
            gain, count = out.get(key, (0.0, 0))
            out[key] = (gain + float(tree.gain[node]), count + 1)
    return out


def boost_importance(
    channel: Channel, model: SecureBoostModel, guest_names: Sequence[str], guest: str
) -> dict:
    """The label party's view; every host is sent its own features' totals (``sb.importance``)."""
    gains = boost_gains(model.trees)
    parties = [guest, *model.hosts]
    party_gain = np.zeros(len(parties))
    for (party, _), (gain, _) in gains.items():
        party_gain[party] += gain
    total = float(party_gain.sum())
    own = np.zeros(len(guest_names))
    for (party, feature), (gain, _) in gains.items():
        if party == 0:
            own[feature] += gain
    for index, host in enumerate(model.hosts, start=1):
        mine = sorted((f, g, c) for (p, f), (g, c) in gains.items() if p == index)
        reply = channel.call(host, "sb.importance", {
            "feature": np.array([f for f, _, _ in mine], dtype=np.int64),
            "gain": np.array([g / total for _, g, _ in mine], dtype=np.float64),
            "splits": np.array([c for _, _, c in mine], dtype=np.int64),
            "parties": "\n".join(parties),
            "party_share": party_gain / total if total > 0 else party_gain,
        })  # fmt: skip
        check_reply(reply, set())
    return {
        "method": SB_METHOD,
        "features": ranked(guest_names, own, total),
        "parties": ranked(parties, party_gain, total),
    }


def lr_importance(
    channel: Channel,
    model: HeteroLRModel,
    guest_x: np.ndarray,
    host_rows: np.ndarray,
    guest_names: Sequence[str],
    guest: str,
) -> dict:
    """Party-level Shapley values on the rows given (the validation rows)."""
    phi = (np.asarray(guest_x, dtype=np.float64) - model.mean) / model.scale * model.weights
    reply = channel.call(model.host, "lr.predict", {"rows": host_rows.astype(np.int64)})
    check_reply(reply, {"scores"})
    z_h = wire.need_array(reply, "scores", "float64", (len(host_rows),))
    party = np.array([np.abs(phi.sum(axis=1)).mean(), np.abs(z_h).mean()])
    total = float(party.sum())
    parties = [guest, model.host]
    reply = channel.call(model.host, "lr.importance", {
        "rows": host_rows.astype(np.int64), "parties": "\n".join(parties),
        "party_share": party / total if total > 0 else party,
    })  # fmt: skip
    check_reply(reply, set())
    return {
        "method": LR_METHOD,
        "features": ranked(guest_names, np.abs(phi).mean(axis=0), total),
        "parties": ranked(parties, party, total),
    }
