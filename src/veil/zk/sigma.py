"""Non-interactive sigma protocols over Pedersen commitments (Fiat–Shamir).

All commitments are ``C = v·B + r·B̃`` (``veil.zk.pedersen``). Each proof opens its own
sub-protocol label in the caller's transcript and appends its whole statement before the
first prover message, so a proof is bound to exactly one statement (Boneh–Shoup §20.3).

* :class:`OpeningProof` — knowledge of ``(v, r)`` with ``C = v·B + r·B̃`` (Okamoto):
  ``R = k₁B + k₂B̃``, ``e = H(…)``, ``s₁ = k₁ + ev``, ``s₂ = k₂ + er``;
  check ``s₁B + s₂B̃ − eC = R``.
* :class:`DlogProof` — knowledge of ``x`` with ``D = x·B̃`` (Schnorr):
  ``R = kB̃``, ``s = k + ex``; check ``sB̃ − eD = R``. It proves
  **equality** (``D = C₁ − C₂``: same value, blinding difference known) and a **public
  linear relation** ``Σ aᵢvᵢ = c`` (``D = Σ aᵢCᵢ − c·B``: without ``log_B B̃`` the only
  way to know ``log_{B̃} D`` is for the ``B`` part to cancel).
* :class:`MembershipProof` — ``v ∈ {s₁, …, s_k}`` (Cramer–Damgård–Schoenmakers 1994
  OR-composition of Schnorr proofs for ``Dᵢ = C − sᵢ·B``): the prover simulates every
  branch but the true one, whose challenge is fixed by ``Σ eᵢ = e``. The proof is the
  ``(eᵢ, zᵢ)`` pairs; the verifier recomputes ``Rᵢ = zᵢB̃ − eᵢDᵢ`` and checks the sum.

Linear relations and membership hold modulo ℓ, the group order: callers who need them
over the integers bound the values with range proofs (``veil.zk.claims`` documents this).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from veil.errors import EncodingError, ProofError
from veil.zk import group
from veil.zk.pedersen import BLINDING, Rng, random_scalar
from veil.zk.transcript import Transcript

__all__ = [
    "MAX_SET_SIZE",
    "DlogProof",
    "MembershipProof",
    "OpeningProof",
    "linear_target",
    "prove_equality",
    "prove_linear",
    "verify_equality",
    "verify_linear",
]

_L = group.ORDER
#: largest public set a membership proof accepts (proof size and cost grow linearly)
MAX_SET_SIZE = 256


def _words(data: bytes, count: int, what: str) -> list[bytes]:
    if not isinstance(data, bytes | bytearray) or len(data) != 32 * count:
        raise EncodingError(f"{what} must be {32 * count} bytes")
    return [bytes(data[i : i + 32]) for i in range(0, len(data), 32)]


@dataclass(frozen=True)
class OpeningProof:
    """Knowledge of an opening ``(v, r)`` of ``C``."""

    R: bytes
    s1: int
    s2: int

    @classmethod
    def prove(
        cls, transcript: Transcript, C: bytes, v: int, r: int, *, rng: Rng | None = None
    ) -> OpeningProof:
        """Prove knowledge of ``(v, r)`` with ``C = v·B + r·B̃``."""
        k1, k2 = random_scalar(rng), random_scalar(rng)
        R = group.add(group.mul_base(k1), group.mul(k2, BLINDING))
        e = cls._challenge(transcript, C, R)
        return cls(R, (k1 + e * v) % _L, (k2 + e * r) % _L)

    @staticmethod
    def _challenge(transcript: Transcript, C: bytes, R: bytes) -> int:
        transcript.domain_sep(b"opening v1")
        transcript.append_point(b"C", C)
        transcript.validate_and_append_point(b"R", R)
        return transcript.challenge_scalar(b"e")

    def verify(self, transcript: Transcript, C: bytes) -> None:
        """Raise ``ProofError`` unless the proof verifies for ``C``."""
        e = self._challenge(transcript, C, self.R)
        if group.msm([self.s2, -e], [BLINDING, C], base_scalar=self.s1) != self.R:
            raise ProofError("opening proof does not verify")

    def to_bytes(self) -> bytes:
        """``R ‖ s₁ ‖ s₂`` (96 bytes)."""
        return self.R + group.encode_scalar(self.s1) + group.encode_scalar(self.s2)

    @classmethod
    def from_bytes(cls, data: bytes) -> OpeningProof:
        """Parse and validate."""
        w = _words(data, 3, "an opening proof")
        return cls(group.decode_point(w[0]), group.decode_scalar(w[1]), group.decode_scalar(w[2]))


@dataclass(frozen=True)
class DlogProof:
    """Knowledge of ``x`` with ``D = x·B̃`` (Schnorr, on the blinding generator)."""

    R: bytes
    s: int

    @classmethod
    def prove(
        cls, transcript: Transcript, label: bytes, D: bytes, x: int, *, rng: Rng | None = None
    ) -> DlogProof:
        """Prove knowledge of ``log_{B̃} D``; ``label`` names the relation being shown."""
        k = random_scalar(rng)
        R = group.mul(k, BLINDING)
        e = cls._challenge(transcript, label, D, R)
        return cls(R, (k + e * x) % _L)

    @staticmethod
    def _challenge(transcript: Transcript, label: bytes, D: bytes, R: bytes) -> int:
        transcript.domain_sep(label)
        transcript.append_point(b"D", D)
        transcript.validate_and_append_point(b"R", R)
        return transcript.challenge_scalar(b"e")

    def verify(self, transcript: Transcript, label: bytes, D: bytes) -> None:
        """Raise ``ProofError`` unless ``s·B̃ − e·D = R``."""
        e = self._challenge(transcript, label, D, self.R)
        if group.msm([self.s, -e], [BLINDING, D]) != self.R:
            raise ProofError("proof does not verify")

    def to_bytes(self) -> bytes:
        """``R ‖ s`` (64 bytes)."""
        return self.R + group.encode_scalar(self.s)

    @classmethod
    def from_bytes(cls, data: bytes) -> DlogProof:
        """Parse and validate."""
        w = _words(data, 2, "a discrete-log proof")
        return cls(group.decode_point(w[0]), group.decode_scalar(w[1]))


# ------------------------------------------------------------------ equality
def prove_equality(
    transcript: Transcript, C1: bytes, C2: bytes, r1: int, r2: int, *, rng: Rng | None = None
) -> DlogProof:
    """``C₁`` and ``C₂`` commit to the same value (prover knows both blindings)."""
    transcript.append_point(b"C1", C1)
    transcript.append_point(b"C2", C2)
    return DlogProof.prove(transcript, b"equality v1", group.sub(C1, C2), r1 - r2, rng=rng)


def verify_equality(transcript: Transcript, C1: bytes, C2: bytes, proof: DlogProof) -> None:
    """Raise ``ProofError`` unless ``C₁`` and ``C₂`` commit to one value."""
    transcript.append_point(b"C1", C1)
    transcript.append_point(b"C2", C2)
    proof.verify(transcript, b"equality v1", group.sub(C1, C2))


# ------------------------------------------------------------ linear relation
def linear_target(commitments: Sequence[bytes], coefficients: Sequence[int], c: int) -> bytes:
    """``D = Σ aᵢ·Cᵢ − c·B``, which is ``(Σ aᵢrᵢ)·B̃`` exactly when ``Σ aᵢvᵢ = c``."""
    return group.msm(list(coefficients), list(commitments), base_scalar=-c)


def _bind_linear(
    transcript: Transcript, commitments: Sequence[bytes], coefficients: Sequence[int], c: int
) -> None:
    if not commitments or len(commitments) != len(coefficients):
        raise ValueError("one coefficient per commitment, at least one")
    transcript.append_u64(b"terms", len(commitments))
    for C, a in zip(commitments, coefficients, strict=True):
        transcript.append_point(b"C", C)
        transcript.append_scalar(b"a", a)
    transcript.append_scalar(b"c", c)


def prove_linear(
    transcript: Transcript,
    commitments: Sequence[bytes],
    coefficients: Sequence[int],
    c: int,
    blindings: Sequence[int],
    *,
    rng: Rng | None = None,
) -> DlogProof:
    """Prove ``Σ aᵢvᵢ = c (mod ℓ)`` for the committed ``vᵢ`` (prover knows the ``rᵢ``)."""
    _bind_linear(transcript, commitments, coefficients, c)
    x = sum(a * r for a, r in zip(coefficients, blindings, strict=True))
    D = linear_target(commitments, coefficients, c)
    return DlogProof.prove(transcript, b"linear v1", D, x, rng=rng)


def verify_linear(
    transcript: Transcript,
    commitments: Sequence[bytes],
    coefficients: Sequence[int],
    c: int,
    proof: DlogProof,
) -> None:
    """Raise ``ProofError`` unless ``Σ aᵢvᵢ = c`` for the committed values."""
    _bind_linear(transcript, commitments, coefficients, c)
    proof.verify(transcript, b"linear v1", linear_target(commitments, coefficients, c))


# ----------------------------------------------------------------- membership
@dataclass(frozen=True)
class MembershipProof:
    """``v ∈ allowed`` for ``C = v·B + r·B̃``: one ``(eᵢ, zᵢ)`` pair per allowed value."""

    e: tuple[int, ...]
    z: tuple[int, ...]

    @staticmethod
    def _targets(C: bytes, allowed: Sequence[int]) -> list[bytes]:
        return [group.sub(C, group.mul_base(s)) if s % _L else C for s in allowed]

    @staticmethod
    def _bind(transcript: Transcript, C: bytes, allowed: Sequence[int]) -> None:
        if not 0 < len(allowed) <= MAX_SET_SIZE:
            raise ValueError(f"the allowed set has 1 to {MAX_SET_SIZE} values")
        if len({s % _L for s in allowed}) != len(allowed):
            raise ValueError("the allowed values must be distinct")
        transcript.domain_sep(b"membership v1")
        transcript.append_point(b"C", C)
        transcript.append_u64(b"k", len(allowed))
        for s in allowed:
            transcript.append_scalar(b"s", s)

    @classmethod
    def prove(
        cls,
        transcript: Transcript,
        C: bytes,
        v: int,
        r: int,
        allowed: Sequence[int],
        *,
        rng: Rng | None = None,
    ) -> MembershipProof:
        """Prove that ``C`` commits to one of ``allowed`` (the prover's ``v`` must be one)."""
        cls._bind(transcript, C, allowed)
        j = [s % _L for s in allowed].index(v % _L)  # ValueError if v is not allowed
        D = cls._targets(C, allowed)
        e = [0] * len(allowed)
        z = [0] * len(allowed)
        Rs: list[bytes] = []
        k = random_scalar(rng)
        for i, D_i in enumerate(D):
            if i == j:
                Rs.append(group.mul(k, BLINDING))
            else:  # simulated branch: pick the answer first
                e[i], z[i] = random_scalar(rng), random_scalar(rng)
                Rs.append(group.msm([z[i], -e[i]], [BLINDING, D_i]))
        for R in Rs:
            transcript.append_point(b"R", R)
        challenge = transcript.challenge_scalar(b"e")
        e[j] = (challenge - sum(e)) % _L
        z[j] = (k + e[j] * r) % _L
        return cls(tuple(e), tuple(z))

    def verify(self, transcript: Transcript, C: bytes, allowed: Sequence[int]) -> None:
        """Raise ``ProofError`` unless ``C`` commits to a value in ``allowed``."""
        self._bind(transcript, C, allowed)
        if len(self.e) != len(allowed) or len(self.z) != len(allowed):
            raise ProofError("membership proof has the wrong number of branches")
        D = self._targets(C, allowed)
        for e_i, z_i, D_i in zip(self.e, self.z, D, strict=True):
            transcript.append_point(b"R", group.msm([z_i, -e_i], [BLINDING, D_i]))
        if transcript.challenge_scalar(b"e") != sum(self.e) % _L:
            raise ProofError("membership proof does not verify")

    def to_bytes(self) -> bytes:
        """``e₁ ‖ z₁ ‖ … ‖ e_k ‖ z_k`` (64·k bytes)."""
        return b"".join(
            group.encode_scalar(e) + group.encode_scalar(z)
            for e, z in zip(self.e, self.z, strict=True)
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> MembershipProof:
        """Parse and validate (every scalar canonical)."""
        if not isinstance(data, bytes | bytearray) or not data or len(data) % 64:
            raise EncodingError("a membership proof is 64·k bytes")
        k = len(data) // 64
        if k > MAX_SET_SIZE:
            raise EncodingError("membership proof too long")
        w = _words(data, 2 * k, "a membership proof")
        sc = [group.decode_scalar(x) for x in w]
        return cls(tuple(sc[0::2]), tuple(sc[1::2]))
