"""The inner-product argument (Bünz et al. 2018, §3, protocol 2, in dalek's notation).

Statement: ``P = ⟨a, G⟩ + ⟨b, H'⟩ + ⟨a, b⟩·Q`` with ``H'ᵢ = qⁱ·Hᵢ`` (the range proof uses
``q = y⁻¹``) and ``Q = w·B``. Each round halves the vectors:

    L = ⟨a_lo, G_hi⟩ + ⟨b_hi, H'_lo⟩ + ⟨a_lo, b_hi⟩·Q
    R = ⟨a_hi, G_lo⟩ + ⟨b_lo, H'_hi⟩ + ⟨a_hi, b_lo⟩·Q
    u = challenge;  a ← u·a_lo + u⁻¹·a_hi;  b ← u⁻¹·b_lo + u·b_hi
    G ← u⁻¹·G_lo + u·G_hi;  H' ← u·H'_lo + u⁻¹·H'_hi

until one ``a`` and one ``b`` remain. The proof is ``(L₁, R₁, …, L_k, R_k, a, b)``.

**Prover cost.** Folding a generator vector naively costs two scalar multiplications per
new generator. Here each vector is kept as ``σᵢ·G̃ᵢ`` (stored points times known scalars):
``u⁻¹σᵢG̃ᵢ + uσ_{h+i}G̃_{h+i} = u⁻¹σᵢ·(G̃ᵢ + u²(σ_{h+i}/σᵢ)·G̃_{h+i})``, one multiplication
per new generator, with the scales moved into the scalars of ``L`` and ``R``. ``H' = qⁱH``
is never materialised (its scale starts as ``qⁱ``; the ratio ``σ_{h+i}/σᵢ = q^h`` stays
uniform across a round), the ``Q`` terms use libsodium's fixed-base multiplication, and
the last round folds no generators at all.

**Verifier.** :func:`verification_scalars` returns ``u_j²``, ``u_j⁻²`` and ``sᵢ`` so the
caller can fold the final check ``P + Σ(u_j²L_j + u_j⁻²R_j) = a·⟨s, G⟩ + b·⟨s⁻¹, H'⟩ +
ab·Q`` into its own single equation (paper §6.2), where ``sᵢ = ∏_j u_j^{±1}`` (+1 when
bit ``k−j`` of ``i`` is set) and ``sᵢ⁻¹ = s_{n−1−i}``.
"""

from __future__ import annotations

from dataclasses import dataclass

from veil.errors import ProofError
from veil.zk import group
from veil.zk.transcript import Transcript

__all__ = ["InnerProductProof", "prove", "verification_scalars"]

_L = group.ORDER


@dataclass(frozen=True)
class InnerProductProof:
    """``L`` and ``R`` per round, and the final scalars ``a`` and ``b``."""

    L: tuple[bytes, ...]
    R: tuple[bytes, ...]
    a: int
    b: int


def _ip(xs: list[int], ys: list[int]) -> int:
    return sum(x * y for x, y in zip(xs, ys, strict=True)) % _L


def prove(
    transcript: Transcript,
    w: int,
    G: list[bytes],
    H: list[bytes],
    q: int,
    a: list[int],
    b: list[int],
) -> InnerProductProof:
    """Prove ``P = ⟨a, G⟩ + ⟨b, qⁱ·H⟩ + ⟨a, b⟩·(w·B)``; ``len(a)`` is a power of two."""
    n = len(a)
    if n == 0 or n & (n - 1) or not len(b) == len(G) == len(H) == n:
        raise ValueError("inner product: equal lengths, a power of two")
    transcript.domain_sep(b"ipp v1")
    transcript.append_u64(b"n", n)
    Gs, Hs = list(G), list(H)
    g_scale = 1
    h_scale = [1] * n
    for i in range(1, n):
        h_scale[i] = h_scale[i - 1] * q % _L
    Ls: list[bytes] = []
    Rs: list[bytes] = []
    while n > 1:
        h = n // 2
        a_lo, a_hi, b_lo, b_hi = a[:h], a[h:], b[:h], b[h:]
        c_L, c_R = _ip(a_lo, b_hi), _ip(a_hi, b_lo)
        L = group.msm(
            [x * g_scale for x in a_lo] + [x * s for x, s in zip(b_hi, h_scale[:h], strict=True)],
            Gs[h:n] + Hs[:h],
            base_scalar=c_L * w,
        )
        R = group.msm(
            [x * g_scale for x in a_hi] + [x * s for x, s in zip(b_lo, h_scale[h:], strict=True)],
            Gs[:h] + Hs[h:n],
            base_scalar=c_R * w,
        )
        transcript.validate_and_append_point(b"L", L)
        transcript.validate_and_append_point(b"R", R)
        Ls.append(L)
        Rs.append(R)
        u = transcript.challenge_scalar(b"u")
        u_inv = pow(u, -1, _L)
        a = [(u * x + u_inv * y) % _L for x, y in zip(a_lo, a_hi, strict=True)]
        b = [(u_inv * x + u * y) % _L for x, y in zip(b_lo, b_hi, strict=True)]
        if h > 1:  # the last round's folded generators would never be used
            k_g = u * u % _L
            Gs = [group.add(Gs[i], group.mul(k_g, Gs[h + i])) for i in range(h)]
            g_scale = g_scale * u_inv % _L
            k_h = u_inv * u_inv * pow(q, h, _L) % _L  # u⁻²·σ_{h+i}/σᵢ
            Hs = [group.add(Hs[i], group.mul(k_h, Hs[h + i])) for i in range(h)]
            h_scale = [u * s % _L for s in h_scale[:h]]
        n = h
    return InnerProductProof(L=tuple(Ls), R=tuple(Rs), a=a[0], b=b[0])


def verification_scalars(
    proof: InnerProductProof, n: int, transcript: Transcript
) -> tuple[list[int], list[int], list[int]]:
    """Replay the transcript; return ``(u_j², u_j⁻², s)`` for the caller's single check."""
    k = len(proof.L)
    if n <= 0 or n != 1 << k or len(proof.R) != k:
        raise ProofError("inner product proof has the wrong number of rounds")
    transcript.domain_sep(b"ipp v1")
    transcript.append_u64(b"n", n)
    us: list[int] = []
    for L, R in zip(proof.L, proof.R, strict=True):
        transcript.validate_and_append_point(b"L", L)
        transcript.validate_and_append_point(b"R", R)
        us.append(transcript.challenge_scalar(b"u"))
    u_inv = [pow(u, -1, _L) for u in us]
    u_sq = [u * u % _L for u in us]
    u_inv_sq = [x * x % _L for x in u_inv]
    s = [0] * n
    acc = 1
    for x in u_inv:
        acc = acc * x % _L
    s[0] = acc
    for i in range(1, n):
        lg = i.bit_length() - 1  # the highest set bit of i was decided in round k-1-lg
        s[i] = s[i - (1 << lg)] * u_sq[k - 1 - lg] % _L
    return u_sq, u_inv_sq, s
