"""Shared fixtures: keys are costly to make (RSA), so one of each kind per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from veil.crypto.keys import Identity, generate_identity

os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
os.environ.setdefault("FLWR_DISABLE_UPDATE_CHECK", "1")

REPO = Path(__file__).resolve().parents[1]


def testvectors_dir() -> Path:
    """The official third-party vectors: ``shared/testvectors`` beside the repository."""
    env = os.environ.get("VEIL_TESTVECTORS")
    return Path(env) if env else (REPO / ".." / "shared" / "testvectors").resolve()


@pytest.fixture(scope="session")
def identities() -> dict[str, Identity]:
    """One identity of every sealing kind."""
    return {k: generate_identity(k) for k in ("x25519", "mlkem768-x25519", "rsa-3072")}


@pytest.fixture(scope="session")
def signer() -> Identity:
    return generate_identity("ed25519")
