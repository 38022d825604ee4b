"""The audit log wired into verified aggregation: the Helper countersigns only what it saw.

In-process Helper for the refusal cases (fast); the Helper's HTTP endpoint through starlette's
test client; and the secure finance demo end to end (real Helper process) followed by
``veil audit verify`` on its output folder, intact and after each kind of edit.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from veil.aggregation.aggregator import HelperCore
from veil.aggregation.store import AggregatorStore
from veil.aggregation.testing import make_consortium
from veil.aggregation.transport import InProcessHelper, auth_header
from veil.audit import GENESIS, AuditLog, AuditRecord, Rejection, verify_log
from veil.crypto.signing import Ed25519Identity
from veil.errors import ConfigError, FormatError, ProtocolError

DIM = 8


@pytest.fixture()
def setup():
    """A consortium with a Helper signing key, one verified round, and the Leader's log."""
    c = make_consortium(n_clients=3, dimension=DIM)
    hs = Ed25519Identity.generate()
    c.cfg = dataclasses.replace(c.cfg, helper_signing=hs.recipient())
    core = HelperCore(c.cfg, c.helper_hpke, AggregatorStore(":memory:", c.helper_hpke), hs)
    from veil.aggregation.leader import VerifiedAggregator

    leader = VerifiedAggregator(c.cfg, c.leader_hpke, InProcessHelper(core))
    rng = np.random.default_rng(1)
    reports = [c.builder(cid).build(1, rng.normal(0, 0.05, DIM), 10) for cid in c.cfg.clients]
    reports[2] = reports[2].encode()[:-1]  # one undecodable report: rejected, id unknown
    res = leader.aggregate_round(1, reports)
    return c, core, res, hs


def _record(c, res, *, seq=0, rnd=1, prev=GENESIS, accepted=None) -> AuditRecord:
    return AuditRecord(
        seq=seq,
        task=c.cfg.task_id.hex(),
        round=rnd,
        model_before="00" * 32,
        model_after="11" * 32,
        accepted=sorted(res.accepted_ids if accepted is None else accepted),
        rejected=[Rejection(r, why) for r, why in res.rejected_ids],
        epsilon=None,
        time="2026-01-01T00:00:00+00:00",
        prev=prev,
        unsafe=c.cfg.unsafe_settings(),  # test consortia: min_reports=1 (and no noise)
    )


def test_helper_countersigns_its_own_view(setup, tmp_path: Path) -> None:
    c, core, res, hs = setup
    assert len(res.accepted_ids) == 2 and res.rejected_ids == [("-", "malformed")]
    log = AuditLog(
        tmp_path / "audit.log",
        c.leader_signing,
        hs.recipient(),
        lambda rec: core.handle_countersign(rec.to_line().encode()),
    )
    log.append(
        task=c.cfg.task_id.hex(),
        round=1,
        model_before="00" * 32,
        model_after="11" * 32,
        accepted=res.accepted_ids,
        rejected=[Rejection(r, why) for r, why in res.rejected_ids],
        epsilon=None,
        unsafe=c.cfg.unsafe_settings(),
    )
    assert len(verify_log(log.path, c.leader_signing.recipient(), hs.recipient())) == 1
    # a retried request for the same record gets the same answer (idempotent)
    first = verify_log(log.path, c.leader_signing.recipient(), hs.recipient())[0]
    unsigned = dataclasses.replace(first, leader_sig="", helper_sig="")
    assert len(core.handle_countersign(unsigned.to_line().encode())) == 64


def test_helper_refuses_a_different_accepted_set(setup) -> None:
    c, core, res, _ = setup
    for accepted in (res.accepted_ids[:1], [*res.accepted_ids, "ab" * 16], []):
        rec = _record(c, res, accepted=accepted)
        with pytest.raises(ProtocolError, match="accepted reports differ"):
            core.handle_countersign(rec.to_line().encode())
    with pytest.raises(ProtocolError, match="collected no round 2"):
        core.handle_countersign(_record(c, res, rnd=2).to_line().encode())
    wrong_task = dataclasses.replace(_record(c, res), task="ff" * 32)
    with pytest.raises(ProtocolError, match="another task"):
        core.handle_countersign(wrong_task.to_line().encode())
    with pytest.raises(FormatError):
        core.handle_countersign(b'{"seq":0}')
    signed = dataclasses.replace(_record(c, res), leader_sig="AA")
    with pytest.raises(FormatError, match="unsigned"):
        core.handle_countersign(signed.to_line().encode())


