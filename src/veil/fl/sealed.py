"""Institution data at rest: a table sealed to its owner's key (veil's sealed format v1).

A shard is serialised as Parquet (typed columns, no pickle) and sealed with
:func:`veil.seal` to the institution's recipient; only that institution's client holds the
identity that opens it. Any corruption or tampering surfaces as :class:`IntegrityError`
from the sealed format, and a shard that opens but is not a table as :class:`DataError`.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import veil
from veil.crypto.seal import atomic_write
from veil.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

    from veil.crypto.keys import Identity, Recipient


def table_to_bytes(frame: pd.DataFrame) -> bytes:
    """Parquet bytes of a data frame (index dropped)."""
    buf = io.BytesIO()
    frame.reset_index(drop=True).to_parquet(buf, index=False)
    return buf.getvalue()


def table_from_bytes(data: bytes) -> pd.DataFrame:
    """Parse Parquet bytes; a non-table gives :class:`DataError`."""
    import pandas as pd  # lazy: pandas (≈0.3 s) only for tables

    try:
        return pd.read_parquet(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises several unrelated types
        raise DataError(f"the opened shard is not a Parquet table: {exc}") from exc


def seal_table(frame: pd.DataFrame, path: Path, recipients: Sequence[Recipient]) -> int:
    """Seal a table to ``recipients`` at ``path`` (atomically); returns the sealed size."""
    blob = veil.seal(table_to_bytes(frame), list(recipients))
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, blob)
    return len(blob)


def open_table(path: Path, identities: Sequence[Identity]) -> pd.DataFrame:
    """Open a sealed table with the owner's identities."""
    try:
        blob = Path(path).read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read sealed shard {path}: {exc}") from exc
    return table_from_bytes(veil.open(blob, list(identities)))
