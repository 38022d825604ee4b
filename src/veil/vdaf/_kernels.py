"""Source of the compiled kernels: field products, sums and radix-2 NTTs for all four fields.

Why compiled: a Field64 product written with numpy 32-bit limbs costs ~85 ns per
element and a Field128 product on numpy object arrays ~440 ns (measured, see
docs/vdaf.md); these kernels do the same work in ~3 ns and ~15–30 ns.

This module imports numba and is not imported on the report path: ``python -m
veil.vdaf.aot`` compiles the functions named in :data:`EXPORTS` ahead of time into an
extension module, and :mod:`veil.vdaf.kernels` (the interface the fields call) loads that,
so a fresh process pays neither numba's import nor a JIT (issue 18.2). Only when the
extension is missing or stale does ``kernels`` fall back to JIT-compiling these same
functions (``cache=True``).

The kernels made by factories (``_binary3d`` …) close over their scalar operation; numba
cannot reuse an on-disk cache for such closures (the captured dispatchers pickle
differently in every process), so they are not cached: the JIT fallback compiles them in
each process, which is what the ahead-of-time build exists to avoid.

Element-wise kernels take 3-D arrays of any strides (``kernels`` maps broadcast views onto
them without copies); the NTTs transform each row of a matrix in place.

Representation: Field32/40/64 elements are ``uint64``; Field128 elements are pairs
``[lo, hi]`` of ``uint64`` on the last axis (value = lo + hi·2⁶⁴). Inputs must be
canonical (< p); outputs are canonical.
"""

from __future__ import annotations

import numpy as np
from numba import njit

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


@njit(inline="always")
def _mul64(a, b):  # pragma: no cover - compiled
    lo, hi = _mul64x64(a, b)
    return _red64(lo, hi)


@njit(inline="always")
def _add64(a, b):  # pragma: no cover - compiled
    s = a + b
    if s < a:  # wrapped past 2^64: add 2^64 mod p
        s += _EPS64
    if s >= _P64:
        s -= _P64
    return s


@njit(inline="always")
def _sub64(a, b):  # pragma: no cover - compiled
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


@njit(inline="always")
def _addmod(a, b, p):  # pragma: no cover - compiled
    """(a + b) mod p for p < 2^63 and canonical a, b."""
    s = a + b
    return s - p if s >= p else s


@njit(inline="always")
def _submod(a, b, p):  # pragma: no cover - compiled
    """(a − b) mod p for canonical a, b."""
    return a - b if a >= b else a + (p - b)


def _small_ntt(mulmod, modulus):  # pragma: no cover - compiled
    """Build the radix-2 NTT of :func:`ntt64` for a small prime (p < 2^41)."""

    @njit
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


# ----- element-wise kernels on 3-D arrays of any strides ------------------------------
# An input axis of length 1 broadcasts against the output's (as in numpy), so a scalar or a
# row needs no copy: ``kernels`` only prepends length-1 axes.


def _binary3d(op):  # pragma: no cover - compiled
    """out[i, j, k] = op(a[i, j, k], b[i, j, k]) for one-limb fields, broadcasting."""

    @njit
    def kernel(a, b, out):
        a0, a1, a2 = a.shape[0] > 1, a.shape[1] > 1, a.shape[2] > 1
        b0, b1, b2 = b.shape[0] > 1, b.shape[1] > 1, b.shape[2] > 1
        for i in range(out.shape[0]):
            for j in range(out.shape[1]):
                for k in range(out.shape[2]):
                    out[i, j, k] = op(a[i * a0, j * a1, k * a2], b[i * b0, j * b1, k * b2])

    return kernel


def _modular3d(op):  # pragma: no cover - compiled
    """out[i, j, k] = op(a[i, j, k], b[i, j, k], p) for a small prime p, broadcasting."""

    @njit
    def kernel(a, b, out, p):
        a0, a1, a2 = a.shape[0] > 1, a.shape[1] > 1, a.shape[2] > 1
        b0, b1, b2 = b.shape[0] > 1, b.shape[1] > 1, b.shape[2] > 1
        for i in range(out.shape[0]):
            for j in range(out.shape[1]):
                for k in range(out.shape[2]):
                    out[i, j, k] = op(a[i * a0, j * a1, k * a2], b[i * b0, j * b1, k * b2], p)

    return kernel


def _limbs3d(op):  # pragma: no cover - compiled
    """out[i, j] = op(a[i, j], b[i, j]) for Field128 arrays (R, C, 2), broadcasting R, C."""

    @njit
    def kernel(a, b, out):
        a0, a1 = a.shape[0] > 1, a.shape[1] > 1
        b0, b1 = b.shape[0] > 1, b.shape[1] > 1
        for i in range(out.shape[0]):
            for j in range(out.shape[1]):
                ia, ja, ib, jb = i * a0, j * a1, i * b0, j * b1
                lo, hi = op(a[ia, ja, 0], a[ia, ja, 1], b[ib, jb, 0], b[ib, jb, 1])
                out[i, j, 0] = lo
                out[i, j, 1] = hi

    return kernel


