"""The claims API: contract, statement and context binding, tamper resistance."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.errors import DataError, FormatError, ProofError
from veil.zk import claims

SECRETS = {"income": 52_000, "rows": 1200, "rows_a": 700, "rows_b": 500, "tier": 2}
STATEMENTS = [
    claims.Range("income", 0, 1_000_000),
    claims.Linear({"rows_a": 1, "rows_b": 1, "rows": -1}, 0),
    claims.OneOf("tier", [1, 2, 3]),
]


@pytest.fixture(scope="module")
def bundle() -> claims.ProofBundle:
    return claims.prove(SECRETS, STATEMENTS, context=b"ctx")


def test_contract(bundle: claims.ProofBundle) -> None:
    names = claims.verify(bundle, context=b"ctx", expected=STATEMENTS)
    assert names == [c.name for c in STATEMENTS]
    assert set(bundle.commitments) == {"income", "rows", "rows_a", "rows_b", "tier"}
    assert all(len(c) == 32 for c in bundle.commitments.values())
    again = claims.ProofBundle.from_bytes(bundle.to_bytes())
    assert again == bundle
    assert claims.verify(again, context=b"ctx") == names


def test_wrong_context_names_the_claim(bundle: claims.ProofBundle) -> None:
    with pytest.raises(ProofError) as err:
        claims.verify(bundle, context=b"other")
    assert err.value.claim == STATEMENTS[0].name
    results = claims.check(bundle, context=b"other")
    assert [r.ok for r in results] == [False, False, False]


def test_expected_must_match_exactly(bundle: claims.ProofBundle) -> None:
    for wrong in (
        [claims.Range("income", 0, 2_000_000), *STATEMENTS[1:]],
        [claims.Range("income", 0, 1_000_000, name="x"), *STATEMENTS[1:]],
        STATEMENTS[:2],
        [*STATEMENTS, claims.Range("tier", 0, 3)],
        list(reversed(STATEMENTS)),
    ):
        with pytest.raises(ProofError):
            claims.verify(bundle, context=b"ctx", expected=wrong)
    # normalised forms compare equal: term order and set order do not matter
    same = [
        claims.Range("income", 0, 1_000_000),
        claims.Linear({"rows": -1, "rows_b": 1, "rows_a": 1}, 0),
        claims.OneOf("tier", (3, 2, 1)),
    ]
    assert claims.verify(bundle, context=b"ctx", expected=same)


def test_proof_for_one_statement_never_verifies_another(bundle: claims.ProofBundle) -> None:
    other = claims.prove(SECRETS, [claims.Range("income", 0, 2**20)], context=b"ctx")
    # graft the other bundle's proof onto this statement, and vice versa
    mixed = claims.ProofBundle(
        (STATEMENTS[0],), {"income": bundle.commitments["income"]}, (other.proofs[0],)
    )
    with pytest.raises(ProofError):
        claims.verify(mixed, context=b"ctx")
    # the same proof bytes under a relabelled statement (same shape, new name)
    renamed = claims.ProofBundle(
        (claims.Range("income", 0, 2**20, name="renamed"),), other.commitments, other.proofs
    )
    with pytest.raises(ProofError):
        claims.verify(renamed, context=b"ctx")
    # a claim lifted out of a bigger bundle does not verify alone
    alone = claims.ProofBundle(
        (STATEMENTS[2],), {"tier": bundle.commitments["tier"]}, (bundle.proofs[2],)
    )
    with pytest.raises(ProofError):
        claims.verify(alone, context=b"ctx")
    # the same statement with another value's commitment
    swapped = dict(bundle.commitments, tier=bundle.commitments["income"])
    with pytest.raises(ProofError):
        claims.verify(claims.ProofBundle(bundle.statements, swapped, bundle.proofs), context=b"ctx")


@pytest.mark.parametrize(
    ("secrets", "claim"),
    [
        ({"v": 11}, claims.Range("v", 0, 10)),
        ({"v": -1}, claims.Range("v", 0, 10)),
        ({"a": 1, "b": 2}, claims.Linear({"a": 1, "b": 1}, 4)),
        ({"v": 4}, claims.OneOf("v", [1, 2, 3])),
        ({"a": 1, "b": 2}, claims.Equal("a", "b")),
    ],
)
def test_prover_refuses_false_statements(secrets: dict[str, int], claim: claims.Claim) -> None:
    with pytest.raises(DataError, match="refusing"):
        claims.prove(secrets, [claim])


def test_missing_secret_and_bad_claims() -> None:
    with pytest.raises(DataError):
        claims.prove({}, [claims.Range("v", 0, 1)])
    for bad in (
        lambda: claims.Range("v", 5, 4),
        lambda: claims.Range("v", 0, 2**64),
        lambda: claims.Linear({}, 1),
        lambda: claims.Linear({"a": 0}, 1),
        lambda: claims.OneOf("v", []),
        lambda: claims.OneOf("v", [1, 1]),
        lambda: claims.Equal("a", "a"),
        lambda: claims.Range("", 0, 1),
    ):
        with pytest.raises(ValueError):
            bad()
    with pytest.raises(TypeError):
        claims.Range("v", 0.5, 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError):  # duplicate claim names
        claims.prove({"v": 1}, [claims.Range("v", 0, 1), claims.Range("v", 0, 1)])


@settings(max_examples=12, deadline=None)
@given(st.data())
def test_ranges_complete_for_random_witnesses(data: st.DataObject) -> None:
    lo = data.draw(st.integers(-(2**70), 2**70))
    width = data.draw(st.sampled_from([0, 1, 255, 256, 2**16 - 1, 2**20, 2**63, 2**64 - 1]))
    v = data.draw(st.integers(lo, lo + width))
    claim = claims.Range("v", lo, lo + width)
    bundle = claims.prove({"v": v}, [claim], context=b"h")
    assert claims.verify(claims.ProofBundle.from_bytes(bundle.to_bytes()), context=b"h") == [
        claim.name
    ]


def test_range_shapes() -> None:
    assert claims.Range("v", 0, 255).shape == (8, 1)
    assert claims.Range("v", 10, 10 + 2**64 - 1).shape == (64, 1)
    assert claims.Range("v", 0, 100).shape == (8, 2)
    assert claims.Range("v", 0, 256).shape == (16, 2)
    assert claims.Range("v", -5, 5).shape == (8, 2)


MUTATION_CASES = {
    "range": ({"v": 7}, [claims.Range("v", 0, 255, name="r")]),
    "sigma": (
        {"a": 3, "b": 4, "c": 3},
        [
            claims.Linear({"a": 2, "b": -1}, 2, name="lin"),
            claims.OneOf("b", [1, 4, 9], name="set"),
            claims.Equal("a", "c", name="eq"),
        ],
    ),
}


@pytest.mark.parametrize("case", sorted(MUTATION_CASES))
def test_every_byte_mutation_rejected(case: str) -> None:
    """Each byte of a serialised bundle, changed: FormatError or ProofError, never success."""
    secrets, statements = MUTATION_CASES[case]
    bundle = claims.prove(secrets, statements, context=b"c")
    data = bundle.to_bytes()
    assert claims.verify(claims.ProofBundle.from_bytes(data), context=b"c")
    accepted = []
    for i in range(len(data)):
        bad = bytearray(data)
        bad[i] ^= 0x01
        try:
            claims.verify(claims.ProofBundle.from_bytes(bytes(bad)), context=b"c")
        except (FormatError, ProofError):
            continue
        accepted.append(i)
    assert accepted == []


@settings(max_examples=10, deadline=None)
@given(
    st.lists(st.integers(-(2**64), 2**64), min_size=3, max_size=3),
    st.lists(st.integers(-50, 50).filter(bool), min_size=3, max_size=3),
    st.integers(0, 5),
)
def test_sigma_claims_complete_for_random_witnesses(
    vals: list[int], coeffs: list[int], pick: int
) -> None:
    names = ["x", "y", "z"]
    secrets = dict(zip(names, vals, strict=True))
    allowed = sorted({vals[0], *range(-3, 3)})
    statements = [
        claims.Linear(
            dict(zip(names, coeffs, strict=True)),
            sum(a * v for a, v in zip(coeffs, vals, strict=True)),
        ),
        claims.OneOf("x", allowed),
        claims.Equal("y", "w"),
    ]
    secrets["w"] = vals[1]
    bundle = claims.prove(secrets, statements, context=bytes([pick]))
    again = claims.ProofBundle.from_bytes(bundle.to_bytes())
    assert len(claims.verify(again, context=bytes([pick]), expected=statements)) == 3


def test_malformed_bundles() -> None:
    bundle = claims.prove({"v": 7}, [claims.OneOf("v", [7, 8])])
    obj = json.loads(bundle.to_bytes())

    def rt(o: object) -> bytes:
        return json.dumps(o, sort_keys=True, separators=(",", ":")).encode()

    assert claims.ProofBundle.from_bytes(rt(obj)) == bundle
    claim0 = obj["claims"][0]
    stmt0 = claim0["statement"]
    cases = [
        b"",
        b"[]",
        bundle.to_bytes() + b"\n",
        json.dumps(obj, indent=1).encode(),
        rt({**obj, "version": 2}),
        rt({**obj, "version": True}),
        rt({**obj, "extra": 1}),
        rt({**obj, "commitments": {}}),
        rt({**obj, "commitments": {**obj["commitments"], "w": obj["commitments"]["v"]}}),
        rt({**obj, "commitments": {"v": "AAAA"}}),
        rt({**obj, "commitments": {"v": "A" * 43 + "="}}),  # 32 zero bytes: the identity
        rt({**obj, "claims": []}),
        rt({**obj, "claims": obj["claims"] * 2}),  # duplicate names
        rt({**obj, "claims": [{**obj["claims"][0], "proof": obj["claims"][0]["proof"][:-4]}]}),
        rt({**obj, "claims": [{"statement": {"type": "nope"}, "proof": ""}]}),
        rt({**obj, "claims": [{**claim0, "statement": {**stmt0, "allowed": [8, 7]}}]}),
        rt({**obj, "claims": [{**claim0, "statement": {**stmt0, "allowed": [7.0, 8]}}]}),
        bundle.to_bytes().replace(b'"version":1', b'"version":1,"version":1'),
        b"[" * 100_000 + b"]" * 100_000,  # nesting bomb
        bundle.to_bytes().replace(b'"version":1', b'"version":1' + b"0" * 5000),  # huge int
    ]
    for data in cases:
        with pytest.raises(FormatError):
            claims.ProofBundle.from_bytes(data)


def test_in_memory_bundle_with_invalid_commitment(bundle: claims.ProofBundle) -> None:
    """A bundle built in memory (skipping from_bytes) still cannot smuggle a bad point."""
    bad = dict(bundle.commitments, income=b"\xff" * 32)
    forged = claims.ProofBundle(bundle.statements, bad, bundle.proofs)
    with pytest.raises(ProofError) as err:
        claims.verify(forged, context=b"ctx")
    assert err.value.claim == STATEMENTS[0].name


def test_commitment_may_not_be_a_non_canonical_identity(bundle: claims.ProofBundle) -> None:
    """Issue 13 finding 7: ``00…0080`` is the identity to libsodium 1.0.18, and was accepted
    as a commitment although commitments must not be the identity."""
    obj = json.loads(bundle.to_bytes())
    name = next(iter(obj["commitments"]))
    obj["commitments"][name] = base64.b64encode(bytes(31) + b"\x80").decode()
    data = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
    with pytest.raises(FormatError, match=name):
        claims.ProofBundle.from_bytes(data)