def test_helper_refuses_a_record_that_does_not_extend_its_last(setup) -> None:
    c, core, res, _ = setup
    with pytest.raises(ProtocolError, match="does not extend"):  # first record, wrong prev
        core.handle_countersign(_record(c, res, prev="ab" * 32).to_line().encode())
    first = _record(c, res)
    core.handle_countersign(first.to_line().encode())
    # a fork: another record 0 after the Helper countersigned one
    fork = dataclasses.replace(first, model_after="22" * 32)
    with pytest.raises(ProtocolError, match="does not extend"):
        core.handle_countersign(fork.to_line().encode())
    # skipping a sequence number, with the right prev
    skip = _record(c, res, seq=2, prev=first.digest().hex())
    with pytest.raises(ProtocolError, match="does not extend"):
        core.handle_countersign(skip.to_line().encode())
    # the right prev and seq, but the same round again
    again = _record(c, res, seq=1, prev=first.digest().hex())
    with pytest.raises(ProtocolError, match="does not follow"):
        core.handle_countersign(again.to_line().encode())


def test_helper_without_signing_key_refuses(setup) -> None:
    c, _, res, _ = setup
    bare = HelperCore(c.cfg, c.helper_hpke, AggregatorStore(":memory:", c.helper_hpke))
    with pytest.raises(ConfigError):
        bare.handle_countersign(_record(c, res).to_line().encode())
    with pytest.raises(ConfigError):  # a key that is not the consortium's helper.signing
        HelperCore(
            c.cfg, c.helper_hpke, AggregatorStore(":memory:", c.helper_hpke),
            Ed25519Identity.generate(),
        )  # fmt: skip


def test_countersign_endpoint_is_authenticated_and_typed(setup) -> None:
    from starlette.testclient import TestClient

    from veil.aggregation.service import create_app

    c, core, res, hs = setup
    client = TestClient(create_app(core))
    path = f"/v1/tasks/{c.cfg.task_id.hex()}/countersign"

    def post(body: bytes, key=c.leader_signing):
        return client.post(path, content=body, headers={"authorization": auth_header(key, "POST", path, body, audience=c.audience)})  # fmt: skip

    good = _record(c, res).to_line().encode()
    assert client.post(path, content=good).status_code == 401
    assert post(good, Ed25519Identity.generate()).status_code == 401
    bad = post(_record(c, res, accepted=res.accepted_ids[:1]).to_line().encode())
    assert bad.status_code == 409 and bad.json()["type"] == "ProtocolError"
    assert post(b"not json").status_code == 400
    ok = post(good)
    assert ok.status_code == 200
    from veil.audit import _HELPER_LABEL

    assert hs.recipient().verify(ok.content, _HELPER_LABEL + _record(c, res).digest())


def _verify(log: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "veil.cli", "audit", "verify", str(log)],
        capture_output=True,
        text=True,
    )