def _binary_flat(op):  # pragma: no cover - compiled
    """The contiguous 1-D case of :func:`_binary3d` (a or b may hold one element): known
    strides let LLVM vectorise the loop, 2–4× faster than the strided kernel."""

    @njit
    def kernel(a, b, out):
        n = out.shape[0]
        if a.shape[0] == n and b.shape[0] == n:
            for i in range(n):
                out[i] = op(a[i], b[i])
        elif a.shape[0] == n:
            y = b[0]
            for i in range(n):
                out[i] = op(a[i], y)
        else:
            x = a[0]
            for i in range(n):
                out[i] = op(x, b[i * (b.shape[0] > 1)])

    return kernel


def _modular_flat(op):  # pragma: no cover - compiled
    """The contiguous 1-D case of :func:`_modular3d`."""

    @njit
    def kernel(a, b, out, p):
        n = out.shape[0]
        if a.shape[0] == n and b.shape[0] == n:
            for i in range(n):
                out[i] = op(a[i], b[i], p)
        elif a.shape[0] == n:
            y = b[0]
            for i in range(n):
                out[i] = op(a[i], y, p)
        else:
            x = a[0]
            for i in range(n):
                out[i] = op(x, b[i * (b.shape[0] > 1)], p)

    return kernel


def _limbs_flat(op):  # pragma: no cover - compiled
    """The contiguous (N, 2) case of :func:`_limbs3d`."""

    @njit
    def kernel(a, b, out):
        n = out.shape[0]
        sa, sb = a.shape[0] > 1, b.shape[0] > 1
        for i in range(n):
            lo, hi = op(a[i * sa, 0], a[i * sa, 1], b[i * sb, 0], b[i * sb, 1])
            out[i, 0] = lo
            out[i, 1] = hi

    return kernel


mul64_3d = _binary3d(_mul64)
add64_3d = _binary3d(_add64)
sub64_3d = _binary3d(_sub64)
mul32_3d = _binary3d(_mulmod32)
mul40_3d = _binary3d(_mulmod40)
addmod_3d = _modular3d(_addmod)
submod_3d = _modular3d(_submod)
mul128_3d = _limbs3d(_mul128)
add128_3d = _limbs3d(_add128)
sub128_3d = _limbs3d(_sub128)
mul64_flat = _binary_flat(_mul64)
add64_flat = _binary_flat(_add64)
sub64_flat = _binary_flat(_sub64)
mul32_flat = _binary_flat(_mulmod32)
mul40_flat = _binary_flat(_mulmod40)
addmod_flat = _modular_flat(_addmod)
submod_flat = _modular_flat(_submod)
mul128_flat = _limbs_flat(_mul128)
add128_flat = _limbs_flat(_add128)
sub128_flat = _limbs_flat(_sub128)

_A3 = "uint64[:, :, :]"
_E3 = f"void({_A3}, {_A3}, {_A3})"
_C1 = "uint64[::1]"
_F1 = f"void({_C1}, {_C1}, {_C1})"
_C2 = "uint64[:, ::1]"
_F2 = f"void({_C2}, {_C2}, {_C2})"
_NTT1 = "void(uint64[:, ::1], int64[::1], uint64[::1])"

#: every kernel :mod:`veil.vdaf.kernels` calls, with the one signature it is compiled for
#: (the ahead-of-time build needs explicit types; the JIT fallback uses the same)
EXPORTS: dict[str, str] = {
    "mul64_3d": _E3,
    "add64_3d": _E3,
    "sub64_3d": _E3,
    "mul32_3d": _E3,
    "mul40_3d": _E3,
    "addmod_3d": f"void({_A3}, {_A3}, {_A3}, uint64)",
    "submod_3d": f"void({_A3}, {_A3}, {_A3}, uint64)",
    "mul128_3d": _E3,
    "add128_3d": _E3,
    "sub128_3d": _E3,
    "mul64_flat": _F1,
    "add64_flat": _F1,
    "sub64_flat": _F1,
    "mul32_flat": _F1,
    "mul40_flat": _F1,
    "addmod_flat": f"void({_C1}, {_C1}, {_C1}, uint64)",
    "submod_flat": f"void({_C1}, {_C1}, {_C1}, uint64)",
    "mul128_flat": _F2,
    "add128_flat": _F2,
    "sub128_flat": _F2,
    "ntt32": _NTT1,
    "ntt40": _NTT1,
    "ntt64": _NTT1,
    "ntt128": "void(uint64[:, :, ::1], int64[::1], uint64[:, ::1])",
}
