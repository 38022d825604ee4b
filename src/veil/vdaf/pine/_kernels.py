"""Source of the compiled kernel for PINE's wraparound tests (see :mod:`veil.vdaf._kernels`:
built ahead of time into the same extension, called through :mod:`veil.vdaf.kernels`).

Each test is a dot product of the gradient with a vector in {−1, 0, 1}^d whose entries are
2-bit groups of XOF bytes (LSB first; 00 → −1, 01/10 → 0, 11 → +1). The value of a group
``c`` is ``(c & 1) + (c >> 1) − 1``. The gradient arrives as ``L`` limbs of at most 32 bits
(signed for the Client's small fixed-point values), so every accumulator stays below 2^63.
Columns are processed in blocks that stay in cache while all tests sweep over them.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_BLOCK = 4096  # bytes of each test row per block (16384 coordinates)

#: the kernel and its one signature (for the ahead-of-time build)
EXPORTS: dict[str, str] = {"wr_dots_limbs": "int64[:, ::1](uint8[:, ::1], int64[:, ::1], int64)"}


@njit(cache=True)
def wr_dots_limbs(
    zbytes: np.ndarray, limbs: np.ndarray, dimension: int
) -> np.ndarray:  # pragma: no cover - compiled
    """acc[i, li] = Σ_j z_i[j]·limbs[li, j] as int64 (exact while |limbs|·d < 2^63)."""
    num_checks, nb = zbytes.shape
    nl = limbs.shape[0]
    full = dimension // 4  # bytes whose four groups all fall inside the gradient
    acc = np.zeros((num_checks, nl), dtype=np.int64)
    for j0 in range(0, full, _BLOCK):
        j1 = min(full, j0 + _BLOCK)
        for i in range(num_checks):
            for li in range(nl):
                s = np.int64(0)
                for j in range(j0, j1):
                    b = np.int64(zbytes[i, j])
                    x = 4 * j
                    s += (
                        ((b & 1) + ((b >> 1) & 1) - 1) * limbs[li, x]
                        + (((b >> 2) & 1) + ((b >> 3) & 1) - 1) * limbs[li, x + 1]
                        + (((b >> 4) & 1) + ((b >> 5) & 1) - 1) * limbs[li, x + 2]
                        + (((b >> 6) & 1) + ((b >> 7) & 1) - 1) * limbs[li, x + 3]
                    )
                acc[i, li] += s
    if full < nb:  # the last, partial byte
        for i in range(num_checks):
            b = np.int64(zbytes[i, full])
            for k in range(dimension - 4 * full):
                c = (b >> (2 * k)) & 3
                for li in range(nl):
                    acc[i, li] += ((c & 1) + (c >> 1) - 1) * limbs[li, 4 * full + k]
    return acc
