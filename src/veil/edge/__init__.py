"""A device client without PyTorch: numpy models, local SGD, verified reports (docs/edge.md).

``pip install veil`` (the core, or ``veil[edge]``) is enough: the models are numpy with
hand-derived gradients, and a device's report is the same PINE-verified, HPKE-sealed, signed
report every other client sends. The names load on first use (PEP 562), so importing this
package costs nothing until a device is built.

>>> from veil.edge import EdgeDevice, LocalSGD, SmallMLP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from veil.edge.device import EdgeDevice, EdgeUpdate, LocalSGD, local_train
    from veil.edge.models import SmallMLP, SoftmaxRegression

#: name -> module that defines it, loaded by __getattr__ on first access
_LAZY = {
    "EdgeDevice": "veil.edge.device",
    "EdgeUpdate": "veil.edge.device",
    "LocalSGD": "veil.edge.device",
    "local_train": "veil.edge.device",
    "SmallMLP": "veil.edge.models",
    "SoftmaxRegression": "veil.edge.models",
}

__all__ = [
    "EdgeDevice",
    "EdgeUpdate",
    "LocalSGD",
    "SmallMLP",
    "SoftmaxRegression",
    "local_train",
]


def __getattr__(name: str) -> Any:
    """Load a public name from its module on first access, then keep it here."""
    if name not in _LAZY:
        raise AttributeError(f"module 'veil.edge' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
