"""Crash recovery with real processes: SIGKILL the Leader or the Helper in the middle of a
round, and the run ends with exactly the model of an uninterrupted run with the same seed.

The Leader is ``veil demo finance --secure`` (its own process, which runs the Helper as a
child process on 127.0.0.1). A failpoint (:mod:`veil.faults`, ``pause`` mode) stops the
chosen process at a precise point of round 2 and writes its pid; the test then sends that
process SIGKILL, as an operator's ``kill -9`` or the OOM killer would. Noise is off, so the
verified aggregate is exact and "the same model" means bit for bit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from veil.aggregation.config import ConsortiumConfig
from veil.audit import load_keys, verify_log
from veil.crypto.keys import load_identities
from veil.fl.checkpoint import SealedCheckpointer

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROUNDS, CRASH_ROUND, SEED = 3, 2, 5
EXACT = ("--noise-multiplier", "0")


def _start(out: Path, *extra: str, env: dict | None = None) -> subprocess.Popen:
    argv = [sys.executable, "-m", "veil.cli", "demo", "finance", "--secure", "--rounds",
            str(ROUNDS), "--seed", str(SEED), "--no-explain", "--out", str(out),
            *extra]  # fmt: skip
    log = open(out.parent / f"{out.name}.log", "ab")  # noqa: SIM115 - the child owns it
    return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)


def _run(out: Path, *extra: str) -> None:
    proc = _start(out, *extra)
    assert proc.wait(timeout=300) == 0, (out.parent / f"{out.name}.log").read_text()[-3000:]


def _checkpoint(out: Path):
    ids = load_identities([out / "keys" / "consortium.identity"])
    return SealedCheckpointer(out / "checkpoint.sealed", [], ids).peek()


def _audit(out: Path):
    return verify_log(out / "audit.log", *load_keys(out / "audit.log"))


def _helper_answers(out: Path) -> bool:
    cfg = ConsortiumConfig.load(out / "aggregation" / "consortium.toml")
    try:
        return httpx.get(cfg.helper_endpoint + "/v1/health", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _wait_for(path: Path, proc: subprocess.Popen, timeout_s: float = 120) -> int:
    """The pid a paused failpoint wrote to ``path``."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        assert proc.poll() is None, "the run ended before reaching the failpoint"
        time.sleep(0.05)
    raise AssertionError("the failpoint was never reached")


def _crash_env(tmp_path: Path, point: str) -> tuple[dict, Path]:
    fired = tmp_path / "fired"
    env = {
        **os.environ,
        "VEIL_CRASH_AT": f"{point}@{CRASH_ROUND}",
        "VEIL_CRASH_ONCE": str(fired),
        "VEIL_CRASH_MODE": "pause",
    }
    return env, fired


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The uninterrupted run."""
    out = tmp_path_factory.mktemp("reference") / "run"
    _run(out, *EXACT)
    return out


def _same_as_reference(out: Path, reference: Path) -> None:
    got, want = _checkpoint(out), _checkpoint(reference)
    assert got.round == want.round == ROUNDS
    assert np.array_equal(got.vector, want.vector)  # bit for bit
    # one audit log across the crash: one record per round, the same models as the reference
    records = _audit(out)
    assert [r.round for r in records] == list(range(1, ROUNDS + 1))
    assert [r.model_after for r in records] == [r.model_after for r in _audit(reference)]
    report = json.loads((out / "report.json").read_text())
    assert [r["round"] for r in report["rounds"]] == list(range(1, ROUNDS + 1))
    assert report["audit"]["records"] == ROUNDS
    assert report["final"] == json.loads((reference / "report.json").read_text())["final"]
    assert not (out / "audit.log.pending").exists()


LEADER_POINTS = ["leader.verified", "leader.collected", "leader.countersigned", "leader.audited"]


@pytest.mark.parametrize("point", LEADER_POINTS)
def test_leader_sigkilled_mid_round_resumes_to_the_same_model(point, reference, tmp_path):
    out = tmp_path / "run"
    env, fired = _crash_env(tmp_path, point)
    leader = _start(out, *EXACT, env=env)
    assert _wait_for(fired, leader) == leader.pid
    leader.send_signal(signal.SIGKILL)
    assert leader.wait(timeout=30) == -signal.SIGKILL
    # the last completed round is 1: round 2 was in flight
    assert _checkpoint(out).round == CRASH_ROUND - 1
    # the Helper process stopped with the Leader that ran it (no orphan holding the task)
    deadline = time.time() + 20
    while _helper_answers(out):
        assert time.time() < deadline, "the Helper outlived its Leader"
        time.sleep(0.1)
    _run(out, *EXACT, "--resume")
    _same_as_reference(out, reference)


@pytest.mark.parametrize("point", ["helper.verifying", "helper.collected"])
def test_helper_sigkilled_mid_round_is_restarted_and_the_run_ends_with_the_same_model(
    point, reference, tmp_path
):
    out = tmp_path / "run"
    env, fired = _crash_env(tmp_path, point)
    leader = _start(out, *EXACT, env=env)
    helper_pid = _wait_for(fired, leader)
    assert helper_pid != leader.pid
    os.kill(helper_pid, signal.SIGKILL)
    assert leader.wait(timeout=300) == 0, (tmp_path / "run.log").read_text()[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["rounds"][CRASH_ROUND - 1].get("helper_restarts") == 1
    assert all(r["rejected"] == [] for r in report["rounds"])
    _same_as_reference(out, reference)


def test_dp_budget_survives_a_leader_crash_after_the_release(tmp_path):
    """With noise on, a Leader killed after the Helper released its noised share re-collects
    that same share on resume: the round is released once, and ε is that of 3 rounds."""
    ref = tmp_path / "ref"
    _run(ref)
    out = tmp_path / "run"
    env, fired = _crash_env(tmp_path, "leader.collected")
    leader = _start(out, env=env)
    _wait_for(fired, leader)
    leader.send_signal(signal.SIGKILL)
    leader.wait(timeout=30)
    _run(out, "--resume")
    got = json.loads((out / "report.json").read_text())
    want = json.loads((ref / "report.json").read_text())
    assert got["privacy"]["epsilon"] == pytest.approx(want["privacy"]["epsilon"], rel=1e-9)
    assert [r["epsilon"] for r in got["rounds"]] == pytest.approx(
        [r["epsilon"] for r in want["rounds"]], rel=1e-9
    )
    assert [r.round for r in _audit(out)] == [1, 2, 3]
    # resuming the finished run again starts no round and keeps what the report says
    _run(out, "--resume")
    again = json.loads((out / "report.json").read_text())
    assert again["privacy"] == got["privacy"] and again["audit"] == got["audit"] == {
        "log": "audit.log",
        "records": 3,
    }
    assert again["config"]["secure"]["clip_norm"] == got["config"]["secure"]["clip_norm"]
