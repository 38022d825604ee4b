"""PINE test fixtures: the official vectors, vendored in ``tests/vectors/pine``
(a missing folder FAILS, never skips)."""

from __future__ import annotations

from pathlib import Path

import pytest


def pine_vectors_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "vectors" / "pine"


@pytest.fixture(scope="session")
def pine_vectors() -> Path:
    d = pine_vectors_dir()
    if not sorted(d.glob("Pine*.json")):
        pytest.fail(f"no Pine*.json vector files in {d} (see tests/vectors/README.md)")
    return d
