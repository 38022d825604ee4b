"""A model as one flat float32 vector, in an explicit and stable order.

Every engine (the embedded runner, Flower, the checkpoint file) moves parameters as a single
``float32`` vector. The order is the model's ``state_dict`` order, recorded in a
:class:`ParamSpec` (names, shapes); two models with the same spec exchange vectors safely,
and a vector of the wrong length is refused before it touches a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import TYPE_CHECKING

import numpy as np

from veil.errors import FormatError

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class ParamSpec:
    """Names and shapes of a model's tensors, in the order they appear in the vector."""

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]

    @property
    def size(self) -> int:
        """Total number of scalars in the flat vector."""
        return sum(prod(s) for s in self.shapes)

    def offsets(self) -> list[tuple[str, int, int, tuple[int, ...]]]:
        """(name, start, stop, shape) of each tensor inside the vector."""
        out, pos = [], 0
        for name, shape in zip(self.names, self.shapes, strict=True):
            n = prod(shape)
            out.append((name, pos, pos + n, shape))
            pos += n
        return out

    def split(self, vec: np.ndarray) -> dict[str, np.ndarray]:
        """Cut a flat vector into named arrays (views, no copy)."""
        check_vector(vec, self)
        return {name: vec[a:b].reshape(shape) for name, a, b, shape in self.offsets()}

    def join(self, arrays: dict[str, np.ndarray]) -> np.ndarray:
        """The inverse of :meth:`split`: named arrays to one float32 vector."""
        if set(arrays) != set(self.names):
            raise FormatError("tensor names do not match the model")
        parts = []
        for name, shape in zip(self.names, self.shapes, strict=True):
            a = np.asarray(arrays[name])
            if a.shape != shape:
                raise FormatError(f"tensor {name!r} has shape {a.shape}, expected {shape}")
            parts.append(a.astype(np.float32, copy=False).ravel())
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def spec_of(model: torch.nn.Module) -> ParamSpec:
    """The parameter layout of a PyTorch model (floating-point state only)."""
    sd = model.state_dict()
    names = tuple(k for k, v in sd.items() if v.is_floating_point())
    return ParamSpec(names, tuple(tuple(sd[k].shape) for k in names))


def get_vector(model: torch.nn.Module) -> np.ndarray:
    """The model's floating-point state as one float32 vector (a copy)."""
    sd = model.state_dict()
    parts = [
        v.detach().to("cpu").reshape(-1).float().numpy()
        for v in sd.values()
        if v.is_floating_point()
    ]
    return np.concatenate(parts).astype(np.float32, copy=True)


def set_vector(model: torch.nn.Module, vec: np.ndarray) -> None:
    """Load a flat vector into the model, refusing a wrong length, dtype or non-finite value."""
    import torch  # lazy: torch (≈1.3 s) only when a model is built or trained

    spec = spec_of(model)
    check_vector(vec, spec)
    sd = model.state_dict()
    with torch.no_grad():
        for name, a, b, shape in spec.offsets():
            sd[name].copy_(torch.from_numpy(np.ascontiguousarray(vec[a:b])).reshape(shape))


def check_vector(vec: object, spec: ParamSpec) -> np.ndarray:
    """Validate an incoming vector: a 1-D float32 array of the spec's size."""
    if not isinstance(vec, np.ndarray) or vec.ndim != 1:
        raise FormatError("parameters must be a 1-D numpy array")
    if vec.dtype != np.float32:
        raise FormatError(f"parameters must be float32, got {vec.dtype}")
    if vec.size != spec.size:
        raise FormatError(f"parameter vector has {vec.size} values, the model needs {spec.size}")
    return vec
