"""The ristretto255 group (RFC 9496) through libsodium, bundled by ``rbcl``.

Why ``rbcl``: it ships its own libsodium build, so nothing has to be installed from the
operating system (``pysodium`` needs the Debian ``libsodium23`` package), and it exposes
every ``crypto_core_ristretto255_*`` / ``crypto_scalarmult_ristretto255*`` function.

Representation
--------------
* A **point** is its canonical 32-byte encoding (RFC 9496 §4.3.2). Every point that
  enters from outside goes through :func:`decode_point`, which accepts only the canonical
  encoding of a valid element and raises :class:`~veil.errors.EncodingError` otherwise.
  libsodium's ``crypto_core_ristretto255_is_valid_point`` (RFC 9496 §4.3.1 DECODE) is not
  enough on its own: the libsodium 1.0.18 that ``rbcl`` bundles ignores bit 255, so
  ``P`` with that bit set decodes as ``P`` (and ``00…0080`` is the identity under another
  name, which an ``== IDENTITY`` check would miss). So :func:`decode_point` also rejects
  ``s ≥ p`` (which covers bit 255) and odd ("negative") ``s``, and then re-encodes the
  decoded element and compares bytes in constant time. As a second line, :func:`mul`,
  :func:`add` and :func:`sub` check libsodium's return codes, so a point that skipped
  decoding (an object built in memory) raises ``EncodingError`` instead of silently
  acting as the identity.
* A **scalar** is a Python ``int`` in ``[0, ℓ)``. :func:`decode_scalar` rejects
  non-canonical encodings (``≥ ℓ``). Scalar arithmetic uses Python integers: libsodium's
  ``crypto_core_ristretto255_scalar_*`` calls cost more in FFI overhead than the operation
  itself. Python integer arithmetic is **not constant time**; see ``docs/zk.md``. Scalar
  multiplications (where secret scalars meet points) run inside libsodium.

Cost accounting
---------------
libsodium has no multi-scalar multiplication, so every ``s·P`` is one full scalar
multiplication (~50–60 µs). :func:`count_ops` counts them (and base-point multiplications
and additions) so tests and benchmarks can hold the proof systems to their budgets.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import hmac
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import rbcl
from rbcl import _sodium  # the bundled libsodium (ctypes CDLL), called directly on hot paths

from veil.errors import EncodingError

__all__ = [
    "BASEPOINT",
    "IDENTITY",
    "ORDER",
    "OpCount",
    "add",
    "count_ops",
    "decode_point",
    "decode_scalar",
    "encode_scalar",
    "hash_to_group",
    "hash_to_point",
    "msm",
    "mul",
    "mul_base",
    "neg",
    "scalar_from_uniform",
    "sub",
]

#: ℓ, the prime order of ristretto255 (RFC 9496 §4.1)
ORDER = 2**252 + 27742317777372353535851937790883648493
#: p = 2²⁵⁵ − 19: a canonical encoding is a field element ``s < p`` (RFC 9496 §4.3.1)
FIELD_P = 2**255 - 19
#: encoding of the identity element
IDENTITY = bytes(32)
#: encoding of the standard generator B (RFC 9496 §4.4)
BASEPOINT = bytes.fromhex("e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76")

_POINT = ctypes.c_char * 32


def _remove_rbcl_tempfile() -> None:
    """rbcl writes its bundled libsodium to a new temporary file on every import and never
    deletes it (≈ 2.8 MB per process in /tmp). Once the library is loaded, POSIX lets us
    unlink the file; elsewhere it stays (and the error is ignored)."""
    path = getattr(sys.modules.get("rbcl._sodium"), "lib_path", None)
    if os.name == "posix" and isinstance(path, str) and path.endswith(".so"):
        with contextlib.suppress(OSError):
            os.unlink(path)


_remove_rbcl_tempfile()


@dataclass
class OpCount:
    """Group operations performed inside a :func:`count_ops` block."""

    mul: int = 0  #: variable-base scalar multiplications
    mul_base: int = 0  #: fixed-base (standard generator) scalar multiplications
    add: int = 0  #: point additions and subtractions

    @property
    def scalar_mults(self) -> int:
        """All scalar multiplications, fixed-base ones included (the budgets count these)."""
        return self.mul + self.mul_base


# running totals; count_ops() reports differences, so nesting works and counting is cheap
_totals = [0, 0, 0]


@contextmanager
def count_ops() -> Iterator[OpCount]:
    """Count group operations in the ``with`` block; the yielded object fills in at exit."""
    start = list(_totals)
    result = OpCount()
    try:
        yield result
    finally:
        result.mul = _totals[0] - start[0]
        result.mul_base = _totals[1] - start[1]
        result.add = _totals[2] - start[2]


def encode_scalar(s: int) -> bytes:
    """Canonical 32-byte little-endian encoding of ``s mod ℓ``."""
    return (s % ORDER).to_bytes(32, "little")


def decode_scalar(data: bytes) -> int:
    """Decode a canonical scalar; non-canonical (``≥ ℓ``) or wrong-length input is rejected."""
    if not isinstance(data, bytes | bytearray) or len(data) != 32:
        raise EncodingError("a scalar is exactly 32 bytes")
    s = int.from_bytes(data, "little")
    if s >= ORDER:
        raise EncodingError("non-canonical scalar (not reduced modulo ℓ)")
    return s


def scalar_from_uniform(data: bytes) -> int:
    """Reduce 64 uniform bytes modulo ℓ (as libsodium's ``scalar_reduce``): unbiased."""
    if len(data) != 64:
        raise ValueError("scalar_from_uniform needs exactly 64 bytes")
    return int.from_bytes(data, "little") % ORDER


def _is_canonical_point(data: bytes) -> bool:
    """Whether ``data`` is the canonical encoding of a ristretto255 element (RFC 9496 §4.3.1).

    The range checks are on public bytes (no secret involved). libsodium does the curve
    work: it validates, then ``data + identity`` re-encodes the decoded element, which must
    give back the same bytes, so no other non-canonical form libsodium might accept passes.
    """
    s = int.from_bytes(data, "little")
    if s >= FIELD_P or s & 1:  # non-canonical field element (incl. bit 255 set), or negative
        return False
    if not rbcl.crypto_core_ristretto255_is_valid_point(data):
        return False
    again = _POINT()
    if _sodium.crypto_core_ristretto255_add(again, data, IDENTITY):  # not counted: no group op
        return False
    return hmac.compare_digest(again.raw, data)


def decode_point(data: bytes, *, allow_identity: bool = True) -> bytes:
    """Validate a 32-byte encoding (RFC 9496 §4.3.1, canonical only) and return ``bytes``."""
    if not isinstance(data, bytes | bytearray) or len(data) != 32:
        raise EncodingError("a ristretto255 point is exactly 32 bytes")
    data = bytes(data)
    if not _is_canonical_point(data):
        raise EncodingError("invalid or non-canonical ristretto255 point encoding")
    if not allow_identity and hmac.compare_digest(data, IDENTITY):
        raise EncodingError("the identity is not allowed here")
    return data


def hash_to_group(uniform: bytes) -> bytes:
    """RFC 9496 §4.3.4 element derivation from 64 uniform bytes (libsodium ``from_hash``)."""
    if len(uniform) != 64:
        raise ValueError("hash_to_group needs exactly 64 bytes")
    return rbcl.crypto_core_ristretto255_from_hash(bytes(uniform))


def hash_to_point(label: bytes) -> bytes:
    """A nothing-up-my-sleeve point: ``hash_to_group(SHA-512(label))``."""
    return hash_to_group(hashlib.sha512(label).digest())


def _require_valid(p: bytes) -> None:
    if not isinstance(p, bytes) or len(p) != 32:
        raise EncodingError("a ristretto255 point is exactly 32 bytes")
    if not _is_canonical_point(p):
        raise EncodingError("invalid or non-canonical ristretto255 point encoding")


def mul(s: int, p: bytes) -> bytes:
    """``s·P`` (identity allowed). An invalid ``P`` raises ``EncodingError``, at no cost
    on the normal path: libsodium reports it, and only then is ``P`` re-checked."""
    q = _POINT()
    # libsodium returns -1 (leaving q zeroed = identity) when the product is the identity
    # and also when P does not decode: tell the two apart only on that rare path.
    if _sodium.crypto_scalarmult_ristretto255(q, (s % ORDER).to_bytes(32, "little"), p):
        _require_valid(p)
    _totals[0] += 1
    return q.raw


def mul_base(s: int) -> bytes:
    """``s·B`` for the standard generator (libsodium's precomputed table: ~3× faster)."""
    q = _POINT()
    _sodium.crypto_scalarmult_ristretto255_base(q, (s % ORDER).to_bytes(32, "little"))
    _totals[1] += 1
    return q.raw


def add(p: bytes, q: bytes) -> bytes:
    """``P + Q``."""
    r = _POINT()
    if _sodium.crypto_core_ristretto255_add(r, p, q):  # -1: an input does not decode
        raise EncodingError("invalid ristretto255 point in an addition")
    _totals[2] += 1
    return r.raw


def sub(p: bytes, q: bytes) -> bytes:
    """``P − Q``."""
    r = _POINT()
    if _sodium.crypto_core_ristretto255_sub(r, p, q):  # -1: an input does not decode
        raise EncodingError("invalid ristretto255 point in a subtraction")
    _totals[2] += 1
    return r.raw


def neg(p: bytes) -> bytes:
    """``−P``."""
    return sub(IDENTITY, p)


def msm(scalars: Sequence[int], points: Sequence[bytes], *, base_scalar: int = 0) -> bytes:
    """``base_scalar·B + Σ sᵢ·Pᵢ``, one libsodium multiplication per non-trivial term.

    Scalars 0, 1 and −1 cost no multiplication (skip, add, subtract). Without a
    multi-scalar multiplication in libsodium this is the best available: callers keep the
    number of terms low instead.
    """
    if len(scalars) != len(points):
        raise ValueError("msm: as many scalars as points")
    acc: bytes | None = None
    if base_scalar % ORDER:
        acc = mul_base(base_scalar)
    minus_one = ORDER - 1
    for s, p in zip(scalars, points, strict=True):
        s %= ORDER
        if s == 0:
            continue
        if s == minus_one:
            acc = neg(p) if acc is None else sub(acc, p)
            continue
        term = p if s == 1 else mul(s, p)
        acc = term if acc is None else add(acc, term)
    return IDENTITY if acc is None else acc
