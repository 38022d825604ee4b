"""The IoT demo's devices: each one's rows sealed at rest to its own key, opened only on the
device when it trains (numpy only, :mod:`veil.edge`).

A device is a :class:`veil.fl.local_pool.Client`: the round engine asks it to ``fit`` the
global model; its update then leaves it only as the signed, sealed PINE report the verified
aggregation's client mod builds (:meth:`veil.aggregation.fl_bridge.SecureAggregation.seal`).
Rows travel as raw arrays with an explicit header (shape, dtype), never pickled.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import veil
from veil.crypto.keys import Identity
from veil.edge.device import sgd
from veil.edge.models import EdgeModel
from veil.errors import FormatError
from veil.fl.local_config import ClientUpdate, TrainConfig

_HEADER = struct.Struct(">4sII")  # magic, rows, features
_MAGIC = b"VDR1"


def encode_rows(x: np.ndarray, y: np.ndarray) -> bytes:
    """float32 features (n, d) little-endian, then int32 labels (n,)."""
    x = np.ascontiguousarray(x, dtype="<f4")
    y = np.ascontiguousarray(y, dtype="<i4")
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise FormatError("rows: x must be (n, d) and y (n,)")
    return _HEADER.pack(_MAGIC, x.shape[0], x.shape[1]) + x.tobytes() + y.tobytes()


def decode_rows(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """The inverse of :func:`encode_rows`; every length is checked before use."""
    if len(data) < _HEADER.size:
        raise FormatError("rows: truncated header")
    magic, n, d = _HEADER.unpack_from(data)
    if magic != _MAGIC:
        raise FormatError("rows: not a veil device table")
    nx = 4 * n * d
    if len(data) != _HEADER.size + nx + 4 * n:
        raise FormatError("rows: the length does not match the header")
    x = np.frombuffer(data, "<f4", n * d, _HEADER.size).reshape(n, d)
    y = np.frombuffer(data, "<i4", n, _HEADER.size + nx)
    return x.astype(np.float32), y.astype(np.int64)


@dataclass
class SealedDevice:
    """One device: its name, its sealed rows and the key that opens them, its model."""

    name: str
    path: Path
    identity: Identity
    model: EdgeModel

    def fit(self, global_vec: np.ndarray, cfg: TrainConfig, *, seed: int) -> ClientUpdate:
        """Open the rows, run plain minibatch SGD from the global model, forget the rows."""
        x, y = decode_rows(veil.open(self.path.read_bytes(), [self.identity]))
        w, loss = sgd(
            self.model, global_vec, x, y,
            epochs=cfg.epochs, lr=cfg.lr, batch_size=cfg.batch_size, seed=seed,
        )  # fmt: skip
        return ClientUpdate(w, len(y), float(loss))


def seal_devices(
    folder: Path,
    names: list[str],
    rows: list[tuple[np.ndarray, np.ndarray]],
    model: EdgeModel,
) -> list[SealedDevice]:
    """A fresh X25519 key per device and its rows sealed to it (``folder/<name>.sealed``).

    In a deployment each device makes its own key and never shares it; here the keys stay in
    this process's memory only."""
    folder.mkdir(parents=True, exist_ok=True)
    devices = []
    for name, (x, y) in zip(names, rows, strict=True):
        ident = veil.generate_identity("x25519")
        path = folder / f"{name}.sealed"
        path.write_bytes(veil.seal(encode_rows(x, y), [ident.recipient()]))
        devices.append(SealedDevice(name, path, ident, model))
    return devices
