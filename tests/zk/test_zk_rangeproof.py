"""Bulletproofs range proofs: completeness, soundness, encoding, and the cost budget."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.errors import DataError, EncodingError, FormatError, ProofError
from veil.zk import group, pedersen
from veil.zk.bulletproofs import RangeProof, proof_size
from veil.zk.transcript import Transcript

L = group.ORDER


def T(label: bytes = b"test") -> Transcript:
    return Transcript(label)


def _prove(values: list[int], n: int) -> tuple[RangeProof, list[bytes]]:
    return RangeProof.prove(T(), values, None, n)


@pytest.mark.parametrize("n", [8, 16, 32, 64])
def test_single_extremes(n: int) -> None:
    for v in (0, 1, (1 << n) - 1):
        proof, coms = _prove([v], n)
        proof.verify(T(), coms, n)
        assert len(proof.to_bytes()) == proof_size(n, 1) == 32 * (2 * (n.bit_length() - 1) + 9)


@pytest.mark.parametrize(("n", "m"), [(8, 2), (8, 4), (16, 8), (8, 16), (32, 2)])
def test_aggregated(n: int, m: int) -> None:
    values = [(i * 0x9E3779B97F4A7C15) % (1 << n) for i in range(m)]
    proof, coms = _prove(values, n)
    proof.verify(T(), coms, n)
    assert len(proof.to_bytes()) == proof_size(n, m)
    with pytest.raises(ProofError):  # a permutation of the commitments is another statement
        proof.verify(T(), coms[1:] + coms[:1], n)


@settings(max_examples=8, deadline=None)
@given(st.lists(st.integers(0, 2**16 - 1), min_size=2, max_size=2), st.integers(0, L - 1))
def test_completeness_random_witnesses(values: list[int], blinding: int) -> None:
    proof, coms = RangeProof.prove(T(), values, [blinding, L - 1 - blinding], 16)
    assert coms[0] == pedersen.commit(values[0], blinding).point
    RangeProof.from_bytes(proof.to_bytes()).verify(T(), coms, 16)


def test_binds_transcript_commitments_and_size() -> None:
    proof, coms = _prove([200], 8)
    with pytest.raises(ProofError):
        proof.verify(T(b"other context"), coms, 8)
    other = pedersen.commit(200).point
    with pytest.raises(ProofError):
        proof.verify(T(), [other], 8)
    with pytest.raises(ProofError):
        proof.verify(T(), coms, 16)  # wrong n: wrong number of rounds


@pytest.mark.parametrize("v", [-1, 256, 1 << 70])
def test_prover_refuses_out_of_range(v: int) -> None:
    with pytest.raises(DataError):
        _prove([v], 8)


@pytest.mark.parametrize(
    "bits",
    [
        [0, 0, 0, 0, 0, 0, 0, 0],  # claims 0 but the commitment holds 256 (2^8 truncated)
        [2, 0, 0, 0, 0, 0, 0, 0],  # "bit" 2: <a_L, 2^n> = 2 = v, but a_L ∘ a_R ≠ 0
        [1, 1, 1, 1, 1, 1, 1, 1],  # 255, commitment holds 256
    ],
)
def test_forced_out_of_range_proof_fails(bits: list[int]) -> None:
    """Push a value the honest prover refuses through the maths: it must not verify."""
    v = 256 if bits != [2, 0, 0, 0, 0, 0, 0, 0] else 2
    gamma = pedersen.random_scalar()
    com = pedersen.commit(v, gamma).point
    proof = RangeProof._prove_bits(T(), bits, [gamma], [com], 8, None)
    with pytest.raises(ProofError):
        proof.verify(T(), [com], 8)


def test_negative_value_forced_fails() -> None:
    v = L - 5  # "−5": its low 8 bits are a valid bit vector for another number
    gamma = pedersen.random_scalar()
    com = pedersen.commit(v, gamma).point
    bits = [(v >> k) & 1 for k in range(8)]
    proof = RangeProof._prove_bits(T(), bits, [gamma], [com], 8, None)
    with pytest.raises(ProofError):
        proof.verify(T(), [com], 8)


def test_every_byte_mutation_rejected() -> None:
    proof, coms = _prove([77], 8)
    data = proof.to_bytes()
    for i in range(len(data)):
        for flip in (0x01, 0x80):
            bad = bytearray(data)
            bad[i] ^= flip
            with pytest.raises((ProofError, EncodingError)):
                RangeProof.from_bytes(bytes(bad)).verify(T(), coms, 8)


def test_encoding_rejections() -> None:
    proof, _ = _prove([9], 8)
    data = proof.to_bytes()
    for bad in (data[:-1], data + b"\x00", b"", data[:320], bytes(32 * 31)):
        with pytest.raises(EncodingError):
            RangeProof.from_bytes(bad)
    with pytest.raises(EncodingError):  # t_x = ℓ: a non-canonical scalar
        RangeProof.from_bytes(data[:128] + L.to_bytes(32, "little") + data[160:])
    with pytest.raises(FormatError):  # EncodingError is a FormatError
        RangeProof.from_bytes(bytes(32) * 4 + b"\xff" * 32 + data[160:])


def test_identity_prover_messages_rejected() -> None:
    proof, coms = _prove([9], 8)
    data = bytearray(proof.to_bytes())
    for offset in (0, 32, 64, 96, 7 * 32):  # A, S, T_1, T_2, L_1
        bad = bytearray(data)
        bad[offset : offset + 32] = group.IDENTITY
        with pytest.raises(ProofError):
            RangeProof.from_bytes(bytes(bad)).verify(T(), coms, 8)


def test_unsupported_shapes() -> None:
    with pytest.raises(ValueError):
        _prove([1], 7)
    with pytest.raises(ValueError):
        _prove([1, 2, 3], 8)


def _verify_cost(n: int, m: int) -> tuple[int, int]:
    proof, coms = _prove([(1 << n) - 1 - j for j in range(m)], n)
    with group.count_ops() as prove_ops:
        RangeProof.prove(T(), [(1 << n) - 1 - j for j in range(m)], None, n)
    with group.count_ops() as ops:
        proof.verify(T(), coms, n)
    return ops.scalar_mults, prove_ops.scalar_mults


def test_verifier_cost_64_bit_single() -> None:
    """Counting is deterministic: verify ≤ 2nm + 2log₂(nm) + m + 8, prove ≤ 700."""
    verify_cost, prove_cost = _verify_cost(64, 1)
    assert verify_cost <= 2 * 64 + 2 * 6 + 1 + 8 == 149
    assert verify_cost <= 160
    assert prove_cost <= 700


@pytest.mark.slow
def test_verifier_cost_aggregated_16x64() -> None:
    verify_cost, _ = _verify_cost(64, 16)
    assert verify_cost <= 2 * 1024 + 2 * 10 + 16 + 8
