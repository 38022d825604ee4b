"""Importance tables: values as shares of the whole, ranked (docs/vertical.md, *Importance*).

Shared by the label party's side (:mod:`veil.vertical.importance`) and the hosts' roles,
which build their own tables from the totals the label party sends them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from veil.errors import FormatError
from veil.vertical.channel import HostData
from veil.vertical.wire import Fields, need, need_array

SB_METHOD = "total split gain (SecureBoost), share of all gain"
LR_METHOD = "party-level Shapley values of the logit (Wang et al. 2019): mean |φ|, share"


def ranked(names: Sequence[str], values: np.ndarray, total: float) -> list[dict]:
    """[{name, value}] largest first; ``value`` is the share ``values / total``."""
    rows = [{"name": n, "value": float(v / total) if total > 0 else 0.0}
            for n, v in zip(names, values, strict=True)]  # fmt: skip
    return sorted(rows, key=lambda r: -r["value"])


def host_boost_table(data: HostData, fields: Fields) -> dict:
    """A host's table from ``sb.importance``: its features by name, the parties' totals."""
    feature = need_array(fields, "feature", "int64", (None,))
    gain = need_array(fields, "gain", "float64", (len(feature),))
    need_array(fields, "splits", "int64", (len(feature),))
    names = str(need(fields, "parties", str)).split("\n")
    share = need_array(fields, "party_share", "float64", (len(names),))
    if len(np.unique(feature)) != len(feature) or np.any(feature < 0):
        raise FormatError("importance names a feature twice or a negative index")
    if np.any(feature >= len(data.feature_names)) or np.any(gain < 0) or np.any(share < 0):
        raise FormatError("importance out of range")
    values = np.zeros(len(data.feature_names))
    values[feature] = gain
    return {
        "method": SB_METHOD,
        "features": ranked(data.feature_names, values, 1.0),
        "parties": ranked(names, share, 1.0),
    }


def host_lr_table(data: HostData, std: np.ndarray, weights: np.ndarray, fields: Fields) -> dict:
    """A host's per-feature mean |w_j x̂_j| on the rows asked, as shares of the parties' whole."""
    rows = need_array(fields, "rows", "int64", (None,))
    names = str(need(fields, "parties", str)).split("\n")
    share = need_array(fields, "party_share", "float64", (len(names),))
    if rows.size == 0 or rows.min() < 0 or rows.max() >= len(std) or np.any(share < 0):
        raise FormatError("importance rows or shares out of range")
    phi = np.abs(std[rows] * weights).mean(axis=0)
    mine = np.abs(std[rows] @ weights).mean()
    scale = float(share[names.index(data.name)]) / mine if data.name in names and mine > 0 else 0
    return {
        "method": LR_METHOD,
        "features": ranked(data.feature_names, phi * scale, 1.0),
        "parties": ranked(names, share, 1.0),
    }
