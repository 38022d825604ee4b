"""Bulletproofs range proofs, single and aggregated (Bünz et al. 2018, §4.1–4.3, §6.2).

Notation follows dalek's ``notes-rp.md``. For ``m`` values ``v_j`` of ``n`` bits with
commitments ``V_j = v_j·B + γ_j·B̃``, and ``i = j·n + k`` indexing the ``n·m`` bits:

    a_L = bits of all v_j,  a_R = a_L − 1
    A = α·B̃ + ⟨a_L, G⟩ + ⟨a_R, H⟩            (bits: point additions only)
    S = ρ·B̃ + ⟨s_L, G⟩ + ⟨s_R, H⟩             → y, z
    l(X) = a_L − z·1 + s_L·X
    r(X) = yⁱ∘(a_R + z·1 + s_R·X) + z^{2+j}·2^k
    t(X) = ⟨l(X), r(X)⟩ = t₀ + t₁X + t₂X²
    T₁ = t₁·B + τ₁·B̃,  T₂ = t₂·B + τ₂·B̃        → x
    t_x = ⟨l(x), r(x)⟩,  t_x_blinding = τ₂x² + τ₁x + Σ z^{2+j}γ_j,  e_blinding = α + ρx   → w
    inner-product argument for (l(x), r(x)) over G, H' = y⁻ⁱ∘H, Q = w·B

**Verifier (§6.2).** Both checks — ``t_x·B + t_x_blinding·B̃ = Σz^{2+j}V_j + δ(y,z)·B +
x·T₁ + x²·T₂`` and the inner-product relation — are folded into one equation with a
random weight ``c`` the prover cannot predict:

    A + x·S + cx·T₁ + cx²·T₂ + Σ(u_j²L_j + u_j⁻²R_j) + Σ c·z^{2+j}·V_j
      + Σ(−z − a·sᵢ)·Gᵢ + Σ(z + y⁻ⁱ(z^{2+j}2^k − b·s_{nm−1−i}))·Hᵢ
      + (w(t_x − ab) + c(δ − t_x))·B + (−e_blinding − c·t_x_blinding)·B̃  =  0

with ``δ(y,z) = (z − z²)·Σyⁱ − Σ_j z^{3+j}(2ⁿ − 1)``. That is ``2nm + 2log₂(nm) + m + 4``
variable-base multiplications and one fixed-base one (``A`` has weight 1).

Wire format (``32·(2·log₂(nm) + 9)`` bytes): ``A ‖ S ‖ T₁ ‖ T₂ ‖ t_x ‖ t_x_blinding ‖
e_blinding ‖ (L_j ‖ R_j)… ‖ a ‖ b``; points canonical and valid, scalars canonical.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from veil.errors import DataError, EncodingError, ProofError
from veil.zk import group
from veil.zk.bulletproofs import inner_product as inner_product_proof
from veil.zk.pedersen import BLINDING, Rng, commit, generators, random_scalar
from veil.zk.transcript import Transcript

__all__ = ["BIT_SIZES", "PARTY_COUNTS", "RangeProof", "proof_size"]

#: the supported bit sizes n
BIT_SIZES = (8, 16, 32, 64)
#: the supported numbers of aggregated values m
PARTY_COUNTS = (1, 2, 4, 8, 16)

_L = group.ORDER


def proof_size(n: int, m: int) -> int:
    """Bytes in a proof for ``m`` values of ``n`` bits: ``32·(2·log₂(n·m) + 9)``."""
    return 32 * (2 * (n * m).bit_length() - 2 + 9)


def _check_shape(n: int, m: int) -> None:
    if n not in BIT_SIZES:
        raise ValueError(f"bit size must be one of {BIT_SIZES}")
    if m not in PARTY_COUNTS:
        raise ValueError(f"number of values must be one of {PARTY_COUNTS}")


def _begin(transcript: Transcript, n: int, commitments: Sequence[bytes]) -> None:
    transcript.domain_sep(b"rangeproof v1")
    transcript.append_u64(b"n", n)
    transcript.append_u64(b"m", len(commitments))
    for V in commitments:
        transcript.append_point(b"V", V)


@dataclass(frozen=True)
class RangeProof:
    """A (possibly aggregated) proof that committed values lie in ``[0, 2ⁿ)``."""

    A: bytes
    S: bytes
    T_1: bytes
    T_2: bytes
    t_x: int
    t_x_blinding: int
    e_blinding: int
    ipp: inner_product_proof.InnerProductProof

    # ------------------------------------------------------------------ prover
    @classmethod
    def prove(
        cls,
        transcript: Transcript,
        values: Sequence[int],
        blindings: Sequence[int] | None,
        n: int,
        *,
        rng: Rng | None = None,
    ) -> tuple[RangeProof, list[bytes]]:
        """Prove every ``values[j] ∈ [0, 2ⁿ)``; returns the proof and the commitments.

        Refuses (``DataError``) a value outside the range: a proof for it cannot verify.
        """
        m = len(values)
        _check_shape(n, m)
        for v in values:
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 1 << n:
                raise DataError(f"value outside [0, 2^{n}): refusing to prove")
        if blindings is None:
            blindings = [random_scalar(rng) for _ in values]
        if len(blindings) != m:
            raise ValueError("one blinding per value")
        coms = [commit(v, g).point for v, g in zip(values, blindings, strict=True)]
        bits = [(v >> k) & 1 for v in values for k in range(n)]
        return cls._prove_bits(transcript, bits, list(blindings), coms, n, rng), coms

    @classmethod
    def _prove_bits(
        cls,
        transcript: Transcript,
        a_L: list[int],
        gammas: list[int],
        commitments: list[bytes],
        n: int,
        rng: Rng | None,
    ) -> RangeProof:
        """The protocol proper, from the claimed bit vector (tests force bad ones here)."""
        rng = rng or os.urandom
        m = len(commitments)
        nm = n * m
        G, H = generators(nm)
        _begin(transcript, n, commitments)

        alpha = random_scalar(rng)
        A = group.mul(alpha, BLINDING)
        for i, bit in enumerate(a_L):  # a_R = a_L − 1: bits cost additions, not multiplications
            if bit == 1:
                A = group.add(A, G[i])
            elif bit == 0:
                A = group.sub(A, H[i])
            else:  # only reachable from a forced (dishonest) bit vector in tests
                A = group.add(A, group.msm([bit, bit - 1], [G[i], H[i]]))
        rho = random_scalar(rng)
        s_L = [random_scalar(rng) for _ in range(nm)]
        s_R = [random_scalar(rng) for _ in range(nm)]
        S = group.msm([rho, *s_L, *s_R], [BLINDING, *G, *H])
        transcript.validate_and_append_point(b"A", A)
        transcript.validate_and_append_point(b"S", S)
        y = transcript.challenge_scalar(b"y")
        z = transcript.challenge_scalar(b"z")

        y_pow = _powers(y, nm)
        z_pow = _powers(z, m + 3)  # z⁰ … z^{m+2}
        l0 = [(bit - z) % _L for bit in a_L]
        r0 = [0] * nm
        r1 = [0] * nm
        for i in range(nm):
            j, k = divmod(i, n)
            r0[i] = (y_pow[i] * (a_L[i] - 1 + z) + z_pow[2 + j] * (1 << k)) % _L
            r1[i] = y_pow[i] * s_R[i] % _L
        t1 = (_ip(l0, r1) + _ip(s_L, r0)) % _L
        t2 = _ip(s_L, r1)
        tau1, tau2 = random_scalar(rng), random_scalar(rng)
        T_1 = group.add(group.mul_base(t1), group.mul(tau1, BLINDING))
        T_2 = group.add(group.mul_base(t2), group.mul(tau2, BLINDING))
        transcript.validate_and_append_point(b"T_1", T_1)
        transcript.validate_and_append_point(b"T_2", T_2)
        x = transcript.challenge_scalar(b"x")

        t_x_blinding = (tau2 * x * x + tau1 * x) % _L
        for j, gamma in enumerate(gammas):
            t_x_blinding = (t_x_blinding + z_pow[2 + j] * gamma) % _L
        e_blinding = (alpha + rho * x) % _L
        l_vec = [(a + s * x) % _L for a, s in zip(l0, s_L, strict=True)]
        r_vec = [(a + s * x) % _L for a, s in zip(r0, r1, strict=True)]
        t_x = _ip(l_vec, r_vec)
        transcript.append_scalar(b"t_x", t_x)
        transcript.append_scalar(b"t_x_blinding", t_x_blinding)
        transcript.append_scalar(b"e_blinding", e_blinding)
        w = transcript.challenge_scalar(b"w")
        y_inv = pow(y, -1, _L)
        ipp = inner_product_proof.prove(transcript, w, G, H, y_inv, l_vec, r_vec)
        return cls(A, S, T_1, T_2, t_x, t_x_blinding, e_blinding, ipp)

    # ---------------------------------------------------------------- verifier
    def verify(
        self,
        transcript: Transcript,
        commitments: Sequence[bytes],
        n: int,
        *,
        rng: Rng | None = None,
    ) -> None:
        """Check the proof for ``commitments`` (validated points); raise ``ProofError``."""
        m = len(commitments)
        _check_shape(n, m)
        nm = n * m
        if len(self.ipp.L) != nm.bit_length() - 1:
            raise ProofError("range proof has the wrong size for n·m")
        _begin(transcript, n, commitments)
        transcript.validate_and_append_point(b"A", self.A)
        transcript.validate_and_append_point(b"S", self.S)
        y = transcript.challenge_scalar(b"y")
        z = transcript.challenge_scalar(b"z")
        transcript.validate_and_append_point(b"T_1", self.T_1)
        transcript.validate_and_append_point(b"T_2", self.T_2)
        x = transcript.challenge_scalar(b"x")
        transcript.append_scalar(b"t_x", self.t_x)
        transcript.append_scalar(b"t_x_blinding", self.t_x_blinding)
        transcript.append_scalar(b"e_blinding", self.e_blinding)
        w = transcript.challenge_scalar(b"w")
        u_sq, u_inv_sq, s = inner_product_proof.verification_scalars(self.ipp, nm, transcript)
        c = random_scalar(rng)  # the verifier's own randomness: the prover cannot see it

        a, b = self.ipp.a, self.ipp.b
        z_pow = _powers(z, m + 3)
        zz = z_pow[2]
        y_inv = pow(y, -1, _L)
        sum_y = 0
        y_i = 1
        for _ in range(nm):
            sum_y += y_i
            y_i = y_i * y % _L
        delta = ((z - zz) * sum_y - sum(z_pow[3 + j] for j in range(m)) * ((1 << n) - 1)) % _L

        g_scalars = [(-z - a * s_i) % _L for s_i in s]
        h_scalars = [0] * nm
        y_inv_i = 1
        for i in range(nm):
            j, k = divmod(i, n)
            h_scalars[i] = (z + y_inv_i * (z_pow[2 + j] * (1 << k) - b * s[nm - 1 - i])) % _L
            y_inv_i = y_inv_i * y_inv % _L
        G, H = generators(nm)
        scalars = [
            1,
            x,
            c * x,
            c * x * x,
            *u_sq,
            *u_inv_sq,
            *(c * z_pow[2 + j] for j in range(m)),
            *g_scalars,
            *h_scalars,
            -self.e_blinding - c * self.t_x_blinding,
        ]
        points = [
            self.A,
            self.S,
            self.T_1,
            self.T_2,
            *self.ipp.L,
            *self.ipp.R,
            *commitments,
            *G,
            *H,
            BLINDING,
        ]
        base = w * (self.t_x - a * b) + c * (delta - self.t_x)
        if group.msm(scalars, points, base_scalar=base) != group.IDENTITY:
            raise ProofError("range proof does not verify")

    # ------------------------------------------------------------------ format
    def to_bytes(self) -> bytes:
        """Canonical encoding: ``32·(2·log₂(nm) + 9)`` bytes."""
        out = [self.A, self.S, self.T_1, self.T_2]
        out += [group.encode_scalar(s) for s in (self.t_x, self.t_x_blinding, self.e_blinding)]
        for L, R in zip(self.ipp.L, self.ipp.R, strict=True):
            out += [L, R]
        out += [group.encode_scalar(self.ipp.a), group.encode_scalar(self.ipp.b)]
        return b"".join(out)

    @classmethod
    def from_bytes(cls, data: bytes) -> RangeProof:
        """Parse and validate every point and scalar (``EncodingError`` on any defect)."""
        if not isinstance(data, bytes | bytearray) or len(data) % 32 or len(data) < 32 * 11:
            raise EncodingError("range proof length must be 32·(2k + 9) bytes")
        words = [bytes(data[i : i + 32]) for i in range(0, len(data), 32)]
        k2 = len(words) - 9
        if k2 % 2 or not 2 <= k2 // 2 <= 10:
            raise EncodingError("range proof length must be 32·(2k + 9) bytes, 1 < k ≤ 10")
        pts = [group.decode_point(w) for w in words[:4]]
        sc = [group.decode_scalar(w) for w in words[4:7]]
        lr = [group.decode_point(w) for w in words[7:-2]]
        a, b = group.decode_scalar(words[-2]), group.decode_scalar(words[-1])
        ipp = inner_product_proof.InnerProductProof(L=tuple(lr[0::2]), R=tuple(lr[1::2]), a=a, b=b)
        return cls(*pts, *sc, ipp)


def _powers(x: int, count: int) -> list[int]:
    out = [1] * count
    for i in range(1, count):
        out[i] = out[i - 1] * x % _L
    return out


def _ip(xs: list[int], ys: list[int]) -> int:
    return sum(a * b for a, b in zip(xs, ys, strict=True)) % _L
