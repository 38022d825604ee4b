"""A plain histogram GBDT for binary logistic loss on binned features.

It is both the reference SecureBoost must equal ("the same GBDT trained on the joined table
in one place") and the tree grower SecureBoost runs: the grower asks *histogram sources*
for per-bin sums and row partitions, and a source is either local (:class:`LocalSource`,
binned columns in this process) or, in :mod:`veil.vertical.secureboost`, another party
answering over encrypted gradients. Same grower, same arithmetic: lossless by construction,
and the tests check the federated sources return the very same integers.

Exactness. Gradients ``g = p − y`` and hessians ``h = p(1 − p)`` are rounded once to
fixed point, ``round(x · 2^40)`` as int64, and every histogram, node total and
subtraction after that is an exact integer sum (|Σg| ≤ n · 2^40 < 2^63 for n < 2^21), so
the result does not depend on summation order or on who summed. The rounding moves each
gradient by at most 2^-41 ≈ 4.5e-13. Histograms are cumulative over bins (``bin ≤ b``),
the form HEU's bucket sum returns.

Growth is level-wise to ``max_depth``; at a node the gain of "bin ≤ b goes left" is
``½[G_L²/(H_L+λ) + G_R²/(H_R+λ) − G²/(H+λ)] − γ``, a split needs both children's
hessian ≥ ``min_child_weight`` and a gain > 0, and a leaf's value is
``−learning_rate · G/(H+λ)``. Ties go to the first candidate in (party, feature, bin)
order: on the joined table that is the lowest party index, then feature index, then bin.
Of two siblings only the one with fewer rows is summed; the other is the parent's
histogram minus it (exact on integers).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Protocol

import numpy as np

from veil.errors import ConfigError, DataError, FormatError
from veil.vertical.binning import DEFAULT_BINS, check_bins
from veil.vertical.wire import Fields, need_array

SCALE_BITS = 40
MAX_ROWS = 1 << 21
LEAF = -1


@dataclass(frozen=True)
class GBDTConfig:
    """Hyper-parameters shared by the plain GBDT and SecureBoost."""

    n_trees: int = 10
    max_depth: int = 3
    learning_rate: float = 0.3
    reg_lambda: float = 1.0
    min_child_weight: float = 1.0
    min_split_gain: float = 0.0
    n_bins: int = DEFAULT_BINS

    def __post_init__(self) -> None:
        check_bins(self.n_bins)
        if not (isinstance(self.n_trees, int) and self.n_trees >= 1):
            raise ConfigError("n_trees must be a positive integer")
        if not (isinstance(self.max_depth, int) and 1 <= self.max_depth <= 16):
            raise ConfigError("max_depth must be an integer in 1..16")
        if not 0 < self.learning_rate <= 1:
            raise ConfigError("learning_rate must be in (0, 1]")
        if self.reg_lambda < 0 or self.min_split_gain < 0:
            raise ConfigError("reg_lambda and min_split_gain must be ≥ 0")
        if not self.min_child_weight > 0:
            raise ConfigError("min_child_weight must be > 0 (it keeps children non-empty)")

    def to_fields(self) -> Fields:
        return {f"cfg_{k}": v for k, v in asdict(self).items()}

    @classmethod
    def from_fields(cls, data: Fields) -> GBDTConfig:
        kinds = {f.name: f.type for f in fields(cls)}
        values = {k: data[f"cfg_{k}"] for k in kinds if f"cfg_{k}" in data}
        if len(values) != len(kinds):
            raise DataError("stored config is incomplete")
        return cls(**{k: float(v) if kinds[k] == "float" else v for k, v in values.items()})


#: a tree's node arrays and their dtypes
TREE_ARRAYS = {
    "party": np.int32,
    "feature": np.int32,
    "bin": np.int32,
    "split_id": np.int64,
    "left": np.int32,
    "right": np.int32,
    "value": np.float64,
    "gain": np.float64,
}


@dataclass
class Tree:
    """One tree as parallel arrays indexed by node id (0 is the root).

    ``party`` is −1 at a leaf; ``feature`` is the owning party's own column index and ``bin``
    the split's bin; ``split_id`` is the owner's lookup key (−1 when the label party owns it).
    ``value`` is the leaf's learning-rate-scaled weight; ``gain`` the split's loss reduction
    (0 at a leaf), which the label party computes anyway and feature importance sums.
    """

    party: np.ndarray
    feature: np.ndarray
    bin: np.ndarray
    split_id: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    gain: np.ndarray


def trees_to_fields(trees: Sequence[Tree]) -> Fields:
    """Trees as wire fields: each node array concatenated, plus every tree's size."""
    out: Fields = {"tree_sizes": np.array([len(t.party) for t in trees], dtype=np.int64)}
    for name, dtype in TREE_ARRAYS.items():
        parts = [getattr(t, name) for t in trees]
        out[f"tree_{name}"] = np.concatenate(parts).astype(dtype) if parts else np.empty(0, dtype)
    return out


