"""Per-party quantile binning: each party turns its own columns into small bin indices.

SecureBoost sums gradients per bin, so every party bins its own features before training
and keeps the cut points to itself: the label party learns a split's *bin index*, never
the value it stands for. A row goes to bin ``b`` of a feature when
``cuts[b - 1] < x <= cuts[b]``, so "bin ≤ b" and "x ≤ cuts[b]" pick the same rows — the
owner can answer a split on raw values at prediction time.

Bin indices are int8 and C-contiguous because that is the order map HEU's
``batch_feature_wise_bucket_sum`` takes; hence at most 127 bins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from veil.errors import ConfigError, DataError

DEFAULT_BINS = 32
#: HEU's order map is int8
MAX_BINS = 127


@dataclass(frozen=True)
class Binning:
    """One party's cut points, one increasing float64 array (≤ n_bins − 1 long) per feature."""

    cuts: tuple[np.ndarray, ...]
    n_bins: int

    @property
    def n_features(self) -> int:
        return len(self.cuts)

    def transform(self, features: np.ndarray) -> np.ndarray:
        """Bin indices (int8, C-contiguous, rows × features) of ``features``."""
        x = _check(features, self.n_features)
        out = np.empty(x.shape, dtype=np.int8)
        for j, cuts in enumerate(self.cuts):
            out[:, j] = np.searchsorted(cuts, x[:, j], side="left")
        return out

    def threshold(self, feature: int, bin_index: int) -> float:
        """The raw value a split "bin ≤ bin_index" stands for (rows with x ≤ it go left)."""
        if not 0 <= feature < self.n_features:
            raise DataError(f"no feature {feature}")
        cuts = self.cuts[feature]
        if not 0 <= bin_index < len(cuts):
            raise DataError(f"feature {feature} has no cut after bin {bin_index}")
        return float(cuts[bin_index])


def fit_bins(features: np.ndarray, n_bins: int = DEFAULT_BINS) -> Binning:
    """Quantile cut points of each column (fewer when a column has fewer distinct values).

    A column with at most ``n_bins`` distinct values gets one bin per value; otherwise the
    cuts are the column's ``k / n_bins`` quantiles (interpolated, deduplicated). A cut at or
    above the column's maximum would leave an empty last bin, so it is dropped.
    """
    check_bins(n_bins)
    x = _check(features, None)
    if len(x) == 0:
        raise DataError("cannot bin an empty table")
    cuts = []
    for column in x.T:
        values = np.unique(column)
        if len(values) <= n_bins:
            cut = values[:-1]
        else:
            cut = np.unique(np.quantile(column, np.arange(1, n_bins) / n_bins))
            cut = cut[cut < values[-1]]
        cuts.append(np.ascontiguousarray(cut, dtype=np.float64))
    return Binning(tuple(cuts), n_bins)


def bin_features(features: np.ndarray, n_bins: int = DEFAULT_BINS) -> tuple[np.ndarray, Binning]:
    """Fit the cut points on ``features`` and return its bin indices with them."""
    binning = fit_bins(features, n_bins)
    return binning.transform(features), binning


def check_bins(n_bins: int) -> None:
    if not isinstance(n_bins, int) or not 2 <= n_bins <= MAX_BINS:
        raise ConfigError(f"n_bins must be an integer in 2..{MAX_BINS}")


def _check(features: np.ndarray, n_features: int | None) -> np.ndarray:
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise DataError("features must be a rows × columns matrix")
    if n_features is not None and x.shape[1] != n_features:
        raise DataError(f"expected {n_features} feature columns, got {x.shape[1]}")
    if not np.all(np.isfinite(x)):
        raise DataError("features hold NaN or infinity")
    return x
