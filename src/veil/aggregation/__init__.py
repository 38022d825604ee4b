"""Verified private aggregation: HPKE-sealed PINE reports, two aggregators, distributed DP.

docs/protocol.md is the specification (in the manner of draft-ietf-ppm-dap); docs/dp.md the
privacy notes. The Leader's API is :class:`VerifiedAggregator`; clients use
:class:`ReportBuilder`; the Helper runs as ``veil helper serve``.

.. warning:: This code has not undergone a security review. Python is not constant-time.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from veil.aggregation.client import ReportBuilder, clip_update
    from veil.aggregation.config import ConsortiumConfig, DpConfig
    from veil.aggregation.leader import RoundResult, VerifiedAggregator
    from veil.aggregation.messages import Reason

#: name -> module that defines it, loaded by __getattr__ on first access: importing
#: ``veil.aggregation.cli`` (for ``veil --help``) runs this file and must not load numpy and PINE
_LAZY = {
    "ReportBuilder": "veil.aggregation.client",
    "clip_update": "veil.aggregation.client",
    "ConsortiumConfig": "veil.aggregation.config",
    "DpConfig": "veil.aggregation.config",
    "RoundResult": "veil.aggregation.leader",
    "VerifiedAggregator": "veil.aggregation.leader",
    "Reason": "veil.aggregation.messages",
}

__all__ = [
    "ConsortiumConfig",
    "DpConfig",
    "Reason",
    "ReportBuilder",
    "RoundResult",
    "VerifiedAggregator",
    "clip_update",
]


def __getattr__(name: str) -> Any:
    """Load a public name from its module on first access, then keep it here."""
    if name not in _LAZY:
        raise AttributeError(f"module 'veil.aggregation' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
