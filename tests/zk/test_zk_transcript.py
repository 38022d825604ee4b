"""The Fiat–Shamir transcript: deterministic, framed, order- and label-sensitive."""

from __future__ import annotations

import pytest

from veil.errors import EncodingError, ProofError
from veil.zk import group
from veil.zk.transcript import Transcript


def challenge(*appends: tuple[bytes, bytes], label: bytes = b"proto") -> int:
    t = Transcript(label)
    for k, v in appends:
        t.append_message(k, v)
    return t.challenge_scalar(b"c")


def test_deterministic_and_in_range() -> None:
    c = challenge((b"a", b"x"))
    assert c == challenge((b"a", b"x"))
    assert 0 < c < group.ORDER


def test_framing_separates_everything() -> None:
    base = challenge((b"a", b"xy"))
    assert base != challenge((b"a", b"xy"), label=b"other")
    assert base != challenge((b"ax", b"y"))  # moving bytes between label and message
    assert base != challenge((b"a", b"x"), (b"", b"y"))
    assert challenge((b"a", b"1"), (b"b", b"2")) != challenge((b"b", b"2"), (b"a", b"1"))


def test_challenges_chain() -> None:
    t = Transcript(b"p")
    c1, c2 = t.challenge_scalar(b"c"), t.challenge_scalar(b"c")
    assert c1 != c2


def test_identity_rejected_for_prover_messages() -> None:
    t = Transcript(b"p")
    t.append_point(b"V", group.IDENTITY)  # statement points may be anything valid
    with pytest.raises(ProofError):
        t.validate_and_append_point(b"A", group.IDENTITY)


def test_invalid_points_rejected() -> None:
    t = Transcript(b"p")
    with pytest.raises(EncodingError):
        t.append_point(b"V", b"\xff" * 32)
    with pytest.raises(EncodingError):
        t.validate_and_append_point(b"A", b"\x01" * 32)
    with pytest.raises(EncodingError):
        t.append_point(b"V", bytes(31))
