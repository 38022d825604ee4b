"""A party's own table from a CSV file: an ID column, numeric feature columns, maybe a label.

Each party encodes its own columns where they live: numbers stay numbers, a text column
becomes one indicator column per value (sorted), and a missing value is replaced by the
column's median in that party's own table (docs/vertical.md, *Tables*). Nothing here ever
leaves the party; only the protocols' messages do.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from veil.errors import DataError

MISSING = {"", "na", "nan", "null", "none"}
MAX_CATEGORIES = 64


@dataclass(frozen=True)
class PartyTable:
    """Rows keyed by ID: features (float64, rows × columns) and, at the label party, labels."""

    ids: list[str]
    features: np.ndarray
    names: list[str]
    labels: np.ndarray | None = None


def read_table(
    path: Path,
    id_column: str,
    *,
    label: str | None = None,
    positive: str | None = None,
    columns: Sequence[str] | None = None,
) -> PartyTable:
    """Read ``path``; ``label`` names the label column (its ``positive`` value is class 1)."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read the table ({exc})") from exc
    if not rows:
        raise DataError(f"{path}: the table has no rows")
    header = list(rows[0])
    for needed in [id_column, *([label] if label else []), *(columns or [])]:
        if needed not in header:
            raise DataError(f"{path}: no column {needed!r} (have {', '.join(header)})")
    chosen = list(columns) if columns else [c for c in header if c not in (id_column, label)]
    ids = [row[id_column] for row in rows]
    blocks, names = [], []
    for column in chosen:
        block, block_names = encode_column(column, [row[column] for row in rows])
        blocks.append(block)
        names.extend(block_names)
    features = np.hstack(blocks) if blocks else np.zeros((len(rows), 0))
    labels = None
    if label is not None:
        labels = _labels([row[label] for row in rows], label, positive)
    return PartyTable(ids, features, names, labels)


def encode_column(name: str, values: list[str | None]) -> tuple[np.ndarray, list[str]]:
    """One numeric column (median-imputed) or one indicator column per category."""
    cleaned = [(v or "").strip() for v in values]
    numbers = [_number(v) for v in cleaned]
    present = [x for x, v in zip(numbers, cleaned, strict=True) if v.lower() not in MISSING]
    if all(x is not None for x in present) and present:
        column = np.array([np.nan if x is None else x for x in numbers], dtype=np.float64)
        column[np.isnan(column)] = float(np.median([x for x in present if x is not None]))
        return column[:, None], [name]
    categories = sorted({v for v in cleaned if v.lower() not in MISSING})
    if len(categories) > MAX_CATEGORIES:
        raise DataError(f"column {name!r} has {len(categories)} text values (max {MAX_CATEGORIES})")
    index = {c: i for i, c in enumerate(categories)}
    block = np.zeros((len(cleaned), len(categories)), dtype=np.float64)
    rows = [i for i, v in enumerate(cleaned) if v in index]
    block[rows, [index[cleaned[i]] for i in rows]] = 1.0
    return block, [f"{name}={c}" for c in categories]


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _labels(values: list[str], label: str, positive: str | None) -> np.ndarray:
    classes = sorted({v.strip() for v in values})
    if len(classes) != 2:
        raise DataError(f"label {label!r} must have two classes, has {len(classes)}")
    pos = positive if positive is not None else classes[1]
    if pos not in classes:
        raise DataError(f"label {label!r} has no value {pos!r} (values: {', '.join(classes)})")
    return np.array([v.strip() == pos for v in values], dtype=np.float64)


def write_table(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Write a CSV table (the demo's parties' files)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
