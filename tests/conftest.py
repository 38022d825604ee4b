"""Shared fixtures: keys are costly to make (RSA), so one of each kind per session."""

from __future__ import annotations

import os

import pytest

from veil.crypto.keys import Identity, generate_identity

os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
os.environ.setdefault("FLWR_DISABLE_UPDATE_CHECK", "1")


@pytest.fixture(scope="session")
def identities() -> dict[str, Identity]:
    """One identity of every sealing kind."""
    return {k: generate_identity(k) for k in ("x25519", "mlkem768-x25519", "rsa-3072")}


@pytest.fixture(scope="session")
def signer() -> Identity:
    return generate_identity("ed25519")
