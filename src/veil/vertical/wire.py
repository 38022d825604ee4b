"""The vertical parties' message body: named numpy arrays and scalars, no pickle.

Layout (docs/vertical.md, *Wire format*)::

    b"VVW1" ‖ u32 header length (big-endian) ‖ header (UTF-8 JSON) ‖ buffers

The header names the message kind and lists the fields in order, each with its type and, for
arrays, dtype and shape; the buffers follow in the same order, little-endian, with no gap and
nothing after the last. A parser checks every length before it slices, so a short, long or
lying message is a :class:`~veil.errors.FormatError`, never a crash or a silent truncation.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping

import numpy as np

from veil.errors import FormatError

MAGIC = b"VVW1"
#: refuse bigger messages before reading them (a 1M-row Paillier histogram is ~0.5 GiB)
MAX_MESSAGE_BYTES = 2 << 30
_MAX_HEADER = 1 << 20
_MAX_FIELDS = 4096
_DTYPES = {
    "bool": np.dtype("bool"),
    "int8": np.dtype("<i1"),
    "int16": np.dtype("<i2"),
    "int32": np.dtype("<i4"),
    "int64": np.dtype("<i8"),
    "uint8": np.dtype("<u1"),
    "uint32": np.dtype("<u4"),
    "uint64": np.dtype("<u8"),
    "float32": np.dtype("<f4"),
    "float64": np.dtype("<f8"),
}

Value = np.ndarray | bytes | int | float | str
Fields = dict[str, Value]


def encode(kind: str, fields: Mapping[str, Value]) -> bytes:
    """Serialise ``kind`` and ``fields`` (arrays, bytes, int, float, str)."""
    entries: list[dict[str, object]] = []
    buffers: list[bytes] = []
    for name, value in fields.items():
        if isinstance(value, bool | np.bool_):
            entries.append({"name": name, "type": "bool", "value": bool(value)})
        elif isinstance(value, int | np.integer):
            entries.append({"name": name, "type": "int", "value": int(value)})
        elif isinstance(value, float | np.floating):
            if not math.isfinite(float(value)):
                raise FormatError(f"field {name!r}: a scalar must be finite")
            entries.append({"name": name, "type": "float", "value": float(value)})
        elif isinstance(value, str):
            entries.append({"name": name, "type": "str", "value": value})
        elif isinstance(value, bytes | bytearray | memoryview):
            data = bytes(value)
            entries.append({"name": name, "type": "bytes", "length": len(data)})
            buffers.append(data)
        elif isinstance(value, np.ndarray):
            dtype_name = _dtype_name(value.dtype, name)
            data = np.ascontiguousarray(value, dtype=_DTYPES[dtype_name]).tobytes()
            entries.append(
                {"name": name, "type": "array", "dtype": dtype_name, "shape": list(value.shape)}
            )
            buffers.append(data)
        else:
            raise TypeError(f"field {name!r}: cannot encode {type(value).__name__}")
    header = json.dumps({"kind": kind, "fields": entries}, separators=(",", ":")).encode()
    return b"".join([MAGIC, struct.pack(">I", len(header)), header, *buffers])


def _dtype_name(dtype: np.dtype, name: str) -> str:
    for key, known in _DTYPES.items():
        if dtype.kind == known.kind and dtype.itemsize == known.itemsize:
            return key
    raise TypeError(f"field {name!r}: dtype {dtype} does not travel")


def decode(blob: bytes, *, max_bytes: int = MAX_MESSAGE_BYTES) -> tuple[str, Fields]:
    """Parse a message; every malformed input raises :class:`FormatError`."""
    view = memoryview(blob)
    if len(view) > max_bytes:
        raise FormatError("message too large")
    if len(view) < 8 or bytes(view[:4]) != MAGIC:
        raise FormatError("not a veil vertical message")
    (hlen,) = struct.unpack(">I", view[4:8])
    if hlen > _MAX_HEADER or 8 + hlen > len(view):
        raise FormatError("message header length is wrong")
    try:
        header = json.loads(bytes(view[8 : 8 + hlen]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError("message header is not JSON") from exc
    if not isinstance(header, dict) or not isinstance(header.get("kind"), str):
        raise FormatError("message header has no kind")
    entries = header.get("fields")
    if not isinstance(entries, list) or len(entries) > _MAX_FIELDS:
        raise FormatError("message header has no field list")
    fields: Fields = {}
    offset = 8 + hlen
    for entry in entries:
        name, value, offset = _field(entry, view, offset)
        if name in fields:
            raise FormatError(f"field {name!r} appears twice")
        fields[name] = value
    if offset != len(view):
        raise FormatError("trailing bytes after the last field")
    return header["kind"], fields


def _field(entry: object, view: memoryview, offset: int) -> tuple[str, Value, int]:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise FormatError("a field has no name")
    name, kind = entry["name"], entry.get("type")
    scalar_types = {"bool": bool, "int": int, "float": float, "str": str}
    if kind in scalar_types:
        value = entry.get("value")
        wanted = scalar_types[kind]
        if type(value) is not wanted and not (wanted is float and type(value) is int):
            raise FormatError(f"field {name!r}: not a {kind}")
        return name, (float(value) if wanted is float else value), offset
    if kind == "bytes":
        length = entry.get("length")
        if type(length) is not int or length < 0 or offset + length > len(view):
            raise FormatError(f"field {name!r}: bad length")
        return name, bytes(view[offset : offset + length]), offset + length
    if kind == "array":
        dtype = _DTYPES.get(entry.get("dtype"))  # type: ignore[arg-type]
        shape = entry.get("shape")
        if dtype is None or not isinstance(shape, list) or len(shape) > 8:
            raise FormatError(f"field {name!r}: bad dtype or shape")
        if any(type(s) is not int or s < 0 for s in shape):
            raise FormatError(f"field {name!r}: bad shape")
        count = math.prod(shape)
        nbytes = count * dtype.itemsize
        if offset + nbytes > len(view):
            raise FormatError(f"field {name!r}: truncated")
        array = np.frombuffer(view[offset : offset + nbytes], dtype=dtype).reshape(shape)
        return name, array.copy(), offset + nbytes
    raise FormatError(f"field {name!r}: unknown type")


def need(fields: Mapping[str, Value], name: str, kind: type) -> Value:
    """``fields[name]`` if it has the expected Python type; FormatError otherwise."""
    value = fields.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise FormatError(f"message field {name!r} is missing or not {kind.__name__}")
    return value


def need_array(
    fields: Mapping[str, Value], name: str, dtype: str, shape: tuple[int | None, ...]
) -> np.ndarray:
    """``fields[name]`` as an array of ``dtype`` whose shape matches (None: any length)."""
    value = need(fields, name, np.ndarray)
    assert isinstance(value, np.ndarray)
    if value.dtype != _DTYPES[dtype] or value.ndim != len(shape):
        raise FormatError(f"message field {name!r} must be {dtype} with {len(shape)} axes")
    if any(want is not None and got != want for got, want in zip(value.shape, shape, strict=True)):
        raise FormatError(f"message field {name!r} has shape {value.shape}, expected {shape}")
    if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
        raise FormatError(f"message field {name!r} holds NaN or infinity")
    return value
