"""Sigma protocols: completeness for random witnesses, soundness, statement binding."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.errors import EncodingError, ProofError
from veil.zk import group, pedersen, sigma
from veil.zk.transcript import Transcript

L = group.ORDER
values = st.integers(-(2**64), 2**64)


def T(label: bytes = b"test") -> Transcript:
    return Transcript(label)


@settings(max_examples=15, deadline=None)
@given(values)
def test_opening(v: int) -> None:
    c = pedersen.commit(v)
    proof = sigma.OpeningProof.prove(T(), c.point, v, c.blinding)
    sigma.OpeningProof.from_bytes(proof.to_bytes()).verify(T(), c.point)
    with pytest.raises(ProofError):
        proof.verify(T(), pedersen.commit(v).point)
    with pytest.raises(ProofError):
        proof.verify(T(b"elsewhere"), c.point)


@settings(max_examples=15, deadline=None)
@given(values, values)
def test_equality(v: int, w: int) -> None:
    a, b = pedersen.commit(v), pedersen.commit(v)
    proof = sigma.prove_equality(T(), a.point, b.point, a.blinding, b.blinding)
    sigma.verify_equality(T(), a.point, b.point, sigma.DlogProof.from_bytes(proof.to_bytes()))
    if w != v:
        c = pedersen.commit(w)
        forced = sigma.prove_equality(T(), a.point, c.point, a.blinding, c.blinding)
        with pytest.raises(ProofError):
            sigma.verify_equality(T(), a.point, c.point, forced)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.tuples(values, st.integers(-1000, 1000).filter(bool)), min_size=1, max_size=5))
def test_linear_relation(terms: list[tuple[int, int]]) -> None:
    coms = [pedersen.commit(v) for v, _ in terms]
    coeffs = [a for _, a in terms]
    total = sum(v * a for v, a in terms)
    pts, rs = [c.point for c in coms], [c.blinding for c in coms]
    proof = sigma.prove_linear(T(), pts, coeffs, total, rs)
    sigma.verify_linear(T(), pts, coeffs, total, proof)
    with pytest.raises(ProofError):
        sigma.verify_linear(T(), pts, coeffs, total + 1, proof)
    forced = sigma.prove_linear(T(), pts, coeffs, total + 1, rs)  # a false relation
    with pytest.raises(ProofError):
        sigma.verify_linear(T(), pts, coeffs, total + 1, forced)


@settings(max_examples=10, deadline=None)
@given(st.lists(values, min_size=1, max_size=6, unique=True), st.data())
def test_membership(allowed: list[int], data: st.DataObject) -> None:
    v = data.draw(st.sampled_from(allowed))
    c = pedersen.commit(v)
    proof = sigma.MembershipProof.prove(T(), c.point, v, c.blinding, allowed)
    assert len(proof.to_bytes()) == 64 * len(allowed)
    sigma.MembershipProof.from_bytes(proof.to_bytes()).verify(T(), c.point, allowed)
    swapped = [x for x in allowed if x != v] + [max(allowed) + 1]
    with pytest.raises(ProofError):
        proof.verify(T(), c.point, swapped)


def test_membership_forced_non_member_fails() -> None:
    """Run the CDS prover with a value outside the set (via its blinding): rejected."""
    c = pedersen.commit(5)
    allowed = [1, 2, 3]
    fake = sigma.MembershipProof.prove(T(), c.point, 2, c.blinding, allowed)  # lies: v=2
    with pytest.raises(ProofError):
        fake.verify(T(), c.point, allowed)
    with pytest.raises(ValueError):
        sigma.MembershipProof.prove(T(), c.point, 5, c.blinding, allowed)


def test_encodings_validated() -> None:
    c = pedersen.commit(3)
    proof = sigma.OpeningProof.prove(T(), c.point, 3, c.blinding).to_bytes()
    with pytest.raises(EncodingError):
        sigma.OpeningProof.from_bytes(proof[:-1])
    with pytest.raises(EncodingError):
        sigma.OpeningProof.from_bytes(b"\xff" * 32 + proof[32:])  # invalid point
    with pytest.raises(EncodingError):
        sigma.OpeningProof.from_bytes(proof[:32] + L.to_bytes(32, "little") + proof[64:])
    with pytest.raises(EncodingError):
        sigma.DlogProof.from_bytes(bytes(63))
    with pytest.raises(EncodingError):
        sigma.MembershipProof.from_bytes(b"\xff" * 64)
    for i in range(len(proof)):
        bad = bytearray(proof)
        bad[i] ^= 0x04
        with pytest.raises((ProofError, EncodingError)):
            sigma.OpeningProof.from_bytes(bytes(bad)).verify(T(), c.point)