@pytest.mark.e2e
def test_secure_demo_writes_a_verifiable_log(tmp_path: Path) -> None:
    from rich.console import Console

    from veil.scenarios import consortium, finance
    from veil.scenarios.secure_options import demo_options

    opts = demo_options(malicious=1, noise_multiplier=0.0)
    con = Console(file=open("/dev/null", "w"), width=120)  # noqa: SIM115
    consortium.run(finance.SPEC, out=tmp_path, rounds=3, console=con, secure=opts, explain=False)
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["audit"] == {"log": "audit.log", "records": 3}
    log = tmp_path / "audit.log"
    assert (tmp_path / "audit.log.keys.json").exists()
    ok = _verify(log)
    assert ok.returncode == 0, ok.stderr
    lines = log.read_text().splitlines()
    recs = [json.loads(line) for line in lines]
    assert [r["round"] for r in recs] == [1, 2, 3]
    for r, rnd in zip(recs, saved["rounds"], strict=True):
        assert len(r["accepted"]) == len(rnd["accepted"]) == 4
        assert [x["reason"] for x in r["rejected"]] == ["update_invalid"]
        assert all(len(i) == 32 for i in r["accepted"])
    assert recs[1]["model_before"] == recs[0]["model_after"] != recs[0]["model_before"]

    def broken(new_lines: list[str], index: int) -> None:
        log.write_text("".join(x + "\n" for x in new_lines))
        bad = _verify(log)
        assert bad.returncode == 1 and f"record {index}" in bad.stderr, bad.stderr

    edited = lines.copy()
    edited[1] = edited[1].replace(recs[1]["accepted"][0], "00" * 16)
    broken(edited, 1)
    broken([lines[0], lines[2]], 1)  # deletion
    broken([lines[0], lines[2], lines[1]], 1)  # reordering
    broken([lines[0], lines[1], lines[1], lines[2]], 2)  # insertion (a duplicate)
    log.write_text("".join(x + "\n" for x in lines))
    assert _verify(log).returncode == 0


def test_helper_view_survives_a_restart(tmp_path: Path) -> None:
    """The accepted ids and the audit head are in the Helper's (sealed) state file."""
    from veil.aggregation.leader import VerifiedAggregator

    c = make_consortium(n_clients=2, dimension=DIM)
    hs = Ed25519Identity.generate()
    c.cfg = dataclasses.replace(c.cfg, helper_signing=hs.recipient())
    db = tmp_path / "helper.sqlite"
    core = HelperCore(c.cfg, c.helper_hpke, AggregatorStore(db, c.helper_hpke), hs)
    leader = VerifiedAggregator(c.cfg, c.leader_hpke, InProcessHelper(core))
    reps = [c.builder(cid).build(1, np.full(DIM, 0.01), 5) for cid in c.cfg.clients]
    res = leader.aggregate_round(1, reps)
    first = _record(c, res)
    core.handle_countersign(first.to_line().encode())
    core.store.close()
    again = HelperCore(c.cfg, c.helper_hpke, AggregatorStore(db, c.helper_hpke), hs)
    with pytest.raises(ProtocolError, match="does not extend"):
        again.handle_countersign(
            dataclasses.replace(first, model_after="22" * 32).to_line().encode()
        )
    assert len(again.handle_countersign(first.to_line().encode())) == 64  # the same record
    assert first.accepted[0].encode() not in db.read_bytes()  # ids stored sealed, not as text


def test_a_log_of_an_earlier_task_is_moved_aside(tmp_path: Path) -> None:
    from veil.aggregation.round_audit import open_log

    c = make_consortium(n_clients=1, dimension=DIM)
    c.cfg = dataclasses.replace(c.cfg, helper_signing=Ed25519Identity.generate().recipient())
    path = tmp_path / "audit.log"
    path.write_text("old\n")
    (tmp_path / "audit.log.keys.json").write_text("{}")
    open_log(path, c.leader_signing, c.cfg, http=None)  # type: ignore[arg-type]
    old = sorted(p.name for p in tmp_path.iterdir())
    assert len(old) == 3 and "audit.log.keys.json" in old and not path.exists()
    aside = [n for n in old if n.startswith("audit.log.") and not n.endswith("keys.json")]
    assert (tmp_path / aside[0]).read_text() == "old\n"
    assert (tmp_path / (aside[0] + ".keys.json")).read_text() == "{}"  # still paired


def test_a_log_of_the_same_task_is_continued(tmp_path: Path) -> None:
    """A restarted or resumed Leader of the same task appends to its log, not a new one."""
    from veil.aggregation.round_audit import open_log

    c = make_consortium(n_clients=1, dimension=DIM)
    helper = Ed25519Identity.generate()
    c.cfg = dataclasses.replace(c.cfg, helper_signing=helper.recipient())
    path = tmp_path / "audit.log"
    log = open_log(path, c.leader_signing, c.cfg, http=None)  # type: ignore[arg-type]
    log.countersign = lambda rec: helper.sign(b"veil/v1/audit/helper\x00" + rec.digest())
    log.append(task=c.cfg.task_id.hex(), round=1, model_before="00" * 32,
               model_after="11" * 32, accepted=[], rejected=[], epsilon=None)  # fmt: skip
    again = open_log(path, c.leader_signing, c.cfg, http=None)  # type: ignore[arg-type]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit.log", "audit.log.keys.json"]
    assert [r.round for r in again.records()] == [1]


