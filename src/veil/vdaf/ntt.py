"""Radix-2 NTT over the 2-power roots of unity of a :class:`~veil.vdaf.field.Field`.

Split out of ``field.py`` (which calls :func:`ntt` from ``Field.ntt``/``ntt_coset``/
``intt``) so each module stays readable. A field naming a compiled kernel in
``kernels`` (``NTT_KERNEL``) runs there; otherwise a numpy stage-by-stage transform.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

import numpy as np

from veil.vdaf import kernels

if TYPE_CHECKING:
    from veil.vdaf.field import Field, Vec


@cache
def _twiddles(field: type[Field], half: int) -> Vec:
    return field.powers(field.root(2 * half), half)


@cache
def _bitrev(n: int) -> np.ndarray:
    bits = n.bit_length() - 1
    idx = np.arange(n)
    rev = np.zeros(n, dtype=np.int64)
    for b in range(bits):
        rev |= ((idx >> b) & 1) << (bits - 1 - b)
    return rev


@cache
def _stage_twiddles(field: type[Field], n: int) -> Vec:
    """tw[h + j] = root(2h)**j for every stage half-size h < n (index 0 unused)."""
    tw = field.zeros(n)
    half = 1
    while half < n:
        tw[half : 2 * half] = _twiddles(field, half)
        half *= 2
    return tw


def ntt(field: type[Field], coeffs: Vec, n: int, *, coset: bool, shift: int = 1) -> Vec:
    """Evaluate coefficient row(s) at shift·ω^i (ω = root(n), times root(2n) if ``coset``)."""
    limbs = field.elem_shape()
    batched = coeffs.ndim - len(limbs) == 2
    x = coeffs if batched else coeffs[None]
    rows, m = x.shape[0], x.shape[1]
    if m > n:
        raise ValueError("more coefficients than evaluation points")
    if m < n:
        x = np.concatenate([x, field.zeros((rows, n - m))], axis=1)
    if coset:
        shift = shift * field.root(2 * n) % field.MODULUS
    if shift != 1:
        x = field.mul(x, field.powers(shift, n)[None])
    kernel = field.NTT_KERNEL
    if kernel is not None and n > 1:
        out = np.array(x, dtype=np.uint64, order="C", copy=True)
        kernels.ntt(kernel, out, _bitrev(n), _stage_twiddles(field, n))
        return out if batched else out[0]
    x = np.ascontiguousarray(x[:, _bitrev(n)])
    half = 1
    while half < n:
        blocks = x.reshape((rows, n // (2 * half), 2, half, *limbs))
        u = blocks[:, :, 0]
        v = field.mul(blocks[:, :, 1], _twiddles(field, half))
        x = np.stack([field.add(u, v), field.sub(u, v)], axis=2).reshape((rows, n, *limbs))
        half *= 2
    return x if batched else x[0]
