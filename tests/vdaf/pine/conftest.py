"""PINE test fixtures: the official vectors folder (a missing folder FAILS, never skips)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def pine_vectors_dir() -> Path:
    env = os.environ.get("VEIL_TESTVECTORS")
    candidates = [Path(__file__).resolve().parents[3] / ".." / "shared" / "testvectors"]
    if env:
        candidates.insert(0, Path(env))
    for c in candidates:
        if (c / "pine").is_dir():
            return (c / "pine").resolve()
    pytest.fail(f"PINE test vectors not found (looked in {[str(c) for c in candidates]})")


@pytest.fixture(scope="session")
def pine_vectors() -> Path:
    d = pine_vectors_dir()
    if not sorted(d.glob("Pine*.json")):
        pytest.fail(f"no Pine*.json vector files in {d}")
    return d
