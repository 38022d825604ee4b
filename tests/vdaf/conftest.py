"""Locate the official test vectors: ``<repo>/../shared/testvectors`` or $VEIL_TESTVECTORS.

A missing folder is a test FAILURE (conformance must never silently skip).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def testvectors_root() -> Path:
    env = os.environ.get("VEIL_TESTVECTORS")
    candidates = [Path(__file__).resolve().parents[2] / ".." / "shared" / "testvectors"]
    if env:
        candidates.insert(0, Path(env))
    for c in candidates:
        if c.is_dir():
            return c.resolve()
    pytest.fail(f"official test vectors not found (looked in {[str(c) for c in candidates]})")


@pytest.fixture(scope="session")
def vdaf_vectors() -> Path:
    d = testvectors_root() / "vdaf"
    if not d.is_dir():
        pytest.fail(f"missing VDAF vectors folder {d}")
    return d
