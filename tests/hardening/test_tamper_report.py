"""Exhaustive tamper suite for aggregation reports (docs/protocol.md §3), through the Leader.

Every tampered report goes through ``VerifiedAggregator.aggregate_round`` with an in-process
Helper, in the same round as an honest report (a round holds hundreds of tampered reports,
placed before the honest one). In every round: each tampered report is rejected with the
:class:`Reason` its field calls for, none is accepted, and the released aggregate equals the
honest report's alone, exactly (noise off), so nothing of a tampered report is released.

* as sent: every bit of the magic, task id, round, report id, client id and its length, each
  public share and its length, both sealed-share lengths, the sealed Helper share and the
  signature; every byte of the 58 KB sealed Leader share (one bit per byte, every bit of its
  HPKE encapsulated key and tag); truncations and a trailing byte;
* re-signed by the client after the flip (a client lying about its own report, or a
  tampering channel that holds the key): every bit of the task id, round, report id, client
  id, PINE public share and sealed Helper share, and of the Leader share's first and last
  48 bytes plus one byte in every 97 — caught by the HPKE binding (docs/protocol.md §3.1),
  the round check or the Helper;
* whole-report cases: signed by another client's or an outsider's key, a valid report of
  another task or round, a replay, a duplicate, shares swapped between roles or reports.

A round admits one report per client past the signature check (``duplicate``), so re-signed
reports come one per client per round, from 32 enrolled clients.
"""

from __future__ import annotations

import dataclasses
import os
import struct
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pytest

from veil.aggregation.messages import Reason
from veil.aggregation.report import MAGIC, Report, signed_message
from veil.aggregation.testing import Consortium, make_consortium
from veil.crypto.signing import Ed25519Identity
from veil.errors import FormatError

ROUND = 7
CLIENTS = 32
DIMENSION = 4  # PINE's smallest Leader share here (58 KB; 91 KB at 8)
BATCH = 1000  # tampered reports per round (each a 58 KB copy)


@dataclass(frozen=True)
class Layout:
    """Byte ranges of each field in one encoded report."""

    fields: dict[str, range]

    @classmethod
    def of(cls, rep: Report) -> Layout:
        md = rep.metadata
        sizes = [
            ("magic", len(MAGIC)),
            ("task_id", 32),
            ("round", 4),
            ("report_id", 16),
            ("client_id_len", 1),
            ("client_id", len(md.client_id)),
            ("pine_public_share_len", 4),
            ("pine_public_share", len(md.pine_public_share)),
            ("weight_public_share_len", 4),
            ("weight_public_share", len(md.weight_public_share)),
            ("leader_share_len", 4),
            ("leader_share", len(rep.leader_share)),
            ("helper_share_len", 4),
            ("helper_share", len(rep.helper_share)),
            ("signature", 64),
        ]
        fields, pos = {}, 0
        for name, n in sizes:
            fields[name] = range(pos, pos + n)
            pos += n
        assert pos == len(rep.encode())
        return cls(fields)


@dataclass
class Setup:
    cons: Consortium
    reports: dict[str, Report]  # one genuine report per client, all for ROUND
    honest: bytes  # c0's
    expected: np.ndarray  # the aggregate of the honest report alone
    layout: Layout


@pytest.fixture(scope="module")
def world() -> Setup:
    cons = make_consortium(n_clients=CLIENTS, dimension=DIMENSION)
    reports = {
        c: cons.builder(c).build(ROUND, np.linspace(-0.3, 0.3, DIMENSION) * (i + 1) / 40, 7 + i)
        for i, c in enumerate(cons.client_keys)
    }
    honest = reports["c0"].encode()
    leader, _ = cons.in_process()
    alone = leader.aggregate_round(ROUND, [honest])
    assert alone.accepted == ["c0"] and alone.rejected == []
    assert len(reports["c0"].metadata.weight_public_share) == 0  # Prio3Sum: no joint randomness
    return Setup(cons, reports, honest, alone.aggregate, Layout.of(reports["c0"]))


def _round(world: Setup, tampered: list[bytes]) -> Counter[str]:
    """One round of ``tampered`` + the honest report: the rejection reasons, after checking
    that only the honest report was accepted and that exactly its aggregate was released."""
    leader, _ = world.cons.in_process()
    res = leader.aggregate_round(ROUND, [*tampered, world.honest])
    assert res.accepted == ["c0"]
    assert res.accepted_ids == [world.reports["c0"].metadata.report_id.hex()]
    assert np.array_equal(res.aggregate, world.expected)
    assert len(res.rejected) == len(tampered) == len(res.rejected_ids)
    valid = {r.value for r in Reason}
    assert all(reason in valid for _, reason in res.rejected)
    return Counter(reason for _, reason in res.rejected)


def _rounds(world: Setup, tampered: list[bytes], batch: int = BATCH) -> Counter[str]:
    out: Counter[str] = Counter()
    for start in range(0, len(tampered), batch):
        out += _round(world, tampered[start : start + batch])
    return out