def trees_from_fields(data: Fields) -> list[Tree]:
    """The inverse of :func:`trees_to_fields`; links are checked to stay inside each tree."""
    sizes = need_array(data, "tree_sizes", "int64", (None,))
    if np.any(sizes < 1):
        raise FormatError("a stored tree is empty")
    total = int(sizes.sum())
    arrays = {
        name: need_array(data, f"tree_{name}", np.dtype(dtype).name, (total,))
        for name, dtype in TREE_ARRAYS.items()
    }
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    trees = []
    for a, b in itertools.pairwise(bounds):
        tree = Tree(**{name: arr[a:b].copy() for name, arr in arrays.items()})
        internal = tree.party >= 0
        kids = np.concatenate([tree.left[internal], tree.right[internal]])
        if np.any(kids <= 0) or np.any(kids >= b - a):
            raise FormatError("stored tree links point outside the tree")
        trees.append(tree)
    return trees


class HistogramSource(Protocol):
    """One party's columns as the grower sees them."""

    n_features: int

    def begin_tree(self, tree: int, g: np.ndarray, h: np.ndarray) -> None:
        """A new tree starts with these fixed-point gradients and hessians (int64)."""

    def histograms(self, row_node: np.ndarray, nodes: Sequence[int]) -> np.ndarray:
        """Cumulative sums, int64 (len(nodes), n_features, n_bins, 2) [..., 0]=G, [..., 1]=H,
        of the rows with ``row_node == node``, for each node."""
        ...

    def split(
        self, row_node: np.ndarray, node: int, feature: int, bin_index: int
    ) -> tuple[np.ndarray, int]:
        """Which rows of ``node`` (in row order) have ``bin ≤ bin_index``, and a split id."""
        ...


class LocalSource:
    """Binned columns held here: the label party's own, or all of them for the plain GBDT."""

    def __init__(self, bins: np.ndarray, n_bins: int) -> None:
        if bins.dtype != np.int8 or bins.ndim != 2:
            raise DataError("bins must be an int8 rows × features matrix")
        if bins.size and (bins.min() < 0 or bins.max() >= n_bins):
            raise DataError(f"bin indices must lie in 0..{n_bins - 1}")
        self.bins, self.n_bins, self.n_features = bins, n_bins, bins.shape[1]
        self._gh = np.zeros((len(bins), 2), dtype=np.int64)

    def begin_tree(self, tree: int, g: np.ndarray, h: np.ndarray) -> None:
        self._gh = np.stack([g, h], axis=1)

    def histograms(self, row_node: np.ndarray, nodes: Sequence[int]) -> np.ndarray:
        return histograms(self.bins, self._gh, row_node, nodes, self.n_bins)

    def split(
        self, row_node: np.ndarray, node: int, feature: int, bin_index: int
    ) -> tuple[np.ndarray, int]:
        rows = np.flatnonzero(row_node == node)
        return self.bins[rows, feature] <= bin_index, -1


