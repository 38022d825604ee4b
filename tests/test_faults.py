"""Failpoints are inert unless named, kill with SIGKILL when named, and fire once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

PROBE = "from veil.faults import failpoint; failpoint('leader.collected', 2); print('alive')"


def _run(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", PROBE], env={**os.environ, **env}, capture_output=True, timeout=60
    )


def test_inert_unless_named():
    assert _run({}).stdout.strip() == b"alive"
    assert _run({"VEIL_CRASH_AT": "leader.verified@2"}).returncode == 0
    assert _run({"VEIL_CRASH_AT": "leader.collected@3"}).returncode == 0


def test_named_point_kills_with_sigkill_once(tmp_path):
    once = tmp_path / "fired"
    env = {"VEIL_CRASH_AT": "leader.collected@2", "VEIL_CRASH_ONCE": str(once)}
    first = _run(env)
    assert first.returncode == -signal.SIGKILL and first.stdout == b""
    assert int(once.read_text()) > 0  # the pid that reached the point
    assert _run(env).stdout.strip() == b"alive"  # a restarted process goes on
    assert _run({"VEIL_CRASH_AT": "leader.collected"}).returncode == -signal.SIGKILL  # any round
