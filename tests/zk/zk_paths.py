"""Where the shared conformance vectors and veil's frozen zk vectors live."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FROZEN = REPO / "tests" / "vectors" / "zk"


def conformance_dir() -> Path:
    """``<repo>/../shared/testvectors`` or ``$VEIL_TESTVECTORS``; missing means FAIL."""
    env = os.environ.get("VEIL_TESTVECTORS")
    path = Path(env) if env else REPO / ".." / "shared" / "testvectors"
    if not (path / "ristretto255.json").is_file():
        raise FileNotFoundError(f"conformance vectors not found at {path} (set VEIL_TESTVECTORS)")
    return path