def histograms(
    bins: np.ndarray, gh: np.ndarray, row_node: np.ndarray, nodes: Sequence[int], n_bins: int
) -> np.ndarray:
    """Exact cumulative (G, H) histograms of ``nodes``: int64 (nodes, features, bins, 2)."""
    n_features = bins.shape[1]
    slot = np.full(int(max(row_node.max(), max(nodes))) + 1, -1, dtype=np.int64)
    slot[np.asarray(nodes)] = np.arange(len(nodes))
    row_slot = slot[row_node]
    rows = np.flatnonzero(row_slot >= 0)
    cells = (row_slot[rows, None] * n_features + np.arange(n_features)) * n_bins + bins[rows]
    out = np.zeros((len(nodes) * n_features * n_bins, 2), dtype=np.int64)
    np.add.at(out, cells.ravel(), np.repeat(gh[rows], n_features, axis=0))
    return np.cumsum(out.reshape(len(nodes), n_features, n_bins, 2), axis=2)


def fixed_point(values: np.ndarray) -> np.ndarray:
    """``round(values · 2^SCALE_BITS)`` as int64: the one rounding in the whole pipeline."""
    return np.rint(np.ldexp(values, SCALE_BITS)).astype(np.int64)


def base_score(y: np.ndarray) -> float:
    """Log-odds of the mean label (the first prediction of every row)."""
    mean = float(np.mean(y))
    if not 0 < mean < 1:
        raise DataError("labels hold one class only")
    return float(np.log(mean / (1 - mean)))


def check_labels(y: np.ndarray, n_rows: int) -> np.ndarray:
    y = np.asarray(y)
    if y.shape != (n_rows,) or not np.all((y == 0) | (y == 1)):
        raise DataError(f"labels must be {n_rows} values of 0 or 1")
    if not 0 < n_rows < MAX_ROWS:
        raise DataError(f"need between 1 and {MAX_ROWS - 1} rows")
    return y.astype(np.float64)


