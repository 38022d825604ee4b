"""Federated learning: models as flat parameter vectors, engine-neutral client updates and
aggregation strategies, an embedded in-process runner, and Flower apps wrapping the same logic.

Importing this package disables Flower's telemetry and update check: a privacy tool must not
phone home. Heavy modules (torch, flwr) are imported by the sub-modules that need them.
"""

from __future__ import annotations

import os

os.environ["FLWR_TELEMETRY_ENABLED"] = "0"
os.environ["FLWR_DISABLE_UPDATE_CHECK"] = "1"

#: environment every Flower process veil starts must carry
FLOWER_ENV = {"FLWR_TELEMETRY_ENABLED": "0", "FLWR_DISABLE_UPDATE_CHECK": "1"}
