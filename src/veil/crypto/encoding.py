"""Strict base64 codecs: one spelling per byte string, so MACs and signatures cover *the* bytes.

The standard library's decoders accept padding variants and ignore trailing bits; these
refuse them (see docs/format-sealed.md, Conventions).
"""

from __future__ import annotations

import base64
import binascii

_STD = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_URL = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def b64encode(data: bytes) -> str:
    """Standard base64 without padding."""
    return base64.b64encode(data).decode("ascii").rstrip("=")


def b64url_encode(data: bytes) -> str:
    """URL-safe base64 without padding (recipient and identity strings, JWE)."""
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _decode(text: str | bytes, alphabet: frozenset[int], url: bool) -> bytes:
    raw = text.encode("ascii", "strict") if isinstance(text, str) else bytes(text)
    if any(c not in alphabet for c in raw) or len(raw) % 4 == 1:
        raise ValueError("invalid base64")
    padded = raw + b"=" * (-len(raw) % 4)
    try:
        out = base64.urlsafe_b64decode(padded) if url else base64.b64decode(padded, validate=True)
    except binascii.Error as exc:
        raise ValueError("invalid base64") from exc
    # canonical: re-encoding gives the same text (no stray trailing bits)
    if (b64url_encode(out) if url else b64encode(out)).encode("ascii") != raw:
        raise ValueError("non-canonical base64")
    return out


def b64decode(text: str | bytes) -> bytes:
    """Decode unpadded, canonical standard base64; ValueError otherwise."""
    return _decode(text, _STD, url=False)


def b64url_decode(text: str | bytes) -> bytes:
    """Decode unpadded, canonical URL-safe base64; ValueError otherwise."""
    return _decode(text, _URL, url=True)
