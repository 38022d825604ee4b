"""The vertical parties' message body: round trips, and every malformed input is a FormatError."""

from __future__ import annotations

import contextlib
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.errors import FormatError
from veil.vertical import wire

DTYPES = ["bool", "int8", "int32", "int64", "uint64", "float32", "float64"]


@st.composite
def arrays(draw: st.DrawFn) -> np.ndarray:
    dtype = draw(st.sampled_from(DTYPES))
    shape = draw(st.lists(st.integers(0, 4), min_size=0, max_size=3))
    size = int(np.prod(shape)) if shape else 1
    raw = draw(st.binary(min_size=size * np.dtype(dtype).itemsize, max_size=size * 8))
    arr = np.frombuffer(raw[: size * np.dtype(dtype).itemsize], dtype=dtype).reshape(shape)
    return arr.copy()


@given(
    st.dictionaries(
        st.text(min_size=1, max_size=8),
        st.one_of(arrays(), st.binary(max_size=40), st.integers(-(2**70), 2**70), st.text()),
        max_size=5,
    )
)
@settings(max_examples=150, deadline=None)
def test_round_trip(fields: dict) -> None:
    kind, back = wire.decode(wire.encode("sb.hist", fields))
    assert kind == "sb.hist" and list(back) == list(fields)
    for name, value in fields.items():
        if isinstance(value, np.ndarray):
            assert back[name].dtype == value.dtype.newbyteorder("<")
            assert back[name].shape == value.shape
            assert back[name].tobytes() == value.tobytes()
        else:
            assert back[name] == value


@given(st.binary(max_size=300))
@settings(max_examples=300, deadline=None)
def test_junk_is_a_format_error(junk: bytes) -> None:
    with contextlib.suppress(FormatError):
        wire.decode(junk)
    with contextlib.suppress(FormatError):
        wire.decode(wire.MAGIC + struct.pack(">I", len(junk)) + junk)


def test_truncated_and_trailing_bytes_are_refused() -> None:
    blob = wire.encode("lr.grad", {"g": np.arange(10, dtype=np.int64), "b": b"xyz"})
    for cut in (1, 5, len(blob) - 1):
        with pytest.raises(FormatError):
            wire.decode(blob[:cut])
    with pytest.raises(FormatError, match="trailing"):
        wire.decode(blob + b"\0")


def test_a_lying_shape_is_refused() -> None:
    blob = wire.encode("x", {"a": np.zeros(4, dtype=np.float64)})
    lying = blob.replace(b'"shape":[4]', b'"shape":[9]')
    with pytest.raises(FormatError, match="truncated"):
        wire.decode(lying)
    negative = blob.replace(b'"shape":[4]', b'"shape":[-4]')
    with pytest.raises(FormatError):
        wire.decode(negative)


def test_need_array_checks_dtype_shape_and_finiteness() -> None:
    fields = {"a": np.array([1.0, np.nan]), "b": np.zeros((2, 3), dtype=np.int64)}
    with pytest.raises(FormatError, match="NaN"):
        wire.need_array(fields, "a", "float64", (2,))
    assert wire.need_array(fields, "b", "int64", (None, 3)).shape == (2, 3)
    with pytest.raises(FormatError, match="shape"):
        wire.need_array(fields, "b", "int64", (2, 4))
    with pytest.raises(FormatError):
        wire.need_array(fields, "b", "float64", (2, 3))
    with pytest.raises(FormatError):
        wire.need(fields, "missing", int)


def test_objects_never_travel() -> None:
    with pytest.raises(TypeError):
        wire.encode("x", {"a": np.array([object()])})
    with pytest.raises(TypeError):
        wire.encode("x", {"a": [1, 2]})  # type: ignore[dict-item]
