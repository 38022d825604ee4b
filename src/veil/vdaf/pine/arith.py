"""Vectorised prime-field arithmetic for PINE's four fields (VDAF-11 conventions).

PINE (draft-chen-cfrg-vdaf-pine-02) runs on Field64 and Field128 of draft-irtf-cfrg-vdaf-11
§6.1 and on its own Field32 (p = 4293918721) and Field40 (p = 2^20·1048555 + 1), defined in
the reference code ``poc/field.py``.

This module is PINE's thin adapter over ``veil.vdaf.field``: Field32, Field40 and Field64
vectors are ``uint64`` arrays and their add/sub/mul/NTT run on that module's compiled
kernels; Field128 (only used at the vectors' small sizes) keeps ``object`` arrays of Python
ints, so that every PINE code path indexes a flat vector. The numpy Goldilocks multiply below
is a fallback and a cross-check in tests.

.. warning:: Pure Python/numpy arithmetic is not constant time. This code has not undergone
   significant security analysis.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from veil.errors import VdafEncodingError

_M32 = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)


def next_power_of_2(n: int) -> int:
    """Smallest power of two ≥ n (n ≥ 1)."""
    return 1 << (n - 1).bit_length()


@dataclass(frozen=True)
class Field:
    """One prime field: parameters plus vectorised operations on numpy arrays."""

    name: str
    MODULUS: int
    ENCODED_SIZE: int
    GEN: int
    GEN_ORDER: int
    fast: bool  # uint64 storage (True) or Python-int object storage (False)
    core: str | None = None  # name of the veil.vdaf.field class whose kernels to use
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    def _core(self):
        """The compiled (numba) kernels of ``veil.vdaf.field`` for this field, if any."""
        if self.core is None:
            return None
        c = self._cache.get("core")
        if c is None:
            from veil.vdaf import field as core_field

            c = self._cache["core"] = getattr(core_field, self.core)
        return c

    # ----- construction and conversion -------------------------------------------------
    @property
    def dtype(self) -> type:
        return np.uint64 if self.fast else object

    def zeros(self, n: int | tuple[int, ...]) -> np.ndarray:
        if self.fast:
            return np.zeros(n, dtype=np.uint64)
        return np.full(n, 0, dtype=object)

    def full(self, n: int, value: int) -> np.ndarray:
        if self.fast:
            return np.full(n, int(value) % self.MODULUS, dtype=np.uint64)
        return np.full(n, int(value) % self.MODULUS, dtype=object)

    def vec(self, values) -> np.ndarray:
        """Array of field elements from integers already in [0, p)."""
        if self.fast:
            return np.asarray(values, dtype=np.uint64)
        arr = np.empty(len(values), dtype=object)
        arr[:] = [int(v) for v in values]
        return arr

    def from_signed(self, values: np.ndarray) -> np.ndarray:
        """Reduce int64 (or object) signed integers mod p."""
        p = self.MODULUS
        if self.fast and values.dtype == np.int64:
            out = values.astype(np.uint64)
            neg = values < 0
            if p < 2**63:
                out = np.where(
                    neg, np.uint64(p) - (np.uint64(0) - out) % np.uint64(p), out % np.uint64(p)
                )
                return np.where(out == np.uint64(p), np.uint64(0), out)
            # Field64: |v| < 2^63 < p, so one correction suffices.
            return np.where(neg, out + np.uint64(p), out)  # wraps mod 2^64 to v + p
        ints = [int(v) % p for v in values]
        return self.vec(ints)

    def to_ints(self, a: np.ndarray) -> list[int]:
        return [int(x) for x in a]

    # ----- arithmetic ---------------------------------------------------------------------
    def add(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if not self.fast:
            return (a + b) % self.MODULUS
        if self.core is not None:
            return self._core().add(a, b)
        p = np.uint64(self.MODULUS)
        if self.MODULUS < 2**63:
            s = a + b
            return np.where(s >= p, s - p, s)
        s = a + b  # may wrap mod 2^64
        wrapped = s < a
        s = np.where(wrapped, s + np.uint64(0xFFFFFFFF), s)  # 2^64 ≡ 2^32 − 1
        return np.where(s >= p, s - p, s)

    def sub(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if not self.fast:
            return (a - b) % self.MODULUS
        if self.core is not None:
            return self._core().sub(a, b)
        p = np.uint64(self.MODULUS)
        d = a - b
        return np.where(a < b, d + p, d)

    def neg(self, a: np.ndarray) -> np.ndarray:
        if not self.fast:
            return (-a) % self.MODULUS
        p = np.uint64(self.MODULUS)
        return np.where(a == 0, a, p - a)

    def mul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if not self.fast:
            return (a * b) % self.MODULUS
        if self.core is not None:
            return self._core().mul(a, b)
        if self.MODULUS < 2**32:
            return (a * b) % np.uint64(self.MODULUS)
        return _goldilocks_mul(a, b)

    def sum(self, a: np.ndarray, axis: int | None = None):
        """Sum mod p (whole array → int, or along an axis → array)."""
        p = self.MODULUS
        if not self.fast:
            if axis is None:
                return int(np.sum(a)) % p if a.size else 0
            return np.sum(a, axis=axis) % p
        if axis is None:
            lo = int(np.sum(a & _M32, dtype=np.uint64))
            hi = int(np.sum(a >> _S32, dtype=np.uint64))
            return (lo + (hi << 32)) % p
        lo = np.sum(a & _M32, axis=axis, dtype=np.uint64) % np.uint64(p)
        hi = np.sum(a >> _S32, axis=axis, dtype=np.uint64) % np.uint64(p)
        return self.add(lo, self.mul(hi, np.uint64((1 << 32) % p)))

    def dot(self, a: np.ndarray, b: np.ndarray) -> int:
        return self.sum(self.mul(a, b))

    def inv(self, x: int) -> int:
        return pow(int(x), self.MODULUS - 2, self.MODULUS)

    def inv_vec(self, a: np.ndarray) -> np.ndarray:
        """Element-wise inverse (Fermat); zeros map to zero."""
        if not self.fast:
            return self.vec([pow(int(x), self.MODULUS - 2, self.MODULUS) for x in a])
        e = self.MODULUS - 2
        result = np.ones_like(a)
        base = a.copy()
        while e:
            if e & 1:
                result = self.mul(result, base)
            base = self.mul(base, base)
            e >>= 1
        return result

    def powers(self, x: int, n: int) -> np.ndarray:
        """[1, x, x², …, x^(n−1)] by doubling (log n vector multiplications)."""
        out = self.vec([1])
        xp = int(x) % self.MODULUS
        while len(out) < n:
            out = np.concatenate([out, self.mul(out, self.scalar(pow(xp, len(out), self.MODULUS)))])
        return out[:n]

    def scalar(self, x: int):
        return np.uint64(int(x) % self.MODULUS) if self.fast else int(x) % self.MODULUS

    # ----- encoding -------------------------------------------------------------------------
    def encode_vec(self, a: np.ndarray) -> bytes:
        """Little-endian, ENCODED_SIZE bytes per element (VDAF-11 §6.1)."""
        if self.fast:
            return _u64_to_le(a, self.ENCODED_SIZE)
        n = self.ENCODED_SIZE
        return b"".join(int(x).to_bytes(n, "little") for x in a)

    def decode_vec(self, data: bytes, *, operation: str) -> np.ndarray:
        """Inverse of :meth:`encode_vec`; rejects wrong lengths and values ≥ p."""
        n = self.ENCODED_SIZE
        if len(data) % n:
            raise VdafEncodingError(
                f"{self.name} vector of {len(data)} bytes is not a multiple of {n}",
                operation=operation,
            )
        if self.fast:
            a = _le_to_u64(data, n)
            if np.any(a >= np.uint64(self.MODULUS)):
                raise VdafEncodingError(f"{self.name} element out of range", operation=operation)
            return a
        vals = [int.from_bytes(data[i : i + n], "little") for i in range(0, len(data), n)]
        if any(v >= self.MODULUS for v in vals):
            raise VdafEncodingError(f"{self.name} element out of range", operation=operation)
        return self.vec(vals)

    def parse_candidates(self, buf: bytes) -> np.ndarray:
        """Rejection-sampling step of ``expand_into_vec``: mask, keep values < p, in order."""
        n = self.ENCODED_SIZE
        mask = next_power_of_2(self.MODULUS) - 1
        if self.fast:
            a = _le_to_u64(buf, n) & np.uint64(mask)
            return a[a < np.uint64(self.MODULUS)]
        vals = [int.from_bytes(buf[i : i + n], "little") & mask for i in range(0, len(buf), n)]
        return self.vec([v for v in vals if v < self.MODULUS])

    # ----- NTT over the 2-power roots of unity ------------------------------------------------
    def root(self, n: int) -> int:
        """A primitive n-th root of unity, GEN^(GEN_ORDER/n) (n a power of two)."""
        if n > self.GEN_ORDER or self.GEN_ORDER % n:
            raise ValueError(f"{self.name} has no primitive root of order {n}")
        return pow(self.GEN, self.GEN_ORDER // n, self.MODULUS)

    def ntt(self, a: np.ndarray, inverse: bool = False) -> np.ndarray:
        """Evaluate (or interpolate) along the last axis at the powers of root(n).

        Forward: out[k] = Σ_i a[i]·ω^(ik). Inverse: the coefficients whose forward
        transform is ``a``. Radix-2 decimation in time, one vectorised pass per stage.
        """
        n = a.shape[-1]
        if n == 1:
            return a.copy()
        if self.core is not None and a.ndim <= 2:
            c = self._core()
            return c.intt(a) if inverse else c.ntt(a, n)
        omega = self.root(n)
        if inverse:
            omega = self.inv(omega)
        lead = a.shape[:-1]
        x = a[..., _bitrev(n)]
        m = 1
        while m < n:
            w = self._twiddles(omega, n, m)
            x = x.reshape(*lead, n // (2 * m), 2, m)
            u = x[..., 0, :]
            v = self.mul(x[..., 1, :], w)
            x = np.stack([self.add(u, v), self.sub(u, v)], axis=-2)
            m *= 2
        x = x.reshape(*lead, n)
        if inverse:
            x = self.mul(x, self.scalar(self.inv(n)))
        return x

    def _twiddles(self, omega: int, n: int, m: int) -> np.ndarray:
        key = ("tw", omega, n, m)
        tw = self._cache.get(key)
        if tw is None:
            tw = self.powers(pow(omega, n // (2 * m), self.MODULUS), m)
            self._cache[key] = tw
        return tw


def _le_to_u64(buf: bytes, n: int) -> np.ndarray:
    """Little-endian n-byte unsigned integers (n ≤ 8) as uint64."""
    if n == 8:
        return np.frombuffer(buf, dtype="<u8").astype(np.uint64)
    if n == 4:
        return np.frombuffer(buf, dtype="<u4").astype(np.uint64)
    raw = np.frombuffer(buf, dtype=np.uint8).reshape(-1, n)
    wide = np.zeros((raw.shape[0], 8), dtype=np.uint8)
    wide[:, :n] = raw
    return wide.view("<u8").reshape(-1).astype(np.uint64)


def _u64_to_le(a: np.ndarray, n: int) -> bytes:
    b = np.ascontiguousarray(a, dtype="<u8").view(np.uint8).reshape(-1, 8)
    return np.ascontiguousarray(b[:, :n]).tobytes()


def _bitrev(n: int) -> np.ndarray:
    bits = n.bit_length() - 1
    idx = np.arange(n)
    rev = np.zeros(n, dtype=np.int64)
    for b in range(bits):
        rev |= ((idx >> b) & 1) << (bits - 1 - b)
    return rev


def _goldilocks_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a·b mod 2^64 − 2^32 + 1 on uint64 arrays via 32-bit limbs."""
    a_lo = a & _M32
    a_hi = a >> _S32
    b_lo = b & _M32
    b_hi = b >> _S32
    ll = a_lo * b_lo
    mid = a_lo * b_hi + (ll >> _S32)  # < 2^64
    mid2 = a_hi * b_lo + (mid & _M32)  # < 2^64
    lo = (mid2 << _S32) | (ll & _M32)
    hi = a_hi * b_hi + (mid >> _S32) + (mid2 >> _S32)
    # value = lo + hi·2^64 ≡ lo + hi_lo·(2^32 − 1) − hi_hi
    hi_hi = hi >> _S32
    hi_lo = hi & _M32
    t = lo - hi_hi
    t = np.where(lo < hi_hi, t - _M32, t)  # borrow: −2^64 ≡ −(2^32 − 1)
    t2 = (hi_lo << _S32) - hi_lo
    r = t + t2
    r = np.where(r < t2, r + _M32, r)  # carry: 2^64 ≡ 2^32 − 1
    p = np.uint64(0xFFFFFFFF00000001)
    return np.where(r >= p, r - p, r)


_P64 = 2**64 - 2**32 + 1
_P128 = 2**66 * 4611686018427387897 + 1
_P32 = 4293918721
_P40 = 2**20 * 1048555 + 1

Field64 = Field("Field64", _P64, 8, pow(7, 4294967295, _P64), 2**32, True, "Field64")
Field128 = Field("Field128", _P128, 16, pow(7, 4611686018427387897, _P128), 2**66, False)
Field32 = Field("Field32", _P32, 4, 3925978153, 2**20, True, "Field32")
Field40 = Field("Field40", _P40, 5, pow(7, 1048555, _P40), 2**20, True, "Field40")

FIELDS = {f.name: f for f in (Field64, Field128, Field32, Field40)}
