"""Frozen proof vectors (tests/vectors/zk) verify forever; altered ones never do."""

from __future__ import annotations

import json

import pytest
from zk_paths import FROZEN
from zk_vectors import RANGE_CASES, claim_cases

from veil.errors import ProofError
from veil.zk import claims, group
from veil.zk.bulletproofs import RangeProof
from veil.zk.transcript import Transcript

MANIFEST = json.loads((FROZEN / "bundles.json").read_text())


@pytest.mark.parametrize(("n", "m"), [(n, m) for n, m, _ in RANGE_CASES])
def test_frozen_range_proofs(n: int, m: int) -> None:
    doc = json.loads((FROZEN / f"rangeproof_{n}x{m}.json").read_text())
    assert (doc["n"], doc["m"]) == (n, m)
    coms = [group.decode_point(bytes.fromhex(c)) for c in doc["commitments"]]
    proof = RangeProof.from_bytes(bytes.fromhex(doc["proof"]))
    label = doc["transcript_label"].encode()
    proof.verify(Transcript(label), coms, n)
    with pytest.raises(ProofError):
        proof.verify(Transcript(label + b"!"), coms, n)


@pytest.mark.parametrize("entry", MANIFEST, ids=lambda e: e["file"])
def test_frozen_bundles(entry: dict) -> None:
    bundle = claims.ProofBundle.from_bytes((FROZEN / entry["file"]).read_bytes())
    expected = {f"{stem}.json": st for stem, _, st, _ in claim_cases()}[entry["file"]]
    ctx = entry["context"].encode()
    assert claims.verify(bundle, context=ctx, expected=expected) == entry["names"]
    with pytest.raises(ProofError):
        claims.verify(bundle, context=ctx + b" ")
