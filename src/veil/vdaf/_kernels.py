"""Compiled (numba) kernels: field products, sums and radix-2 NTTs for all four fields.

Why compiled: a Field64 product written with numpy 32-bit limbs costs ~85 ns per
element and a Field128 product on numpy object arrays ~440 ns (measured, see
docs/vdaf.md); these kernels do the same work in ~3 ns and ~15–30 ns. Element-wise
kernels are numpy ufuncs (they broadcast); ``mul128_3d`` reads broadcast views
directly; the NTTs transform each row of a matrix in place.

Representation: Field32/40/64 elements are ``uint64``; Field128 elements are pairs
``[lo, hi]`` of ``uint64`` on the last axis (value = lo + hi·2⁶⁴). Inputs must be
canonical (< p); outputs are canonical.

This module imports numba; :mod:`veil.vdaf.field` imports it lazily on first use.
"""

from __future__ import annotations

import numpy as np
from numba import guvectorize, njit, vectorize

_U = np.uint64
_M32 = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)
_ONE = np.uint64(1)
_ZERO = np.uint64(0)

# Field64: p = 2^64 - 2^32 + 1; 2^64 ≡ 2^32 - 1 (mod p)
_P64 = np.uint64(2**64 - 2**32 + 1)
_EPS64 = np.uint64(2**32 - 1)

# Field128: p = 2^128 - 7·2^66 + 1
_P128_LO = np.uint64((2**128 - 7 * 2**66 + 1) & (2**64 - 1))
_P128_HI = np.uint64((2**128 - 7 * 2**66 + 1) >> 64)


@njit(inline="always")
def _mul64x64(a, b):  # pragma: no cover - compiled
    """Full 128-bit product of two uint64 values, as (lo, hi)."""
    a0 = a & _M32
    a1 = a >> _S32
    b0 = b & _M32
    b1 = b >> _S32
    p00 = a0 * b0
    p01 = a0 * b1
    p10 = a1 * b0
    p11 = a1 * b1
    mid = (p00 >> _S32) + (p01 & _M32) + (p10 & _M32)
    lo = (p00 & _M32) | ((mid & _M32) << _S32)
    hi = p11 + (p01 >> _S32) + (p10 >> _S32) + (mid >> _S32)
    return lo, hi


@njit(inline="always")
def _red64(lo, hi):  # pragma: no cover - compiled
    """Reduce hi·2⁶⁴ + lo modulo the Field64 prime."""
    hh = hi >> _S32
    hl = hi & _M32
    t0 = lo - hh
    if lo < hh:
        t0 -= _EPS64
    t1 = hl * _EPS64
    t2 = t0 + t1
    if t2 < t1:
        t2 += _EPS64
    if t2 >= _P64:
        t2 -= _P64
    return t2


@vectorize(["uint64(uint64, uint64)"], cache=True, nopython=True)
def mul64(a, b):  # pragma: no cover - compiled
    lo, hi = _mul64x64(a, b)
    return _red64(lo, hi)


@vectorize(["uint64(uint64, uint64)"], cache=True, nopython=True)
def add64(a, b):  # pragma: no cover - compiled
    s = a + b
    if s < a:  # wrapped past 2^64: add 2^64 mod p
        s += _EPS64
    if s >= _P64:
        s -= _P64
    return s


@vectorize(["uint64(uint64, uint64)"], cache=True, nopython=True)
def sub64(a, b):  # pragma: no cover - compiled
    if a >= b:
        return a - b
    return a + (_P64 - b)


