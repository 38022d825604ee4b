"""Prime fields of draft-irtf-cfrg-vdaf-20 §6.1 and PINE's, vectorised over numpy.

The one field implementation of veil: Prio3 and PINE (``veil.vdaf.pine``, all four of its
fields, Field128 included) use these classes directly. Public API (stable):

* Field classes :class:`Field32`, :class:`Field40`, :class:`Field64`, :class:`Field128`,
  each with ``MODULUS``, ``ENCODED_SIZE``, ``GEN_ORDER`` and ``gen()`` (the generator of
  the 2-power subgroup, as in draft §6.1.4 / the PINE draft).
* A *vector* is a numpy ``uint64`` array. Field32/40/64 vectors have shape ``(n,)``;
  Field128 vectors have shape ``(n, 2)`` — each element is ``[lo, hi]`` on the last axis.
  Everything is canonical (< p). Use the class methods below and never assume the
  shape: ``F.vec(ints)``, ``F.to_ints(v)``, ``F.zeros(n)``, ``F.elem(x)`` (a scalar that
  broadcasts against vectors), ``F.add/sub/neg/mul``, ``F.inner(a, b)``, ``F.sum(a)``,
  ``F.pow(a, e)``, ``F.inv(x)`` (Python int), ``F.batch_inv(v)``, ``F.encode_vec``/``F.decode_vec``
  (little-endian; decode rejects values ≥ p with :class:`~veil.errors.VdafEncodingError`),
  ``F.from_uniform_bytes`` (rejection sampling used by the XOFs), ``F.is_vec(v, n)``
  (shape, dtype and range check of a vector received in memory).
* Polynomials over 2-power roots of unity: ``F.root(n)`` is ``gen()**(GEN_ORDER//n)``;
  ``F.ntt(c, n)`` evaluates coefficients ``c`` at ``root(n)**i`` (natural order),
  ``F.intt(v)`` interpolates, ``F.ntt_coset(c, n)`` evaluates at ``root(2n)·root(n)**i``.
  They accept a batch: shape ``(rows, n)`` (+ the limb axis for Field128).

Arithmetic runs on the compiled kernels of ``veil.vdaf.kernels`` (built ahead of time
from ``_kernels``; Field32/Field40 products use a 20-bit split so they fit ``uint64``);
the NTT lives in ``veil.vdaf.ntt``.
This is not constant-time code (see docs/vdaf.md); like libprio's warning, it has not
undergone a security review.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from veil.errors import VdafEncodingError
from veil.vdaf import kernels as _k
from veil.vdaf.ntt import ntt as _ntt

Vec = np.ndarray

_M32 = np.uint64(0xFFFFFFFF)


class Field(ABC):
    """A prime field with NTT-friendly 2-power subgroup. Use the subclasses."""

    MODULUS: ClassVar[int]
    ENCODED_SIZE: ClassVar[int]
    GEN_ORDER: ClassVar[int]
    #: generator of the subgroup of order GEN_ORDER
    GEN: ClassVar[int]
    #: uint64 limbs per element (1, or 2 for Field128)
    LIMBS: ClassVar[int] = 1
    #: name of a compiled NTT in ``kernels`` (None: numpy stage-by-stage NTT)
    NTT_KERNEL: ClassVar[str | None] = None

    # ----- construction and conversion -------------------------------------------------
    @classmethod
    def gen(cls) -> int:
        return cls.GEN

    @classmethod
    def elem_shape(cls) -> tuple[int, ...]:
        return () if cls.LIMBS == 1 else (2,)

    @classmethod
    def zeros(cls, n: int | tuple[int, ...]) -> Vec:
        shape = (n,) if isinstance(n, int) else tuple(n)
        return np.zeros(shape + cls.elem_shape(), dtype=np.uint64)

    @classmethod
    def vec(cls, values: Any) -> Vec:
        """Vector from Python ints (reduced mod p; negatives allowed) or a numpy array."""
        if isinstance(values, np.ndarray) and values.dtype.kind in "iub" and values.itemsize <= 8:
            return cls._vec_from_int_array(values)
        ints = [int(x) % cls.MODULUS for x in np.asarray(values, dtype=object).ravel()]
        shape = np.shape(values)
        if cls.LIMBS == 1:
            return np.array(ints, dtype=np.uint64).reshape(shape)
        arr = np.empty((len(ints), 2), dtype=np.uint64)
        if ints:
            arr[:, 0] = [x & 0xFFFFFFFFFFFFFFFF for x in ints]
            arr[:, 1] = [x >> 64 for x in ints]
        return arr.reshape((*shape, 2))

    @classmethod
    def _vec_from_int_array(cls, values: np.ndarray) -> Vec:
        """Fast path of :meth:`vec` for numpy integer arrays (no Python loop)."""
        signed = values.dtype.kind == "i"
        if cls.LIMBS == 1 and cls.MODULUS > 2**63:
            # Field64: |v| < 2^63 < p < 2^64 < 2p, so one correction (uint64 wraparound)
            u = values.astype(np.uint64)
            p = np.uint64(cls.MODULUS)
            return np.where(values < 0, u + p, u) if signed else np.where(u >= p, u - p, u)
        if cls.LIMBS == 1 and signed:
            return (values.astype(np.int64) % np.int64(cls.MODULUS)).astype(np.uint64)  # ≥ 0
        if signed:
            neg = values < 0
            s64 = values.astype(np.int64)
            mag = np.where(neg, -s64, s64).astype(np.uint64)  # -(-2^63) -> 2^63
        else:
            neg = None
            mag = values.astype(np.uint64)
        if cls.LIMBS == 1:
            pos = mag % np.uint64(cls.MODULUS)
        else:
            pos = np.zeros((*mag.shape, 2), dtype=np.uint64)
            pos[..., 0] = mag
        if neg is None or not neg.any():
            return pos
        negated = cls.neg(pos)
        mask = neg if cls.LIMBS == 1 else neg[..., None]
        return np.where(mask, negated, pos)

    @classmethod
    def elem(cls, x: int) -> Vec:
        """One element as an array that broadcasts against vectors."""
        x = int(x) % cls.MODULUS
        if cls.LIMBS == 1:
            return np.array(x, dtype=np.uint64)
        return np.array([x & 0xFFFFFFFFFFFFFFFF, x >> 64], dtype=np.uint64)

    @classmethod
    def to_ints(cls, v: Vec) -> list[int]:
        """Flat list of Python ints (for short vectors, tests and decoding results)."""
        v = np.asarray(v)
        if cls.LIMBS == 1:
            return [int(x) for x in v.ravel()]
        flat = v.reshape(-1, 2)
        lo = flat[:, 0].astype(object)
        hi = flat[:, 1].astype(object)
        return ((hi << 64) | lo).tolist()

    @classmethod
    def to_int(cls, x: Vec) -> int:
        return cls.to_ints(x)[0]

    @classmethod
    def length(cls, v: Vec) -> int:
        """Number of elements along the first axis."""
        return int(v.shape[0])

    # ----- arithmetic ------------------------------------------------------------------
    @classmethod
    @abstractmethod
    def add(cls, a: Vec, b: Vec) -> Vec:
        """Defined by each concrete subclass."""

    @classmethod
    @abstractmethod
    def sub(cls, a: Vec, b: Vec) -> Vec:
        """Defined by each concrete subclass."""

    @classmethod
    @abstractmethod
    def mul(cls, a: Vec, b: Vec) -> Vec:
        """Defined by each concrete subclass."""

    @classmethod
    def neg(cls, a: Vec) -> Vec:
        return cls.sub(cls.elem(0), a)

    @classmethod
    def pow(cls, a: Vec, e: int) -> Vec:
        """Element-wise ``a**e`` (square and multiply over the whole array)."""
        result = np.broadcast_to(cls.elem(1), a.shape).copy()
        base = a
        while e > 0:
            if e & 1:
                result = cls.mul(result, base)
            e >>= 1
            if e:
                base = cls.mul(base, base)
        return result

    @classmethod
    def inv(cls, x: int) -> int:
        """Multiplicative inverse of one element (Python int)."""
        x %= cls.MODULUS
        if x == 0:
            raise ZeroDivisionError("0 has no inverse")
        return pow(x, cls.MODULUS - 2, cls.MODULUS)

    @classmethod
    def batch_inv(cls, a: Vec) -> Vec:
        """Element-wise inverse of a 1-D vector (product tree: one scalar inversion).

        Raises ZeroDivisionError if any element is zero."""
        n = cls.length(a)
        if n == 0:
            return a.copy()
        size = 1 << (n - 1).bit_length()
        x = np.concatenate([a, np.broadcast_to(cls.elem(1), (size - n, *cls.elem_shape()))])
        levels = [x]
        while cls.length(levels[-1]) > 1:
            cur = levels[-1]
            levels.append(cls.mul(cur[0::2], cur[1::2]))
        inv = cls.vec([cls.inv(cls.to_int(levels[-1][0]))])
        for cur in reversed(levels[:-1]):
            nxt = np.empty_like(cur)
            nxt[0::2] = cls.mul(inv, cur[1::2])
            nxt[1::2] = cls.mul(inv, cur[0::2])
            inv = nxt
        return inv[:n]

    @classmethod
    def sum(cls, a: Vec, axis: int = 0) -> Vec:
        """Sum along an element axis (axes count without the limb axis), reduced mod p."""
        a = np.asarray(a)
        n = a.shape[axis]
        if n >= 2**31:
            raise ValueError("vector too long to sum at once")
        if cls.LIMBS == 1:
            lo = np.sum(a & _M32, axis=axis, dtype=np.uint64)
            hi = np.sum(a >> np.uint64(32), axis=axis, dtype=np.uint64)
            lo = cls._reduce_u64(lo)
            hi = cls._reduce_u64(hi)
            return cls.add(lo, cls.mul(hi, cls.elem(2**32)))
        # Field128: four 32-bit limb sums, each < 2^63 < p, then recombine
        total = None
        for k in range(4):
            limb = a[..., k // 2]
            part = (limb >> np.uint64(32)) if k % 2 else (limb & _M32)
            s = np.sum(part, axis=axis, dtype=np.uint64)
            s2 = np.stack([s, np.zeros_like(s)], axis=-1)
            term = cls.mul(s2, cls.elem(2 ** (32 * k))) if k else s2
            total = term if total is None else cls.add(total, term)
        assert total is not None
        return total

    @classmethod
    def _reduce_u64(cls, x: Vec) -> Vec:
        return x % np.uint64(cls.MODULUS)

    @classmethod
    def inner(cls, a: Vec, b: Vec, axis: int = -1) -> Vec:
        """Inner product along an element axis (default: the last element axis)."""
        return cls.sum(cls.mul(a, b), axis=axis)

    @classmethod
    def eq(cls, a: Vec, b: Vec) -> bool:
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))

    # ----- encoding -------------------------------------------------------------------
    @classmethod
    def encode_vec(cls, v: Vec) -> bytes:
        """Little-endian encoding, ENCODED_SIZE bytes per element (§6.1)."""
        v = np.ascontiguousarray(v, dtype=np.uint64)
        if cls.LIMBS == 2:
            return v.astype("<u8").tobytes()
        raw = v.reshape(-1).astype("<u8").view(np.uint8).reshape(-1, 8)
        return raw[:, : cls.ENCODED_SIZE].tobytes()

    @classmethod
    def _raw_ints(cls, data: bytes) -> Vec:
        size = cls.ENCODED_SIZE
        raw = np.frombuffer(data, dtype=np.uint8).reshape(-1, size)
        if cls.LIMBS == 2:
            return raw.view("<u8").reshape(-1, 2).astype(np.uint64)
        if size == 8:
            return raw.view("<u8").reshape(-1).astype(np.uint64)
        padded = np.zeros((raw.shape[0], 8), dtype=np.uint8)
        padded[:, :size] = raw
        return padded.view("<u8").reshape(-1).astype(np.uint64)

    @classmethod
    def _below_p(cls, x: Vec) -> Vec:
        if cls.LIMBS == 1:
            return x < np.uint64(cls.MODULUS)
        plo = np.uint64(cls.MODULUS & 0xFFFFFFFFFFFFFFFF)
        phi = np.uint64(cls.MODULUS >> 64)
        return (x[:, 1] < phi) | ((x[:, 1] == phi) & (x[:, 0] < plo))

    @classmethod
    def is_vec(cls, v: object, n: int) -> bool:
        """True iff ``v`` is a canonical vector of ``n`` elements (checks in-memory shares)."""
        return (
            isinstance(v, np.ndarray)
            and v.dtype == np.uint64
            and v.shape == (n, *cls.elem_shape())
            and bool(np.all(cls._below_p(v)))
        )

    @classmethod
    def decode_vec(cls, data: bytes, *, operation: str = "decode") -> Vec:
        """Parse a vector; raises VdafEncodingError on bad length or a value ≥ p."""
        if len(data) % cls.ENCODED_SIZE:
            raise VdafEncodingError(
                f"{cls.__name__} vector length {len(data)} is not a multiple of {cls.ENCODED_SIZE}",
                operation=operation,
            )
        x = cls._raw_ints(bytes(data))
        if not bool(np.all(cls._below_p(x))):
            raise VdafEncodingError(
                f"{cls.__name__} element out of range (≥ modulus)", operation=operation
            )
        return x

    @classmethod
    def from_uniform_bytes(cls, data: bytes) -> Vec:
        """Rejection sampling (§6.2): each ENCODED_SIZE-byte chunk, masked to the bit
        length of p, is kept iff it is < p. Returns the accepted elements in order."""
        x = cls._raw_ints(data)
        bits = cls.MODULUS.bit_length()
        if cls.LIMBS == 1 and bits < 64 and bits < 8 * cls.ENCODED_SIZE:
            x = x & np.uint64((1 << bits) - 1)
        return x[cls._below_p(x)]

    @classmethod
    def encode_into_bit_vec(cls, val: int, bits: int) -> list[int]:
        """Little-endian bits of ``val`` (§6.1.2); ValueError if it needs more bits."""
        if val < 0 or val >= 1 << bits:
            raise ValueError("value does not fit in the number of bits")
        return [(val >> i) & 1 for i in range(bits)]

    @classmethod
    def decode_from_bit_vec(cls, v: Vec, axis: int = 0) -> Vec:
        """Σ 2^i · v[i] along ``axis`` (linear, so it also works on shares)."""
        n = v.shape[axis]
        if cls.MODULUS >> n == 0:
            raise ValueError("too many bits for the field")
        weights = cls.vec([1 << i for i in range(n)])
        shape = [1] * (v.ndim - (cls.LIMBS - 1))
        shape[axis] = n
        weights = weights.reshape(tuple(shape) + cls.elem_shape())
        return cls.sum(cls.mul(v, weights), axis=axis)

    # ----- roots of unity and NTT -----------------------------------------------------
    @classmethod
    def root(cls, n: int) -> int:
        """A primitive n-th root of unity, n a power of two: gen()**(GEN_ORDER // n)."""
        if n <= 0 or n & (n - 1) or cls.GEN_ORDER % n:
            raise ValueError(f"no root of unity of order {n}")
        return pow(cls.GEN, cls.GEN_ORDER // n, cls.MODULUS)

    @classmethod
    def powers(cls, x: int, n: int) -> Vec:
        """[x**0, x**1, …, x**(n-1)] as a vector (log-depth vectorised doubling)."""
        out = cls.zeros(n)
        if n == 0:
            return out
        out[0] = cls.elem(1)
        filled = 1
        step = x % cls.MODULUS
        while filled < n:
            take = min(filled, n - filled)
            out[filled : filled + take] = cls.mul(out[:take], cls.elem(step))
            filled += take
            step = step * step % cls.MODULUS
        return out

    @classmethod
    def ntt(cls, coeffs: Vec, n: int) -> Vec:
        """Evaluate polynomial(s) at root(n)**i, i < n; input padded with zeros to n."""
        return _ntt(cls, coeffs, n, coset=False)

    @classmethod
    def ntt_coset(cls, coeffs: Vec, n: int) -> Vec:
        """Evaluate polynomial(s) at root(2n)·root(n)**i, i < n."""
        return _ntt(cls, coeffs, n, coset=True)

    @classmethod
    def ntt_shifted(cls, coeffs: Vec, n: int, shift: int) -> Vec:
        """Evaluate polynomial(s) at shift·root(n)**i, i < n."""
        return _ntt(cls, coeffs, n, coset=False, shift=shift)

    @classmethod
    def intt(cls, values: Vec) -> Vec:
        """Coefficients of the polynomial(s) taking ``values`` at root(n)**i (n = length)."""
        batched = values.ndim - (cls.LIMBS - 1) == 2
        n = values.shape[1] if batched else values.shape[0]
        y = cls.ntt(values, n)
        idx = (-np.arange(n)) % n
        y = y[:, idx] if batched else y[idx]
        return cls.mul(y, cls.elem(cls.inv(n)))

    @classmethod
    def poly_eval(cls, coeffs: Vec, x: int) -> Vec:
        """Evaluate coefficient vector(s) at one point (batched over rows)."""
        batched = coeffs.ndim - (cls.LIMBS - 1) == 2
        n = coeffs.shape[1] if batched else coeffs.shape[0]
        pw = cls.powers(x, n)
        return cls.inner(coeffs, pw)


class _SmallField(Field):
    """p < 2^41: sums fit uint64; products use a compiled kernel with a 20-bit split."""

    @classmethod
    def add(cls, a: Vec, b: Vec) -> Vec:
        return _k.addmod(a, b, cls.MODULUS)

    @classmethod
    def sub(cls, a: Vec, b: Vec) -> Vec:
        return _k.submod(a, b, cls.MODULUS)

    @classmethod
    def mul(cls, a: Vec, b: Vec) -> Vec:
        return (_k.mul32 if cls.MODULUS < 2**32 else _k.mul40)(a, b)


class Field32(_SmallField):
    """PINE's Field32: p = 4293918721 = 2²⁰·4095 + 1, gen 3925978153 of order 2²⁰."""

    MODULUS = 4293918721
    ENCODED_SIZE = 4
    GEN_ORDER = 2**20
    GEN = 3925978153
    NTT_KERNEL = "ntt32"


class Field40(_SmallField):
    """PINE's Field40: p = 2²⁰·1048555 + 1 = 1099489607681, gen 7**1048555 of order 2²⁰."""

    MODULUS = 2**20 * 1048555 + 1
    ENCODED_SIZE = 5
    GEN_ORDER = 2**20
    GEN = pow(7, 1048555, 2**20 * 1048555 + 1)
    NTT_KERNEL = "ntt40"


class Field64(Field):
    """draft-20 §6.1.4 Field64: p = 2³²·4294967295 + 1, gen() = 7**4294967295."""

    MODULUS = 2**32 * 4294967295 + 1
    ENCODED_SIZE = 8
    GEN_ORDER = 2**32
    GEN = pow(7, 4294967295, 2**32 * 4294967295 + 1)
    NTT_KERNEL = "ntt64"

    @classmethod
    def add(cls, a: Vec, b: Vec) -> Vec:
        return _k.add64(a, b)

    @classmethod
    def sub(cls, a: Vec, b: Vec) -> Vec:
        return _k.sub64(a, b)

    @classmethod
    def mul(cls, a: Vec, b: Vec) -> Vec:
        return _k.mul64(a, b)


class Field128(Field):
    """draft-20 §6.1.4 Field128: p = 2⁶⁶·4611686018427387897 + 1, gen() = 7**4611686018427387897."""

    MODULUS = 2**66 * 4611686018427387897 + 1
    ENCODED_SIZE = 16
    GEN_ORDER = 2**66
    GEN = pow(7, 4611686018427387897, 2**66 * 4611686018427387897 + 1)
    LIMBS = 2
    NTT_KERNEL = "ntt128"

    @classmethod
    def add(cls, a: Vec, b: Vec) -> Vec:
        return _k.add128(a, b)

    @classmethod
    def sub(cls, a: Vec, b: Vec) -> Vec:
        return _k.sub128(a, b)

    @classmethod
    def mul(cls, a: Vec, b: Vec) -> Vec:
        return _k.mul128(a, b)


FIELDS: dict[str, type[Field]] = {f.__name__: f for f in (Field32, Field40, Field64, Field128)}
