"""Fixed keys for the harnesses (derived from labels, so every run opens with the same identity)."""

from __future__ import annotations

import hashlib


def fixed_bytes(label: str, n: int = 32) -> bytes:
    """``n`` reproducible bytes for ``label`` (SHAKE-256 of the label; not secret)."""
    return hashlib.shake_256(f"veil fuzz {label}".encode()).digest(n)
