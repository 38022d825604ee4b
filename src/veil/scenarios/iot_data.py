"""The IoT demo's data, split the way a cross-device federation sees it.

The table is :func:`veil.edge.datasets.flights`: one device per aircraft-month, the carriers
as platforms (docs/datasets.md). Three disjoint sets of aircraft:

- **evaluation**: 20 % of the aircraft (stratified by carrier), every row of theirs — the
  model is scored on devices that never trained;
- **volunteers**: 5 % of the rest, whose rows give the features' means and deviations for
  standardisation (as a product team's own test devices would): no training device's
  data leaves it, not even as a statistic;
- **training devices**: everything else, each device's rows sealed to its own key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np

from veil.edge.datasets import DeviceTable, evaluation_split, flights, per_device
from veil.errors import DataError

EVAL_SHARE = 0.2
VOLUNTEER_SHARE = 0.05


@dataclass(frozen=True)
class DeviceSplit:
    names: list[str]  # the training devices, "<carrier>-<device>"
    rows: list[tuple[np.ndarray, np.ndarray]]  # each training device's (x, y), standardised
    platform_of_device: list[str]
    platform_names: list[str]
    class_names: list[str]
    feature_names: list[str]
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def n_rows(self) -> int:
        return sum(len(y) for _, y in self.rows)


def device_split(*, seed: int = 0, max_devices: int | None = None) -> DeviceSplit:
    """Training devices with their rows, and the evaluation rows (see the module docstring).

    ``max_devices`` keeps that many training devices, chosen at random (tests)."""
    table = flights()
    train, test = evaluation_split(table, EVAL_SHARE, seed=seed)
    train, volunteers = evaluation_split(train, VOLUNTEER_SHARE, seed=seed + 1)
    if max_devices is not None and max_devices < train.n_devices:
        rng = np.random.default_rng(seed + 2)
        keep = np.zeros(train.n_devices, dtype=bool)
        keep[rng.choice(train.n_devices, size=max_devices, replace=False)] = True
        train = train.subset(keep[train.device])
    if train.n_devices < 2:
        raise DataError("the table has too few devices to federate")
    x = volunteers.x.astype(np.float64)
    mean, std = x.mean(axis=0), x.std(axis=0)
    std[std == 0] = 1.0

    def scaled(t: DeviceTable) -> np.ndarray:
        return ((t.x - mean) / std).astype(np.float32)

    train_x = scaled(train)
    rows = per_device(replace(train, x=train_x))
    plat = [train.platform_names[int(p)] for p in train.device_platform]
    names = [re.sub(r"[^A-Za-z0-9_.-]", "_", f"{p}-{k}") for k, p in enumerate(plat)]
    return DeviceSplit(
        names=names,
        rows=rows,
        platform_of_device=plat,
        platform_names=list(train.platform_names),
        class_names=list(train.class_names),
        feature_names=list(train.feature_names),
        x_test=scaled(test),
        y_test=test.y.astype(np.int64),
    )