def _flip(data: bytes, bit: int) -> bytes:
    bad = bytearray(data)
    bad[bit // 8] ^= 1 << (bit % 8)
    return bytes(bad)


def _bits(span: range) -> list[int]:
    return [8 * b + i for b in span for i in range(8)]


def _sparse_bits(span: range, edge: int, step: int) -> list[int]:
    """Every bit of the first and last ``edge`` bytes, one bit of every ``step``-th byte."""
    return _bits(span[:edge]) + _bits(span[-edge:]) + [8 * b + b % 8 for b in span[edge:-edge:step]]


# ----- as sent: the signature is the client's original --------------------------------------

AS_SENT = {
    "magic": {Reason.MALFORMED},
    "task_id": {Reason.WRONG_TASK},  # checked before the signature
    "round": {Reason.BAD_SIGNATURE},
    "report_id": {Reason.BAD_SIGNATURE},
    "client_id_len": {Reason.MALFORMED},
    # "c0": a high bit is not ASCII; "c1", "c2"… are enrolled (another key); "b0" is not
    "client_id": {Reason.MALFORMED, Reason.UNKNOWN_CLIENT, Reason.BAD_SIGNATURE},
    "pine_public_share_len": {Reason.MALFORMED},
    "pine_public_share": {Reason.BAD_SIGNATURE},
    "weight_public_share_len": {Reason.MALFORMED},
    "leader_share_len": {Reason.MALFORMED},
    "helper_share_len": {Reason.MALFORMED},
    "helper_share": {Reason.BAD_SIGNATURE},
    "signature": {Reason.BAD_SIGNATURE},
}


@pytest.mark.parametrize("field", sorted(AS_SENT))
def test_every_bit_as_sent(world: Setup, field: str) -> None:
    bits = _bits(world.layout.fields[field])
    got = _rounds(world, [_flip(world.honest, b) for b in bits])
    assert sum(got.values()) == len(bits) > 0
    assert set(got) <= {r.value for r in AS_SENT[field]}, got
    if field == "client_id":  # all three outcomes happen
        assert len(got) == 3, got


@pytest.mark.slow
def test_every_byte_of_the_sealed_leader_share_as_sent(world: Setup) -> None:
    """One bit of every byte (the bit rotates), and every bit of the encapsulated key (first
    32 bytes) and the GCM tag (last 16): all stop at the signature."""
    span = world.layout.fields["leader_share"]
    bits = [8 * b + b % 8 for b in span[32:-16]] + _bits(span[:32]) + _bits(span[-16:])
    assert len(bits) == len(span) - 48 + 48 * 8
    got = _rounds(world, [_flip(world.honest, b) for b in bits])
    assert got == Counter({Reason.BAD_SIGNATURE.value: len(bits)})


def test_truncated_or_extended(world: Setup) -> None:
    h = world.honest
    cuts = sorted({0, 1, len(h) - 1, *(r.start for r in world.layout.fields.values())} - {len(h)})
    tampered = [h[:n] for n in cuts] + [h + b"\x00", h + h[-64:], h[:-64] + h]
    got = _round(world, tampered)
    assert got == Counter({Reason.MALFORMED.value: len(tampered)})


# ----- re-signed: the client signs the tampered report with its own key ----------------------

RESIGNED = {
    "task_id": {Reason.WRONG_TASK},
    "round": {Reason.WRONG_ROUND},  # and the HPKE info binds the round too
    "report_id": {Reason.LEADER_SHARE_INVALID},  # bound by the HPKE info (and the nonce)
    "client_id": {Reason.MALFORMED, Reason.UNKNOWN_CLIENT, Reason.BAD_SIGNATURE},
    "pine_public_share": {Reason.LEADER_SHARE_INVALID},  # the metadata digest in the info
    "leader_share": {Reason.LEADER_SHARE_INVALID},
    "helper_share": {Reason.HELPER_SHARE_INVALID},  # the Leader's half verifies; the Helper's not
}


def _resign(world: Setup, data: bytes, client: str) -> bytes:
    """``data`` re-signed by ``client``'s key; left as is if it no longer decodes."""
    try:
        rep = Report.decode(data)
    except FormatError:
        return data
    msg = signed_message(rep.metadata, rep.leader_share, rep.helper_share)
    return dataclasses.replace(rep, signature=world.cons.client_keys[client].sign(msg)).encode()


def _resigned_rounds(world: Setup, field: str, bits: list[int]) -> Counter[str]:
    """Bit ``bits[i]`` (c0's layout) of the same field of client c(1 + i mod 31)'s report,
    re-signed: one report per client in a round (ids "c10"… shift the later fields by one)."""
    others = [f"c{i}" for i in range(1, CLIENTS)]
    base = 8 * world.layout.fields[field].start
    tampered = []
    for i, bit in enumerate(bits):
        client = others[i % len(others)]
        start = 8 * Layout.of(world.reports[client]).fields[field].start
        genuine = world.reports[client].encode()
        tampered.append(_resign(world, _flip(genuine, bit - base + start), client))
    return _rounds(world, tampered, batch=len(others))


@pytest.mark.parametrize("field", sorted(set(RESIGNED) - {"leader_share", "helper_share"}))
def test_every_bit_resigned(world: Setup, field: str) -> None:
    bits = _bits(world.layout.fields[field])
    got = _resigned_rounds(world, field, bits)
    assert sum(got.values()) == len(bits)
    assert set(got) <= {r.value for r in RESIGNED[field]}, got


@pytest.mark.slow
def test_every_bit_of_the_sealed_helper_share_resigned(world: Setup) -> None:
    """The Leader's share opens and verifies; the Helper's share no longer opens."""
    bits = _bits(world.layout.fields["helper_share"])
    got = _resigned_rounds(world, "helper_share", bits)
    assert got == Counter({Reason.HELPER_SHARE_INVALID.value: len(bits)})


def test_sealed_leader_share_resigned(world: Setup) -> None:
    bits = _sparse_bits(world.layout.fields["leader_share"], edge=48, step=97)
    assert len(bits) > 1000
    got = _resigned_rounds(world, "leader_share", bits)
    assert got == Counter({Reason.LEADER_SHARE_INVALID.value: len(bits)})


# ----- whole reports: every field valid, something else wrong -------------------------------


def _signed_by(rep: Report, key: Ed25519Identity) -> bytes:
    return dataclasses.replace(rep, signature=key.sign(rep.signed_bytes())).encode()


def _with_shares(world: Setup, rep: Report, leader: bytes, helper: bytes) -> bytes:
    swapped = dataclasses.replace(rep, leader_share=leader, helper_share=helper)
    return _signed_by(swapped, world.cons.client_keys[rep.metadata.client_id])


def test_whole_report_cases(world: Setup) -> None:
    r1, r2, r3, r4, r5 = (world.reports[f"c{i}"] for i in range(1, 6))
    other_task = dataclasses.replace(
        world.cons, cfg=dataclasses.replace(world.cons.cfg, task_id=os.urandom(32))
    )
    cases = {
        # the fields all valid, signed by someone else
        _signed_by(r1, world.cons.client_keys["c2"]): Reason.BAD_SIGNATURE,
        _signed_by(r2, Ed25519Identity.generate()): Reason.BAD_SIGNATURE,
        _signed_by(r3, world.cons.leader_signing): Reason.BAD_SIGNATURE,
        # a valid, signed report of another task / round (same client, same keys)
        other_task.builder("c4").build(ROUND, np.zeros(DIMENSION), 1).encode(): Reason.WRONG_TASK,
        world.cons.builder("c5").build(ROUND + 1, np.zeros(DIMENSION), 1).encode(): (
            Reason.WRONG_ROUND
        ),
        # an outsider with a well-formed report under an unknown id
        _outsider(world): Reason.UNKNOWN_CLIENT,
        # shares swapped between roles, or taken from another client's report (re-signed)
        _with_shares(world, r1, r1.helper_share, r1.leader_share): Reason.LEADER_SHARE_INVALID,
        _with_shares(world, r2, r4.leader_share, r2.helper_share): Reason.LEADER_SHARE_INVALID,
        _with_shares(world, r3, r3.leader_share, r5.helper_share): Reason.HELPER_SHARE_INVALID,
    }
    got = _round(world, list(cases))
    assert got == Counter(r.value for r in cases.values())


def test_duplicate_and_replay(world: Setup) -> None:
    """The same client twice in one round, and a collected report sent again next round."""
    leader, _ = world.cons.in_process()
    again = world.cons.builder("c0").build(ROUND, np.zeros(DIMENSION), 3).encode()
    res = leader.aggregate_round(ROUND, [world.honest, again, world.honest])
    assert res.accepted == ["c0"] and np.array_equal(res.aggregate, world.expected)
    assert sorted(r for _, r in res.rejected) == [Reason.DUPLICATE.value] * 2
    next_round = world.cons.builder("c1").build(ROUND + 1, np.zeros(DIMENSION), 3).encode()
    res = leader.aggregate_round(ROUND + 1, [world.honest, next_round])
    assert res.accepted == ["c1"]
    assert [reason for _, reason in res.rejected] == [Reason.REPLAYED.value]


def _outsider(world: Setup) -> bytes:
    from veil.aggregation.client import ReportBuilder

    key = Ed25519Identity.generate()
    return ReportBuilder(world.cons.cfg, "zz", key).build(ROUND, np.zeros(DIMENSION), 1).encode()


def test_layout_matches_the_encoding(world: Setup) -> None:
    """The control: the field ranges above are where the encoder put each field."""
    rep, f = world.reports["c0"], world.layout.fields
    h = world.honest
    assert h[f["magic"].start : f["magic"].stop] == MAGIC
    assert h[f["round"].start : f["round"].stop] == struct.pack(">I", ROUND)
    assert h[f["client_id"].start : f["client_id"].stop] == b"c0"
    assert h[f["helper_share"].start : f["helper_share"].stop] == rep.helper_share
    assert h[f["signature"].start :] == rep.signature