@njit(inline="always")
def _mul128(a0, a1, b0, b1):  # pragma: no cover - compiled
    """(a1·2⁶⁴ + a0)·(b1·2⁶⁴ + b0) mod p with scalar limbs only (no arrays)."""
    x0 = a0 & _M32
    x1 = a0 >> _S32
    x2 = a1 & _M32
    x3 = a1 >> _S32
    y0 = b0 & _M32
    y1 = b0 >> _S32
    y2 = b1 & _M32
    y3 = b1 >> _S32
    t = x0 * y0
    r0 = t & _M32
    c = t >> _S32
    t = x0 * y1 + c
    r1 = t & _M32
    c = t >> _S32
    t = x0 * y2 + c
    r2 = t & _M32
    c = t >> _S32
    t = x0 * y3 + c
    r3 = t & _M32
    c = t >> _S32
    r4 = c
    t = x1 * y0 + r1
    r1 = t & _M32
    c = t >> _S32
    t = x1 * y1 + r2 + c
    r2 = t & _M32
    c = t >> _S32
    t = x1 * y2 + r3 + c
    r3 = t & _M32
    c = t >> _S32
    t = x1 * y3 + r4 + c
    r4 = t & _M32
    c = t >> _S32
    r5 = c
    t = x2 * y0 + r2
    r2 = t & _M32
    c = t >> _S32
    t = x2 * y1 + r3 + c
    r3 = t & _M32
    c = t >> _S32
    t = x2 * y2 + r4 + c
    r4 = t & _M32
    c = t >> _S32
    t = x2 * y3 + r5 + c
    r5 = t & _M32
    c = t >> _S32
    r6 = c
    t = x3 * y0 + r3
    r3 = t & _M32
    c = t >> _S32
    t = x3 * y1 + r4 + c
    r4 = t & _M32
    c = t >> _S32
    t = x3 * y2 + r5 + c
    r5 = t & _M32
    c = t >> _S32
    t = x3 * y3 + r6 + c
    r6 = t & _M32
    c = t >> _S32
    r7 = c
    # 2^128 ≡ 28·2^64 − 1 and 2^192 ≡ 783·2^64 − 28 (mod p): fold limbs 4..7 at once
    m = np.int64(0xFFFFFFFF)
    sh = np.int64(32)
    q4 = np.int64(r4)
    q5 = np.int64(r5)
    q6 = np.int64(r6)
    q7 = np.int64(r7)
    v = np.int64(r0) - q4 - 28 * q6
    s0 = v & m
    c = v >> sh
    v = np.int64(r1) - q5 - 28 * q7 + c
    s1 = v & m
    c = v >> sh
    v = np.int64(r2) + 28 * q4 + 783 * q6 + c
    s2 = v & m
    c = v >> sh
    v = np.int64(r3) + 28 * q5 + 783 * q7 + c
    s3 = v & m
    c = v >> sh
    while c != 0:  # value = s + c·2^128, |c| small: fold again (≤ 2 more times)
        v = s0 - c
        s0 = v & m
        c0 = v >> sh
        v = s1 + c0
        s1 = v & m
        c0 = v >> sh
        v = s2 + 28 * c + c0
        s2 = v & m
        c0 = v >> sh
        v = s3 + c0
        s3 = v & m
        c = v >> sh
    lo = np.uint64(s0) | (np.uint64(s1) << _S32)
    hi = np.uint64(s2) | (np.uint64(s3) << _S32)
    if hi > _P128_HI or (hi == _P128_HI and lo >= _P128_LO):
        borrow = _ONE if lo < _P128_LO else _ZERO
        lo = lo - _P128_LO
        hi = hi - _P128_HI - borrow
    return lo, hi


@njit(cache=True)
def mul128_flat(a, b, out):  # pragma: no cover - compiled
    """out[i] = a[i]·b[i] for (n, 2) arrays (broadcasting is done by the caller)."""
    for idx in range(a.shape[0]):
        lo, hi = _mul128(a[idx, 0], a[idx, 1], b[idx, 0], b[idx, 1])
        out[idx, 0] = lo
        out[idx, 1] = hi


@njit(cache=True)
def mul128_3d(a, b, out):  # pragma: no cover - compiled
    """out = a·b for (R, C, 2) arrays of any strides (stride-0 broadcast views welcome)."""
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            lo, hi = _mul128(a[i, j, 0], a[i, j, 1], b[i, j, 0], b[i, j, 1])
            out[i, j, 0] = lo
            out[i, j, 1] = hi


@njit(inline="always")
def _add128(a0, a1, b0, b1):  # pragma: no cover - compiled
    lo = a0 + b0
    c = _ONE if lo < a0 else _ZERO
    hi = a1 + b1
    c2 = hi < a1
    hi2 = hi + c
    if hi2 < hi:
        c2 = True
    if c2 or hi2 > _P128_HI or (hi2 == _P128_HI and lo >= _P128_LO):
        borrow = _ONE if lo < _P128_LO else _ZERO
        lo = lo - _P128_LO
        hi2 = hi2 - _P128_HI - borrow
    return lo, hi2


@njit(inline="always")
def _sub128(a0, a1, b0, b1):  # pragma: no cover - compiled
    lo = a0 - b0
    borrow = _ONE if a0 < b0 else _ZERO
    hi = a1 - b1 - borrow
    if a1 < b1 or (a1 == b1 and borrow == _ONE):
        lo2 = lo + _P128_LO
        c = _ONE if lo2 < lo else _ZERO
        hi = hi + _P128_HI + c
        lo = lo2
    return lo, hi


@njit(cache=True)
def ntt128(x, rev, tw):  # pragma: no cover - compiled
    """In-place radix-2 NTT of each row of x (rows, n, 2): natural-order output.

    ``rev`` is the bit-reversal permutation; ``tw[h + j]`` = root(2h)**j for each
    stage half-size h (so ``tw`` has n entries, index 0 unused)."""
    rows, n = x.shape[0], x.shape[1]
    tmp = np.empty((n, 2), np.uint64)
    for row in range(rows):
        for i in range(n):
            tmp[i, 0] = x[row, rev[i], 0]
            tmp[i, 1] = x[row, rev[i], 1]
        half = 1
        while half < n:
            for start in range(0, n, 2 * half):
                for j in range(half):
                    u = start + j
                    v = u + half
                    if j == 0:
                        m0 = tmp[v, 0]
                        m1 = tmp[v, 1]
                    else:
                        m0, m1 = _mul128(tmp[v, 0], tmp[v, 1], tw[half + j, 0], tw[half + j, 1])
                    s0, s1 = _add128(tmp[u, 0], tmp[u, 1], m0, m1)
                    d0, d1 = _sub128(tmp[u, 0], tmp[u, 1], m0, m1)
                    tmp[u, 0] = s0
                    tmp[u, 1] = s1
                    tmp[v, 0] = d0
                    tmp[v, 1] = d1
            half *= 2
        for i in range(n):
            x[row, i, 0] = tmp[i, 0]
            x[row, i, 1] = tmp[i, 1]


