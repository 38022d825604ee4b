"""Preprocessing fitted without pooling raw rows.

Each client summarises its own shard into :class:`TableStats` — per numeric column the
count, mean and sum of squared deviations (M2) of its non-missing values and the number of
missing ones; per categorical column the count of each level; per class its count. Only
these aggregates leave the client. They combine exactly with Chan, Golub & LeVeque's
pairwise update (1979; ``M2 = M2_a + M2_b + δ² n_a n_b / n``), so the federated mean and
standard deviation equal the pooled ones, and :class:`Preprocessor` is then fitted from the
merged statistics alone:

* numeric columns are standardised with the combined mean and standard deviation; a missing
  value becomes the mean (0 after scaling) plus a ``<col>__missing`` indicator column;
* categorical columns are one-hot encoded over the union of levels (a missing value gets its
  own level); a level unseen at fit time encodes as all zeros;
* the target's classes are the sorted union of the clients' classes.

What the statistics reveal (level names, counts, per-column moments) is much less than the
rows, but it is not nothing: docs/fl.md says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from veil.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

MISSING = "<missing>"
MAX_LEVELS = 100
MAX_CLASSES = 50


@dataclass(frozen=True)
class Schema:
    """Which columns are numeric and which categorical, and the target's name."""

    target: str
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]


@dataclass
class NumericStats:
    """count / mean / M2 of non-missing values, plus the missing count."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0
    missing: int = 0

    def merge(self, o: NumericStats) -> NumericStats:
        """Chan et al.'s exact pairwise combination."""
        n = self.n + o.n
        if n == 0:
            return NumericStats(0, 0.0, 0.0, self.missing + o.missing)
        delta = o.mean - self.mean
        mean = self.mean + delta * o.n / n
        m2 = self.m2 + o.m2 + delta * delta * self.n * o.n / n
        return NumericStats(n, mean, m2, self.missing + o.missing)


@dataclass
class TableStats:
    """One client's (or the merged) sufficient statistics."""

    rows: int = 0
    numeric: dict[str, NumericStats] = field(default_factory=dict)
    levels: dict[str, dict[str, int]] = field(default_factory=dict)
    classes: dict[str, int] = field(default_factory=dict)

    def merge(self, o: TableStats) -> TableStats:
        """Combine two clients' statistics (commutative and associative)."""
        out = TableStats(self.rows + o.rows)
        for c in set(self.numeric) | set(o.numeric):
            out.numeric[c] = self.numeric.get(c, NumericStats()).merge(
                o.numeric.get(c, NumericStats())
            )
        for c in set(self.levels) | set(o.levels):
            a, b = self.levels.get(c, {}), o.levels.get(c, {})
            out.levels[c] = {k: a.get(k, 0) + b.get(k, 0) for k in set(a) | set(b)}
        out.classes = {
            k: self.classes.get(k, 0) + o.classes.get(k, 0)
            for k in set(self.classes) | set(o.classes)
        }
        return out


def infer_schema(frame: pd.DataFrame, target: str, *, exclude: Iterable[str] = ()) -> Schema:
    """Decide each column's kind from its dtype and values; refuse junk with a clear error."""
    import pandas as pd  # lazy: pandas (≈0.3 s) only for tables

    if target not in frame.columns:
        raise DataError(f"unknown target column {target!r}; columns are {list(frame.columns)}")
    skip = {target, *exclude}
    numeric, categorical = [], []
    for col in frame.columns:
        if col in skip:
            continue
        s = frame[col]
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            numeric.append(str(col))
            continue
        present = s.dropna().astype(str).str.strip()
        present = present[present != ""]
        parsed = pd.to_numeric(present, errors="coerce")
        ok = parsed.notna()
        if len(present) and ok.all():
            numeric.append(str(col))
        elif len(present) and ok.mean() >= 0.9:
            bad = present[~ok].iloc[0]
            raise DataError(
                f"column {col!r} is numeric but holds non-numeric values such as {bad!r} "
                f"({int((~ok).sum())} rows); clean them or leave the cells empty"
            )
        else:
            n_levels = present.nunique()
            if n_levels > MAX_LEVELS:
                raise DataError(
                    f"column {col!r} has {n_levels} distinct text values (an id or free text?); "
                    "drop it before training"
                )
            categorical.append(str(col))
    if not numeric and not categorical:
        raise DataError("the table has no feature columns besides the target")
    return Schema(target, tuple(numeric), tuple(categorical))


