"""Where the official ristretto255 vectors and veil's frozen zk vectors live (both vendored)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FROZEN = REPO / "tests" / "vectors" / "zk"


def conformance_dir() -> Path:
    """``tests/vectors/ristretto255`` (RFC 9496 Appendix A); missing means FAIL."""
    path = REPO / "tests" / "vectors" / "ristretto255"
    if not (path / "ristretto255.json").is_file():
        raise FileNotFoundError(f"RFC 9496 vectors not found at {path} (tests/vectors/README.md)")
    return path
