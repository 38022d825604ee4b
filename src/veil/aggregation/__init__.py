"""Verified private aggregation: HPKE-sealed PINE reports, two aggregators, distributed DP.

docs/protocol.md is the specification (in the manner of draft-ietf-ppm-dap); docs/dp.md the
privacy notes. The Leader's API is :class:`VerifiedAggregator`; clients use
:class:`ReportBuilder`; the Helper runs as ``veil helper serve``.

.. warning:: This code has not undergone a security review. Python is not constant-time.
"""

from veil.aggregation.client import ReportBuilder, clip_update
from veil.aggregation.config import ConsortiumConfig, DpConfig
from veil.aggregation.leader import RoundResult, VerifiedAggregator
from veil.aggregation.messages import Reason

__all__ = [
    "ConsortiumConfig",
    "DpConfig",
    "Reason",
    "ReportBuilder",
    "RoundResult",
    "VerifiedAggregator",
    "clip_update",
]