def gradients(score: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-point gradient and hessian of the logistic loss at raw scores ``score``."""
    p = 0.5 * (1.0 + np.tanh(0.5 * score))
    return fixed_point(p - y), fixed_point(p * (1.0 - p))


def sigmoid(score: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * score))


def best_split(
    hists: Sequence[np.ndarray], total: np.ndarray, config: GBDTConfig
) -> tuple[int, int, int, float] | None:
    """The best (party, feature, bin, gain) of one node, or None when no split gains.

    ``hists[p]`` is party p's cumulative (features, bins, 2) histogram of the node and
    ``total`` its exact (G, H). The first maximum in (party, feature, bin) order wins.
    """
    scale, lam = 2.0**-SCALE_BITS, config.reg_lambda
    g_all, h_all = float(total[0]) * scale, float(total[1]) * scale
    parent = g_all * g_all / (h_all + lam)
    gains, shapes = [], []
    for hist in hists:  # one per party
        left = hist[:, :-1, :]
        right = total - left
        gl, hl = left[..., 0] * scale, left[..., 1] * scale
        gr, hr = right[..., 0] * scale, right[..., 1] * scale
        with np.errstate(divide="ignore", invalid="ignore"):  # λ = 0 on an empty side
            gain = (
                0.5 * (gl * gl / (hl + lam) + gr * gr / (hr + lam) - parent) - config.min_split_gain
            )
        valid = (hl >= config.min_child_weight) & (hr >= config.min_child_weight) & (gain > 0)
        gains.append(np.where(valid, gain, -np.inf).ravel())
        shapes.append(left.shape[:2])
    flat = np.concatenate(gains) if gains else np.empty(0)
    if flat.size == 0 or not np.isfinite(flat.max()):
        return None
    best = int(np.argmax(flat))
    gain = float(flat[best])
    for party, (n_features, n_cuts) in enumerate(shapes):
        if best < n_features * n_cuts:
            return party, best // n_cuts, best % n_cuts, gain
        best -= n_features * n_cuts
    raise AssertionError("unreachable")


def node_totals(gh: np.ndarray, row_node: np.ndarray, n_nodes: int) -> np.ndarray:
    """Exact (G, H) of every node, int64 (n_nodes, 2)."""
    out = np.zeros((n_nodes, 2), dtype=np.int64)
    np.add.at(out, row_node, gh)
    return out


class _Growth:
    """The growing tree: node arrays as lists, rows' current node, kept histograms."""

    def __init__(self, n_rows: int) -> None:
        self.party: list[int] = [LEAF]
        self.feature: list[int] = [-1]
        self.bin: list[int] = [-1]
        self.split_id: list[int] = [-1]
        self.left: list[int] = [-1]
        self.right: list[int] = [-1]
        self.parent: list[int] = [-1]
        self.gain: list[float] = [0.0]
        self.row_node = np.zeros(n_rows, dtype=np.int32)
        self.hist: dict[int, list[np.ndarray]] = {}

    def split(
        self, node: int, choice: tuple[int, int, int, float], split_id: int, goes_left: np.ndarray
    ) -> None:
        rows = np.flatnonzero(self.row_node == node)
        if goes_left.shape != rows.shape or goes_left.dtype != np.bool_:
            raise DataError("a split's partition does not match the node's rows")
        left, right = len(self.party), len(self.party) + 1
        for _ in range(2):
            for column in (
                self.party,
                self.feature,
                self.bin,
                self.split_id,
                self.left,
                self.right,
            ):
                column.append(LEAF if column is self.party else -1)
            self.parent.append(node)
            self.gain.append(0.0)
        self.party[node], self.feature[node], self.bin[node], self.gain[node] = choice
        self.split_id[node], self.left[node], self.right[node] = split_id, left, right
        self.row_node[rows[goes_left]] = left
        self.row_node[rows[~goes_left]] = right


def _level_histograms(
    sources: Sequence[HistogramSource], grow: _Growth, open_nodes: list[int]
) -> None:
    """Histograms of ``open_nodes``: the smaller of two siblings summed, the other subtracted."""
    counts = np.bincount(grow.row_node, minlength=len(grow.party))
    asked, derived = [], []
    for node in open_nodes:
        parent = grow.parent[node]
        if parent < 0:
            asked.append(node)
        elif node == grow.left[parent]:
            sibling = grow.right[parent]
            small, big = (node, sibling) if counts[node] <= counts[sibling] else (sibling, node)
            asked.append(small)
            derived.append((big, small, parent))
    per_party = [source.histograms(grow.row_node, asked) for source in sources]
    for i, node in enumerate(asked):
        grow.hist[node] = [hist[i] for hist in per_party]
    for big, small, parent in derived:
        grow.hist[big] = [p - s for p, s in zip(grow.hist[parent], grow.hist[small], strict=True)]
        del grow.hist[parent]


def grow_tree(
    sources: Sequence[HistogramSource],
    g: np.ndarray,
    h: np.ndarray,
    config: GBDTConfig,
    tree_index: int = 0,
) -> tuple[Tree, np.ndarray]:
    """Grow one tree on fixed-point ``g``, ``h``; returns it and each row's leaf."""
    for source in sources:
        source.begin_tree(tree_index, g, h)
    gh = np.stack([g, h], axis=1)
    grow = _Growth(len(g))
    open_nodes = [0]
    for _ in range(config.max_depth):
        if not open_nodes:
            break
        _level_histograms(sources, grow, open_nodes)
        totals = node_totals(gh, grow.row_node, len(grow.party))
        next_open = []
        for node in open_nodes:
            choice = best_split(grow.hist[node], totals[node], config)
            if choice is None:
                continue
            goes_left, split_id = sources[choice[0]].split(
                grow.row_node, node, choice[1], choice[2]
            )
            grow.split(node, choice, split_id, goes_left)
            next_open += [grow.left[node], grow.right[node]]
        open_nodes = next_open
    totals = node_totals(gh, grow.row_node, len(grow.party))
    scale = 2.0**-SCALE_BITS
    value = (
        -config.learning_rate * (totals[:, 0] * scale) / (totals[:, 1] * scale + config.reg_lambda)
    )
    value[np.asarray(grow.party) >= 0] = 0.0
    tree = Tree(
        party=np.asarray(grow.party, dtype=np.int32),
        feature=np.asarray(grow.feature, dtype=np.int32),
        bin=np.asarray(grow.bin, dtype=np.int32),
        split_id=np.asarray(grow.split_id, dtype=np.int64),
        left=np.asarray(grow.left, dtype=np.int32),
        right=np.asarray(grow.right, dtype=np.int32),
        value=value,
        gain=np.asarray(grow.gain, dtype=np.float64),
    )
    return tree, grow.row_node.copy()


#: (party, tree indices, node ids, row indices) -> does each row go left?
Directions = Callable[[int, np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def stack(trees: Sequence[Tree], name: str) -> np.ndarray:
    """One node array of every tree, padded into a (trees, largest tree) matrix."""
    width = max((len(t.party) for t in trees), default=1)
    out = np.full((len(trees), width), -1, dtype=TREE_ARRAYS[name])
    for i, tree in enumerate(trees):
        column = getattr(tree, name)
        out[i, : len(column)] = column
    return out


def walk(trees: Sequence[Tree], n_rows: int, directions: Directions) -> np.ndarray:
    """Every row's leaf in every tree, int32 (trees, rows), all trees a level at a time, so
    that each party is asked once per level."""
    party, left, right = (stack(trees, k) for k in ("party", "left", "right"))
    at = np.zeros((len(trees), n_rows), dtype=np.int32)
    for _ in range(party.shape[1]):
        t_idx, rows = np.nonzero(np.take_along_axis(party, at, axis=1) >= 0)
        if len(t_idx) == 0:
            break
        nodes = at[t_idx, rows]
        owner = party[t_idx, nodes]
        for p in np.unique(owner):
            sel = owner == p
            t, n, r = t_idx[sel], nodes[sel], rows[sel]
            goes_left = np.asarray(directions(int(p), t, n, r))
            if goes_left.shape != r.shape or goes_left.dtype != np.bool_:
                raise DataError("a party's directions do not match the rows asked")
            at[t, r] = np.where(goes_left, left[t, n], right[t, n])
    return at


def raw_scores(base: float, trees: Sequence[Tree], leaves: np.ndarray) -> np.ndarray:
    """``base`` plus each tree's leaf value, added in tree order (as during training)."""
    score = np.full(leaves.shape[1], base, dtype=np.float64)
    for tree, leaf in zip(trees, leaves, strict=True):
        score = score + tree.value[leaf]
    return score


@dataclass
class GBDTModel:
    """A plain model on the joined binned table; ``party_features`` says which columns
    belong to which party (for comparing with SecureBoost's splits)."""

    config: GBDTConfig
    base_score: float
    trees: list[Tree]
    party_features: list[int]

    def predict_raw(self, bins: np.ndarray) -> np.ndarray:
        offsets = np.concatenate([[0], np.cumsum(self.party_features)])
        feature, cut = stack(self.trees, "feature"), stack(self.trees, "bin")

        def directions(
            party: int, t: np.ndarray, nodes: np.ndarray, rows: np.ndarray
        ) -> np.ndarray:
            return bins[rows, offsets[party] + feature[t, nodes]] <= cut[t, nodes]

        return raw_scores(self.base_score, self.trees, walk(self.trees, len(bins), directions))

    def predict_proba(self, bins: np.ndarray) -> np.ndarray:
        return sigmoid(self.predict_raw(bins))


def fit(
    bins: np.ndarray, y: np.ndarray, config: GBDTConfig, party_features: Sequence[int] | None = None
) -> GBDTModel:
    """Train on the joined binned table; columns are grouped by party in ``party_features``."""
    widths = list(party_features) if party_features is not None else [bins.shape[1]]
    if sum(widths) != bins.shape[1] or min(widths, default=0) < 0:
        raise DataError("party_features must add up to the number of columns")
    labels = check_labels(y, len(bins))
    edges = np.concatenate([[0], np.cumsum(widths)])
    sources = [
        LocalSource(np.ascontiguousarray(bins[:, a:b]), config.n_bins)
        for a, b in itertools.pairwise(edges)
    ]
    base = base_score(labels)
    score = np.full(len(labels), base)
    trees = []
    for t in range(config.n_trees):
        g, h = gradients(score, labels)
        tree, leaf = grow_tree(sources, g, h, config, t)
        trees.append(tree)
        score = score + tree.value[leaf]
    return GBDTModel(config, base, trees, widths)