@njit(cache=True)
def ntt64(x, rev, tw):  # pragma: no cover - compiled
    """Field64 version of :func:`ntt128` on x (rows, n)."""
    rows, n = x.shape[0], x.shape[1]
    tmp = np.empty(n, np.uint64)
    for row in range(rows):
        for i in range(n):
            tmp[i] = x[row, rev[i]]
        half = 1
        while half < n:
            for start in range(0, n, 2 * half):
                for j in range(half):
                    u = start + j
                    v = u + half
                    if j == 0:
                        m = tmp[v]
                    else:
                        lo, hi = _mul64x64(tmp[v], tw[half + j])
                        m = _red64(lo, hi)
                    a = tmp[u]
                    s = a + m
                    if s < a:
                        s += _EPS64
                    if s >= _P64:
                        s -= _P64
                    d = a - m if a >= m else a + (_P64 - m)
                    tmp[u] = s
                    tmp[v] = d
            half *= 2
        for i in range(n):
            x[row, i] = tmp[i]


_P32 = np.uint64(4293918721)
_P40 = np.uint64(2**20 * 1048555 + 1)
_M20 = np.uint64((1 << 20) - 1)
_S20 = np.uint64(20)


@njit(inline="always")
def _mulmod32(a, b):  # pragma: no cover - compiled
    return (a * b) % _P32


@njit(inline="always")
def _mulmod40(a, b):  # pragma: no cover - compiled
    lo = (a * (b & _M20)) % _P40
    hi = (((a * (b >> _S20)) % _P40) << _S20) % _P40
    s = lo + hi
    if s >= _P40:
        s -= _P40
    return s


@vectorize(["uint64(uint64, uint64)"], cache=True, nopython=True)
def mul32(a, b):  # pragma: no cover - compiled
    return _mulmod32(a, b)


@vectorize(["uint64(uint64, uint64)"], cache=True, nopython=True)
def mul40(a, b):  # pragma: no cover - compiled
    return _mulmod40(a, b)


@vectorize(["uint64(uint64, uint64, uint64)"], cache=True, nopython=True)
def addmod(a, b, p):  # pragma: no cover - compiled
    """(a + b) mod p for p < 2^63 and canonical a, b."""
    s = a + b
    return s - p if s >= p else s


@vectorize(["uint64(uint64, uint64, uint64)"], cache=True, nopython=True)
def submod(a, b, p):  # pragma: no cover - compiled
    """(a − b) mod p for canonical a, b."""
    return a - b if a >= b else a + (p - b)


def _small_ntt(mulmod, modulus):  # pragma: no cover - compiled
    """Build the radix-2 NTT of :func:`ntt64` for a small prime (p < 2^41)."""

    @njit(cache=True)
    def kernel(x, rev, tw):
        rows, n = x.shape[0], x.shape[1]
        tmp = np.empty(n, np.uint64)
        for row in range(rows):
            for i in range(n):
                tmp[i] = x[row, rev[i]]
            half = 1
            while half < n:
                for start in range(0, n, 2 * half):
                    for j in range(half):
                        u = start + j
                        v = u + half
                        m = tmp[v] if j == 0 else mulmod(tmp[v], tw[half + j])
                        a = tmp[u]
                        s = a + m
                        if s >= modulus:
                            s -= modulus
                        tmp[u] = s
                        tmp[v] = a - m if a >= m else a + (modulus - m)
                half *= 2
            for i in range(n):
                x[row, i] = tmp[i]

    return kernel


ntt32 = _small_ntt(_mulmod32, _P32)
ntt40 = _small_ntt(_mulmod40, _P40)


@guvectorize(["void(uint64[:], uint64[:], uint64[:])"], "(n),(n)->(n)", cache=True, nopython=True)
def add128(a, b, out):  # pragma: no cover - compiled
    lo, hi = _add128(a[0], a[1], b[0], b[1])
    out[0] = lo
    out[1] = hi


@guvectorize(["void(uint64[:], uint64[:], uint64[:])"], "(n),(n)->(n)", cache=True, nopython=True)
def sub128(a, b, out):  # pragma: no cover - compiled
    lo, hi = _sub128(a[0], a[1], b[0], b[1])
    out[0] = lo
    out[1] = hi