def _fresh_round(n_clients: int = 2):
    c = make_consortium(n_clients=n_clients, dimension=DIM)
    hs = Ed25519Identity.generate()
    c.cfg = dataclasses.replace(c.cfg, helper_signing=hs.recipient())
    core = HelperCore(c.cfg, c.helper_hpke, AggregatorStore(":memory:", c.helper_hpke), hs)
    from veil.aggregation.leader import VerifiedAggregator

    return c, core, VerifiedAggregator(c.cfg, c.leader_hpke, InProcessHelper(core))


@pytest.mark.parametrize("copy", ["resent", "forged_signature", "resent_as_bytes"])
def test_a_copy_of_an_accepted_report_cannot_block_the_audit_record(copy) -> None:
    """A second copy of an honest report — resent, or with its signature broken by someone on
    the way — is rejected without its id: the record stays one the Helper countersigns."""
    c, core, leader = _fresh_round()
    honest = [c.builder(cid).build(1, np.full(DIM, 0.01), 5) for cid in c.cfg.clients]
    extra = {
        "resent": honest[0],
        "forged_signature": dataclasses.replace(honest[0], signature=bytes(64)),
        "resent_as_bytes": honest[0].encode(),
    }[copy]
    res = leader.aggregate_round(1, [*honest, extra])
    assert sorted(res.accepted_ids) == sorted(r.metadata.report_id.hex() for r in honest)
    assert [rid for rid, _ in res.rejected_ids] == ["-"]
    assert len(core.handle_countersign(_record(c, res).to_line().encode())) == 64


def test_attested_rejections_of_bytes_reports_keep_their_ids() -> None:
    """A decodable, correctly signed report sent as bytes (the Flower path) and rejected
    after its signature checked out is recorded under its client and id."""
    c, _, leader = _fresh_round()
    early = c.builder("c0").build(1, np.full(DIM, 0.01), 5)
    leader.aggregate_round(1, [early.encode(), c.builder("c1").build(1, np.zeros(DIM), 5)])
    late = c.builder("c0").build(2, np.full(DIM, 0.01), 5)
    res = leader.aggregate_round(2, [early.encode(), late.encode()])
    assert res.rejected == [("c0", "replayed")]
    assert res.rejected_ids == [(early.metadata.report_id.hex(), "replayed")]


def _rounds(noise: float, rounds: list[int], *, zero_weight: tuple[int, ...] = ()):
    """A Helper with a signing key and the given rounds verified and collected."""
    from veil.aggregation.leader import VerifiedAggregator

    c = make_consortium(n_clients=3, dimension=DIM, noise=noise)
    hs = Ed25519Identity.generate()
    c.cfg = dataclasses.replace(c.cfg, helper_signing=hs.recipient())
    core = HelperCore(c.cfg, c.helper_hpke, AggregatorStore(":memory:", c.helper_hpke), hs)
    leader = VerifiedAggregator(c.cfg, c.leader_hpke, InProcessHelper(core))
    out = {}
    for rnd in rounds:
        w = 0 if rnd in zero_weight else 5
        reps = [c.builder(cid).build(rnd, np.full(DIM, 0.01), w) for cid in c.cfg.clients]
        try:
            out[rnd] = leader.aggregate_round(rnd, reps)
        except ProtocolError:  # released, but unusable: no result, still collected
            out[rnd] = leader.released_result(rnd)
    return c, core, out


