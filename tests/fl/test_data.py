"""Offline datasets, the restricted loader of the credit data, sealed shards."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pandas as pd
import pytest

import veil
from veil.edge import datasets
from veil.errors import DataError, FormatError, IntegrityError, NoIdentityError
from veil.fl import data
from veil.fl.sealed import open_table, seal_table, table_from_bytes


def test_credit_data_loads_offline_and_is_pinned():
    ds = data.credit_risk()
    assert ds.frame.shape == (4454, 14)
    assert set(ds.frame["Status"]) == {"good", "bad"}
    assert (ds.frame["Status"] == "bad").sum() == 1254
    assert ds.frame["Income"].isna().sum() == 381  # real data has gaps


def test_pin_mismatch_is_refused(monkeypatch):
    monkeypatch.setattr(data, "CREDIT_SHA256", "0" * 64)
    with pytest.raises(IntegrityError):
        data.credit_risk()


class _Evil:
    def __reduce__(self):
        return (eval, ("1+1",))


def test_restricted_unpickler_refuses_other_globals():
    blob = pickle.dumps(_Evil())
    with pytest.raises(FormatError, match="forbidden"):
        datasets.load_frame_pickle(blob)
    frame = pd.DataFrame({"a": [1, 2]})
    with pytest.raises(FormatError):  # a plain pickle names other pandas internals
        datasets.load_frame_pickle(pickle.dumps(frame) + b"")


def test_sklearn_sets():
    bc = data.breast_cancer()
    assert bc.frame.shape == (569, 31) and set(bc.frame["diagnosis"]) == {"malignant", "benign"}
    x, _y = data.digits()
    assert x.shape == (1797, 64) and x.dtype == np.float32 and x.min() >= 0 and x.max() <= 1
    assert data.synthetic_table(50, 3).frame.shape == (50, 4)


def test_read_table(tmp_path):
    f = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    f.to_csv(tmp_path / "t.csv", index=False)
    f.to_parquet(tmp_path / "t.parquet")
    assert data.read_table(tmp_path / "t.csv").equals(data.read_table(tmp_path / "t.parquet"))
    with pytest.raises(DataError):
        data.read_table(tmp_path / "missing.csv")
    (tmp_path / "t.xlsx").write_bytes(b"PK")
    with pytest.raises(DataError):
        data.read_table(tmp_path / "t.xlsx")
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(DataError):
        data.read_table(tmp_path / "e.csv")


def test_sealed_shard_round_trip_and_tamper(tmp_path):
    owner, other = veil.generate_identity(), veil.generate_identity()
    frame = data.breast_cancer().frame.iloc[:50]
    size = seal_table(frame, tmp_path / "s.sealed", [owner.recipient()])
    assert size == (tmp_path / "s.sealed").stat().st_size
    assert b"malignant" not in (tmp_path / "s.sealed").read_bytes()
    pd.testing.assert_frame_equal(
        open_table(tmp_path / "s.sealed", [owner]), frame.reset_index(drop=True)
    )
    with pytest.raises(NoIdentityError):
        open_table(tmp_path / "s.sealed", [other])
    blob = bytearray((tmp_path / "s.sealed").read_bytes())
    blob[-5] ^= 0x40
    (tmp_path / "s.sealed").write_bytes(bytes(blob))
    with pytest.raises(IntegrityError):
        open_table(tmp_path / "s.sealed", [owner])
    with pytest.raises(DataError):
        table_from_bytes(b"not parquet")
    _ = io