def local_stats(frame: pd.DataFrame, schema: Schema) -> TableStats:
    """A client's summary of its own rows (the only thing it shares for preprocessing)."""
    y = frame[schema.target]
    keep = y.notna()
    frame = frame[keep]
    stats = TableStats(rows=len(frame))
    for col in schema.numeric:
        v = _numeric(frame[col], col)
        present = v[~np.isnan(v)]
        n = len(present)
        mean = float(present.mean()) if n else 0.0
        m2 = float(((present - mean) ** 2).sum()) if n else 0.0
        stats.numeric[col] = NumericStats(n, mean, m2, int(len(v) - n))
    for col in schema.categorical:
        stats.levels[col] = _levels(frame[col]).value_counts().astype(int).to_dict()
    stats.classes = frame[schema.target].astype(str).value_counts().astype(int).to_dict()
    return stats


@dataclass(frozen=True)
class Preprocessor:
    """Standardise + one-hot, fitted from merged statistics only."""

    schema: Schema
    means: tuple[float, ...]
    stds: tuple[float, ...]
    indicators: tuple[str, ...]
    levels: tuple[tuple[str, ...], ...]
    classes: tuple[str, ...]

    @classmethod
    def fit(cls, schema: Schema, stats: TableStats) -> Preprocessor:
        """Fit from :class:`TableStats` (merged across clients)."""
        classes = tuple(sorted(k for k, n in stats.classes.items() if n > 0))
        if len(classes) < 2:
            raise DataError(
                f"the target {schema.target!r} has a single class {classes}; need at least two"
            )
        if len(classes) > MAX_CLASSES:
            raise DataError(
                f"the target {schema.target!r} has {len(classes)} distinct values; "
                "veil train does classification (at most 50 classes)"
            )
        means, stds, ind = [], [], []
        for col in schema.numeric:
            s = stats.numeric[col]
            if s.n == 0:
                raise DataError(f"column {col!r} has no values at all")
            std = (s.m2 / (s.n - 1)) ** 0.5 if s.n > 1 else 0.0
            means.append(s.mean)
            stds.append(std if std > 1e-12 else 1.0)
            if s.missing:
                ind.append(col)
        levels = tuple(tuple(sorted(stats.levels[c])) for c in schema.categorical)
        return cls(schema, tuple(means), tuple(stds), tuple(ind), levels, classes)

    @property
    def feature_names(self) -> list[str]:
        """Names of the encoded columns, in order."""
        names = list(self.schema.numeric) + [f"{c}__missing" for c in self.indicators]
        for col, lv in zip(self.schema.categorical, self.levels, strict=True):
            names += [f"{col}={v}" for v in lv]
        return names

    @property
    def n_features(self) -> int:
        """Width of the encoded matrix."""
        return len(self.feature_names)

    def transform(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Encode a client's rows: (x float32, y int64). Rows without a target are dropped."""
        missing_cols = [
            c
            for c in (self.schema.target, *self.schema.numeric, *self.schema.categorical)
            if c not in frame.columns
        ]
        if missing_cols:
            raise DataError(f"the table lacks columns {missing_cols}")
        frame = frame[frame[self.schema.target].notna()]
        if frame.empty:
            raise DataError("a partition has no rows with a target value")
        blocks = []
        raw = {}
        for col, m, s in zip(self.schema.numeric, self.means, self.stds, strict=True):
            v = _numeric(frame[col], col)
            raw[col] = v
            blocks.append(np.where(np.isnan(v), 0.0, (v - m) / s)[:, None])
        for col in self.indicators:
            blocks.append(np.isnan(raw[col]).astype(np.float64)[:, None])
        for col, lv in zip(self.schema.categorical, self.levels, strict=True):
            vals = _levels(frame[col]).to_numpy()
            blocks.append(
                (vals[:, None] == np.asarray(lv, dtype=object)[None, :]).astype(np.float64)
            )
        x = (
            np.hstack(blocks).astype(np.float32)
            if blocks
            else np.zeros((len(frame), 0), np.float32)
        )
        index = {c: i for i, c in enumerate(self.classes)}
        ys = frame[self.schema.target].astype(str)
        unknown = set(ys) - set(index)
        if unknown:
            raise DataError(f"target values {sorted(unknown)[:5]} were not seen when fitting")
        y = ys.map(index).to_numpy(dtype=np.int64)
        return x, y


def fit_federated(frames: list[pd.DataFrame], schema: Schema) -> Preprocessor:
    """Each frame summarised on its own side, statistics merged, preprocessor fitted."""
    merged = TableStats()
    for f in frames:
        merged = merged.merge(local_stats(f, schema))
    return Preprocessor.fit(schema, merged)


def _numeric(s: pd.Series, col: str) -> np.ndarray:
    import pandas as pd  # lazy: pandas (≈0.3 s) only for tables

    if pd.api.types.is_bool_dtype(s):
        return s.astype(float).to_numpy()
    if pd.api.types.is_numeric_dtype(s):
        return s.to_numpy(dtype=np.float64, na_value=np.nan)
    txt = s.astype("string").str.strip().replace("", pd.NA)
    v = pd.to_numeric(txt, errors="coerce")
    bad = v.isna() & txt.notna()
    if bad.any():
        raise DataError(
            f"column {col!r} is numeric but holds non-numeric values such as {txt[bad].iloc[0]!r}"
        )
    return v.to_numpy(dtype=np.float64, na_value=np.nan)


def _levels(s: pd.Series) -> pd.Series:
    return s.astype("string").str.strip().fillna(MISSING).replace("", MISSING).astype(object)


def stats_to_dict(s: TableStats) -> dict:
    """JSON-ready form of :class:`TableStats` (what a client sends for preprocessing)."""
    return {
        "rows": s.rows,
        "numeric": {k: [v.n, v.mean, v.m2, v.missing] for k, v in s.numeric.items()},
        "levels": s.levels,
        "classes": s.classes,
    }


def stats_from_dict(d: dict) -> TableStats:
    """Parse :func:`stats_to_dict` output, validating types."""
    try:
        return TableStats(
            rows=int(d["rows"]),
            numeric={
                str(k): NumericStats(int(v[0]), float(v[1]), float(v[2]), int(v[3]))
                for k, v in d["numeric"].items()
            },
            levels={str(k): {str(a): int(b) for a, b in v.items()} for k, v in d["levels"].items()},
            classes={str(k): int(v) for k, v in d["classes"].items()},
        )
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise DataError(f"malformed column statistics: {exc}") from exc


def preprocessor_to_dict(p: Preprocessor) -> dict:
    """JSON-ready form of a fitted :class:`Preprocessor`."""
    return {
        "target": p.schema.target,
        "numeric": list(p.schema.numeric),
        "categorical": list(p.schema.categorical),
        "means": list(p.means),
        "stds": list(p.stds),
        "indicators": list(p.indicators),
        "levels": [list(lv) for lv in p.levels],
        "classes": list(p.classes),
    }


def preprocessor_from_dict(d: dict) -> Preprocessor:
    """Parse :func:`preprocessor_to_dict` output."""
    try:
        schema = Schema(str(d["target"]), tuple(d["numeric"]), tuple(d["categorical"]))
        return Preprocessor(
            schema,
            tuple(float(v) for v in d["means"]),
            tuple(float(v) for v in d["stds"]),
            tuple(str(v) for v in d["indicators"]),
            tuple(tuple(str(v) for v in lv) for lv in d["levels"]),
            tuple(str(v) for v in d["classes"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"malformed preprocessor: {exc}") from exc