def test_helper_refuses_a_record_that_leaves_out_a_collected_round() -> None:
    """Finding 4: the Leader must not drop a released round from the log."""
    c, core, res = _rounds(0.0, [1, 2, 4])
    with pytest.raises(ProtocolError, match=r"round 1 .*not logged"):
        core.handle_countersign(_record(c, res[2], rnd=2).to_line().encode())
    first = _record(c, res[1])
    core.handle_countersign(first.to_line().encode())
    with pytest.raises(ProtocolError, match=r"round 2 .*not logged"):
        skip = _record(c, res[4], seq=1, rnd=4, prev=first.digest().hex())
        core.handle_countersign(skip.to_line().encode())
    second = _record(c, res[2], seq=1, rnd=2, prev=first.digest().hex())
    core.handle_countersign(second.to_line().encode())
    # round 3 was never collected: a gap the Helper accepts (nothing was released)
    third = _record(c, res[4], seq=2, rnd=4, prev=second.digest().hex())
    assert len(core.handle_countersign(third.to_line().encode())) == 64


def test_helper_refuses_a_misstated_epsilon() -> None:
    """Finding 4: ε is the accountant's for the task's noise and the rounds released."""
    from veil.aggregation.dp import Accounting, epsilon

    c, core, res = _rounds(1.0, [1, 2])
    dp = c.cfg.dp
    right = [epsilon(dp.noise_multiplier, dp.sampling_rate, n, dp.delta) for n in (1, 2)]
    first = dataclasses.replace(_record(c, res[1]), epsilon=right[0])
    for wrong in (None, right[0] / 2, 0.0, right[1]):
        with pytest.raises(ProtocolError, match="epsilon"):
            bad = dataclasses.replace(first, epsilon=wrong)
            core.handle_countersign(bad.to_line().encode())
    core.handle_countersign(first.to_line().encode())
    pld = epsilon(dp.noise_multiplier, dp.sampling_rate, 2, dp.delta, Accounting.PLD)
    second = _record(c, res[2], seq=1, rnd=2, prev=first.digest().hex())
    with pytest.raises(ProtocolError, match="epsilon"):  # one round's ε for two rounds
        core.handle_countersign(dataclasses.replace(second, epsilon=right[0]).to_line().encode())
    ok = dataclasses.replace(second, epsilon=pld)  # PLD is a valid accounting too
    assert len(core.handle_countersign(ok.to_line().encode())) == 64


def test_a_released_but_unusable_round_is_logged_and_counted() -> None:
    """A round released with zero total weight counts against ε and must be logged: the
    Leader gets its accepted ids back from its stored collect job."""
    from veil.aggregation.dp import epsilon

    c, core, res = _rounds(1.0, [1, 2], zero_weight=(1,))
    dp = c.cfg.dp
    assert res[1] is not None and len(res[1].accepted_ids) == 3
    first = dataclasses.replace(
        _record(c, res[1]), epsilon=epsilon(dp.noise_multiplier, 1.0, 1, dp.delta)
    )
    core.handle_countersign(first.to_line().encode())
    second = _record(c, res[2], seq=1, rnd=2, prev=first.digest().hex())
    second = dataclasses.replace(second, epsilon=epsilon(dp.noise_multiplier, 1.0, 2, dp.delta))
    assert len(core.handle_countersign(second.to_line().encode())) == 64


def test_a_released_round_reads_back_with_its_ids_and_denominator() -> None:
    """What a resumed Leader logs for a round it released: the stored ids and the task's D."""
    from veil.aggregation.leader import VerifiedAggregator

    c = make_consortium(n_clients=3, dimension=DIM, noise=0.0)
    core = HelperCore(c.cfg, c.helper_hpke, AggregatorStore(":memory:", c.helper_hpke))
    leader = VerifiedAggregator(c.cfg, c.leader_hpke, InProcessHelper(core))
    assert leader.released_result(1) is None
    reps = [c.builder(cid).build(1, np.full(DIM, 0.01), 5) for cid in c.cfg.clients]
    res = leader.aggregate_round(1, reps)
    back = leader.released_result(1)
    assert back.denominator == res.denominator == c.cfg.fixed_denominator
    assert back.accepted_ids == res.accepted_ids and sorted(back.accepted) == sorted(res.accepted)
