"""Exhaustive tamper suite for ZK proof bundles (``veil.zk.claims``).

tests/zk/test_zk_claims.py already flips the low bit of every byte of a range bundle and of
a sigma bundle. A low-bit flip mostly lands outside the base64 alphabet or breaks the JSON,
so most of those mutations stop in the parser. This suite covers what that leaves out:

* one bundle holding every claim kind together — a one-sided range (single 16-bit proof),
  a two-sided range (aggregated proof), a linear relation, a one-of set and an equality;
* every byte replaced by a *different character of its own class* (a base64 character by
  another base64 character, a digit by another digit, a letter by another letter), so the
  mutation survives JSON and base64 decoding and reaches point and scalar validation and
  the verifier itself;
* where the change falls inside one claim's proof, the error must be ``FormatError`` or a
  ``ProofError`` naming *that* claim, never another one;
* every bit of each commitment, re-encoded canonically, rejected.
"""

from __future__ import annotations

import base64
import json
import string
from collections import Counter

import pytest

from veil.errors import FormatError, ProofError
from veil.zk import claims

SECRETS = {"income": 52_000, "age": 40, "rows": 1200, "rows_a": 700, "rows_b": 500, "t": 2, "u": 2}
STATEMENTS = [
    claims.Range("income", 0, 65_535, name="income"),  # 2^16 − 1 wide: one 16-bit proof
    claims.Range("age", 18, 120, name="age"),  # two-sided, aggregated 8-bit proof
    claims.Linear({"rows_a": 1, "rows_b": 1, "rows": -1}, 0, name="rows"),
    claims.OneOf("t", [1, 2, 3], name="tier"),
    claims.Equal("t", "u", name="same"),
]
CONTEXT = b"hardening"
B64 = string.ascii_uppercase + string.ascii_lowercase + string.digits + "+/"


@pytest.fixture(scope="module")
def bundle() -> bytes:
    b = claims.prove(SECRETS, STATEMENTS, context=CONTEXT)
    assert [c.shape for c in b.statements[:2]] == [(16, 1), (8, 2)]
    data = b.to_bytes()
    assert claims.verify(claims.ProofBundle.from_bytes(data), context=CONTEXT)
    return data


def _other(ch: str) -> str:
    """A different character of the same class (digit, letter, base64 symbol, other)."""
    for alphabet in (string.digits, string.ascii_letters, B64):
        if ch in alphabet:
            return alphabet[(alphabet.index(ch) + 1) % len(alphabet)]
    return chr(ord(ch) ^ 0x01)


def _proof_spans(data: bytes) -> dict[str, range]:
    """Byte ranges of each claim's base64 proof inside the serialised bundle."""
    obj = json.loads(data)
    spans = {}
    for item in obj["claims"]:
        start = data.index(item["proof"].encode())
        spans[item["statement"]["name"]] = range(start, start + len(item["proof"]))
    return spans


def _outcome(data: bytes) -> str:
    try:
        claims.verify(claims.ProofBundle.from_bytes(data), context=CONTEXT)
    except FormatError:
        return "format"
    except ProofError as err:
        return f"proof:{err.claim}"
    return "ACCEPTED"


@pytest.mark.slow
def test_every_byte_replaced_within_its_class(bundle: bytes) -> None:
    spans = _proof_spans(bundle)
    owner = {i: name for name, span in spans.items() for i in span}
    outcomes: Counter[str] = Counter()
    wrong = []
    for i, ch in enumerate(bundle.decode("ascii")):
        bad = bytearray(bundle)
        bad[i] = ord(_other(ch))
        got = _outcome(bytes(bad))
        outcomes[got] += 1
        if got == "ACCEPTED" or (i in owner and got not in ("format", f"proof:{owner[i]}")):
            wrong.append((i, ch, got))
    assert wrong == []
    # the mutations reached the verifier of every claim, not only the parser
    for name in spans:
        assert outcomes[f"proof:{name}"] > 0, outcomes
    assert outcomes["format"] > 0


def test_every_bit_of_every_commitment(bundle: bytes) -> None:
    """A commitment changed (re-encoded canonically): not a point, or no proof verifies."""
    obj = json.loads(bundle)
    outcomes: Counter[str] = Counter()
    for name, text in sorted(obj["commitments"].items()):
        raw = base64.b64decode(text)
        for i in range(len(raw) * 8):
            bad = bytearray(raw)
            bad[i // 8] ^= 1 << (i % 8)
            forged = dict(
                obj, commitments={**obj["commitments"], name: base64.b64encode(bad).decode()}
            )
            data = json.dumps(forged, sort_keys=True, separators=(",", ":")).encode()
            got = _outcome(data)
            assert got != "ACCEPTED", (name, i)
            outcomes[got] += 1
    assert outcomes["format"] > 0 and sum(v for k, v in outcomes.items() if k != "format") > 0
