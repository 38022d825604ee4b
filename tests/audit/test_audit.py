"""The audit log: every kind of edit is caught and the first bad record is named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from veil.audit import AuditError, AuditLog, Rejection, helper_countersign, load_keys, verify_log
from veil.crypto.keys import generate_identity
from veil.errors import IntegrityError


@pytest.fixture()
def log(tmp_path: Path):
    leader, helper = generate_identity("ed25519"), generate_identity("ed25519")
    audit = AuditLog(
        tmp_path / "audit.log",
        leader,
        helper.recipient(),
        lambda rec: helper_countersign(helper, rec),
    )
    model = "00" * 32
    for r in range(1, 6):
        after = f"{r:02x}" * 32
        audit.append(
            task="credit-risk",
            round=r,
            model_before=model,
            model_after=after,
            accepted=[f"{r:02x}" * 16, "ff" * 16],
            rejected=[Rejection("ee" * 16, "norm bound")],
            epsilon=0.5 * r,
        )
        model = after
    return audit, leader, helper


def _lines(audit) -> list[str]:
    return audit.path.read_text().splitlines()


def _write(audit, lines: list[str]) -> None:
    audit.path.write_text("".join(line + "\n" for line in lines))


def test_a_good_log_verifies(log) -> None:
    audit, leader, helper = log
    records = verify_log(audit.path, leader.recipient(), helper.recipient())
    assert [r.round for r in records] == [1, 2, 3, 4, 5]
    assert load_keys(audit.path) == (leader.recipient(), helper.recipient())


def _expect_bad(audit, leader, helper, index: int) -> None:
    with pytest.raises(AuditError) as info:
        verify_log(audit.path, leader.recipient(), helper.recipient())
    assert info.value.index == index


@pytest.mark.parametrize(
    "field", ["epsilon", "task", "model_after", "accepted", "rejected", "time", "round"]
)
def test_edit_of_any_field_names_the_record(log, field: str) -> None:
    audit, leader, helper = log
    lines = _lines(audit)
    data = json.loads(lines[2])
    data[field] = {
        "epsilon": 0.01,
        "task": "other",
        "model_after": "ab" * 32,
        "accepted": [],
        "rejected": [],
        "time": "2020-01-01T00:00:00+00:00",
        "round": 30,
    }[field]
    lines[2] = json.dumps(data, sort_keys=True, separators=(",", ":"))
    _write(audit, lines)
    _expect_bad(audit, leader, helper, 2)


def test_deletion_reordering_insertion_truncation(log) -> None:
    audit, leader, helper = log
    good = _lines(audit)
    _write(audit, good[:1] + good[2:])
    _expect_bad(audit, leader, helper, 1)
    _write(audit, [good[0], good[2], good[1], *good[3:]])
    _expect_bad(audit, leader, helper, 1)
    _write(audit, [*good[:3], good[3], *good[3:]])
    _expect_bad(audit, leader, helper, 4)
    audit.path.write_text("\n".join(good)[:-10])
    with pytest.raises(AuditError):
        verify_log(audit.path, leader.recipient(), helper.recipient())


def test_forged_signatures_and_wrong_keys(log) -> None:
    audit, leader, helper = log
    with pytest.raises(AuditError, match="leader"):
        verify_log(audit.path, generate_identity("ed25519").recipient(), helper.recipient())
    with pytest.raises(AuditError, match="helper"):
        verify_log(audit.path, leader.recipient(), generate_identity("ed25519").recipient())


def test_helper_refuses_a_fork(log) -> None:
    audit, leader, helper = log
    last = verify_log(audit.path, leader.recipient(), helper.recipient())[-1]
    with pytest.raises(Exception, match="does not extend"):
        helper_countersign(helper, last, expected_prev="00" * 32)


def test_cli_verify(log) -> None:
    import subprocess
    import sys

    audit, _, _ = log
    ok = subprocess.run(
        [sys.executable, "-m", "veil.cli", "audit", "verify", str(audit.path)],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    assert "5 records" in ok.stdout
    lines = _lines(audit)
    lines[3] = lines[3].replace('"epsilon":2.0', '"epsilon":0.2')
    _write(audit, lines)
    bad = subprocess.run(
        [sys.executable, "-m", "veil.cli", "audit", "verify", str(audit.path)],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1 and "record 3" in bad.stderr


def _round_fields(r: int) -> dict:
    return {
        "task": "credit-risk",
        "round": r,
        "model_before": f"{r - 1:02x}" * 32,
        "model_after": f"{r:02x}" * 32,
        "accepted": ["aa" * 16],
        "rejected": [],
        "epsilon": None,
    }


def test_an_append_interrupted_after_the_countersignature_is_completed_with_the_same_record(
    tmp_path: Path,
) -> None:
    """Two-phase append: the record is staged before the helper countersigns it; a leader
    that dies after the countersignature offers the very same record (same time, same hash)
    again, which a helper that only moves forward accepts."""
    from datetime import UTC, datetime, timedelta

    leader, helper = generate_identity("ed25519"), generate_identity("ed25519")
    head: list[str] = []  # the helper's durable view: the last record hash it countersigned

    def countersign(rec):
        digest = rec.digest().hex()
        if head and head[-1] != digest and rec.prev != head[-1]:
            raise RuntimeError("does not extend")
        head.append(digest)
        return helper_countersign(helper, rec)

    def dying(rec):
        countersign(rec)
        raise KeyboardInterrupt  # stands for the leader dying before it writes the log

    first = AuditLog(tmp_path / "audit.log", leader, helper.recipient(), dying)
    t0 = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    with pytest.raises(KeyboardInterrupt):
        first.append(**_round_fields(1), now=t0)
    assert not first.path.exists() and first.pending.exists()
    again = AuditLog(tmp_path / "audit.log", leader, helper.recipient(), countersign)
    rec = again.append(**_round_fields(1), now=t0 + timedelta(minutes=5))
    assert rec.time == t0.isoformat(timespec="seconds")  # the staged record's time
    assert rec.digest().hex() == head[0] == head[-1]
    assert not again.pending.exists()
    # a stale staged record (another round) is not reused
    again.pending.write_text(first.pending.name)  # garbage: ignored
    nxt = again.append(**_round_fields(2), now=t0 + timedelta(minutes=9))
    assert nxt.time == (t0 + timedelta(minutes=9)).isoformat(timespec="seconds")
    assert [r.round for r in verify_log(again.path, leader.recipient(), helper.recipient())] == [
        1,
        2,
    ]


def test_a_log_is_not_continued_with_other_aggregators_keys(log) -> None:
    audit, _, helper = log
    with pytest.raises(IntegrityError, match="other aggregators"):
        AuditLog(audit.path, generate_identity("ed25519"), helper.recipient(), lambda r: b"")


def test_cli_verify_reports_gaps_in_round_numbers(tmp_path: Path) -> None:
    """Finding 4: ``veil audit verify`` names the rounds with no record."""
    import subprocess
    import sys

    leader, helper = generate_identity("ed25519"), generate_identity("ed25519")
    audit = AuditLog(
        tmp_path / "audit.log", leader, helper.recipient(), lambda r: helper_countersign(helper, r)
    )
    for r in (1, 2, 4, 7):
        fields = _round_fields(r)
        fields["model_before"] = audit.records()[-1].model_after if r > 1 else "00" * 32
        audit.append(**fields)

    def run(*extra: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "veil.cli", "audit", "verify", str(audit.path), *extra]
        return subprocess.run(cmd, capture_output=True, text=True)

    out = run()
    assert out.returncode == 0, out.stderr
    assert "GAPS: 3 round(s) without a record: 3, 5, 6" in out.stdout
    assert run("--strict").returncode == 1
    from veil.audit import round_gaps

    assert round_gaps(audit.records()) == [3, 5, 6]
