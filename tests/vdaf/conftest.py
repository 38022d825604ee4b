"""Locate the official VDAF test vectors, vendored in ``tests/vectors/vdaf``.

A missing folder is a test FAILURE (conformance must never silently skip).
"""

from __future__ import annotations

from pathlib import Path

import pytest

VECTORS = Path(__file__).resolve().parents[1] / "vectors"


@pytest.fixture(scope="session")
def vdaf_vectors() -> Path:
    d = VECTORS / "vdaf"
    if not sorted(d.glob("*.json")):
        pytest.fail(f"missing VDAF vectors in {d} (see tests/vectors/README.md)")
    return d
