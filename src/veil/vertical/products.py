"""Plaintext × ciphertext matrix products by additions only (Pippenger's bucket method on
HEU's bucket sums), for hetero LR's host gradient and cross term (docs/vertical.md, *Hetero
logistic regression*, *Protocol*).

HEU's ``matmul`` multiplies each ciphertext by each factor with a modular exponentiation
(≈ 45 additions' cost for a 27-bit factor, ≈ 4× more for a negative one); here every product
becomes a few ciphertext additions, all done by HEU. The result is the same integer.
"""

from __future__ import annotations

import numpy as np

from veil.vertical.he import CipherMatrix, PublicKit

#: digit width of the bucket (Pippenger) plaintext × ciphertext product
_WINDOW = 4
#: HEU's order map is int8: at most this many buckets in one bucket sum
_MAX_BUCKETS = 127


def signed_matmul(kit: PublicKit, plain: np.ndarray, ct: CipherMatrix) -> CipherMatrix:
    """``plain @ ct`` (int64 R × B times ciphertexts B × K) with additions instead of scalar
    multiplications (Pippenger's bucket method on HEU's bucket sum).

    A scalar multiplication by a b-bit integer costs ~b modular products (a 27-bit one
    ~45× an addition, measured; a negative one ~4× more), so instead: add the offset
    O = 2^m (m = bitlen max|plain|), cut every P + O into W digits of 4 bits, and per
    (row, window) sum the ciphertexts by digit in one bucket sum — ``Σ_d d·S_d`` is the sum
    of the cumulative bucket sums taken from the top digit down, a second bucket sum — then
    combine the windows by Horner (× 2^4) and add −O·Σ_i ct_i once per column. About W + 2
    additions per product instead of ~40 products; the plaintext result is the same integer.
    """
    plain = np.asarray(plain, dtype=np.int64)
    rows_out, n = plain.shape
    digits = 1 << _WINDOW
    offset_bits = int(np.abs(plain).max(initial=0)).bit_length()
    windows = max(1, -(-(offset_bits + 1) // _WINDOW))
    chunk = max(1, _MAX_BUCKETS // windows)
    if rows_out > chunk:  # the second bucket sum's order map holds (row, window) as int8
        parts = [signed_matmul(kit, plain[a : a + chunk], ct) for a in range(0, rows_out, chunk)]
        return _stack_rows(kit, parts)
    ev = kit.evaluator
    shifted = plain.T.astype(object) + (1 << offset_bits)  # B × R, in [0, 2^(m+1))
    cut = np.empty((n, rows_out, windows), dtype=np.int8)
    for w in range(windows):  # top digit first in bucket order: b = 15 − digit
        cut[:, :, w] = (digits - 1) - ((shifted >> (_WINDOW * w)) & (digits - 1)).astype(np.int8)
    order = np.ascontiguousarray(cut.reshape(n, rows_out * windows))
    everyone = [np.ones((1, n), dtype=np.int8)]
    # C[f·16 + b] = Σ of the ct_i whose digit in feature f = (row, window) is ≥ 15 − b
    (cum,) = ev.batch_feature_wise_bucket_sum(ct, everyone, order, digits, True)
    features = rows_out * windows
    below_top = np.ones((1, features * digits), dtype=np.int8)
    below_top[0, digits - 1 :: digits] = 0
    feature_of = np.repeat(np.arange(features, dtype=np.int8), digits).reshape(-1, 1)
    # U[f] = Σ_{b < 15} C[f·16 + b] = Σ_d d·S_d (the digit-weighted sum of window f)
    (u,) = ev.batch_feature_wise_bucket_sum(cum, [below_top], feature_of, features, False)
    shift = kit.plain(np.array([[digits]]))
    acc = u[[r * windows + windows - 1 for r in range(rows_out)]]
    for w in range(windows - 2, -1, -1):
        acc = ev.add(ev.mul(acc, shift), u[[r * windows + w for r in range(rows_out)]])
    total = cum[[digits - 1]]  # feature 0's top cumulative bucket: Σ_i ct_i, 1 × K
    minus = ev.mul(total, kit.plain(np.array([[-(1 << offset_bits)]])))
    return ev.add(acc, minus[[0] * rows_out])


def _stack_rows(kit: PublicKit, parts: list[CipherMatrix]) -> CipherMatrix:
    """Row blocks (each R_i × K) as one (ΣR_i) × K matrix: a 0/1 embedding matrix times
    each block (HEU multiplies by 0 and 1 at the cost of an addition), summed."""
    sizes = [p.shape[0] for p in parts]
    out = None
    for start, size, part in zip(np.cumsum(sizes) - sizes, sizes, parts, strict=True):
        embed = np.zeros((sum(sizes), size), dtype=np.int64)
        embed[start + np.arange(size), np.arange(size)] = 1
        block = kit.evaluator.matmul(kit.plain(embed), part)
        out = block if out is None else kit.evaluator.add(out, block)
    assert out is not None
    return out
