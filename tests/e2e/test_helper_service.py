"""The Helper as a real process on 127.0.0.1: a verified round over HTTP, auth, limits, restart."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from veil.aggregation.adversary import Attack, hostile_report
from veil.aggregation.leader import VerifiedAggregator
from veil.aggregation.process import HelperProcess as _HelperProcess
from veil.aggregation.process import free_port
from veil.aggregation.testing import make_consortium
from veil.aggregation.transport import HttpHelper, auth_header
from veil.errors import ProtocolError

pytestmark = pytest.mark.e2e


class HelperProcess(_HelperProcess):
    def __init__(self, tmp: Path, con, port: int) -> None:
        super().__init__(tmp, con.cfg, con.helper_hpke, port)
        self.con = con


@pytest.fixture
def helper(tmp_path):
    port = free_port()
    con = make_consortium(
        n_clients=4, helper_endpoint=f"http://127.0.0.1:{port}", min_reports=2, denominator=60
    )
    hp = HelperProcess(tmp_path, con, port)
    hp.start()
    yield hp
    hp.stop()


def _leader(con, attempts=5):
    http = HttpHelper(
        con.cfg.helper_endpoint,
        con.cfg.task_id,
        con.leader_signing,
        helper=con.cfg.helper_hpke,
        attempts=attempts,
        backoff_s=0.05,
    )
    return VerifiedAggregator(con.cfg, con.leader_hpke, http), http


def test_round_over_http_with_hostile_client_and_restart(helper):
    con = helper.con
    leader, http = _leader(con)
    rng = np.random.default_rng(3)
    ups = [rng.normal(size=64) * 0.1 for _ in range(3)]
    reports = [con.builder(f"c{i}").build(0, ups[i], 10 * (i + 1)) for i in range(3)]
    reports.append(hostile_report(Attack.SCALED_X100, con.builder("c3"), 0, rng.normal(size=64), 5))
    res = leader.aggregate_round(0, reports)
    assert sorted(res.accepted) == ["c0", "c1", "c2"]
    assert res.rejected == [("c3", "update_invalid")]
    assert res.denominator == 60

    # the Helper restarts and resumes from its sealed SQLite state: round 0 stays collected
    # (a fresh Leader that forgot it cannot make the Helper aggregate those reports again)
    helper.stop()
    helper.start()
    fresh_leader, http2 = _leader(con)
    with pytest.raises(ProtocolError, match="already collected"):
        fresh_leader.aggregate_round(0, reports[:3])
    res1 = fresh_leader.aggregate_round(
        1, [con.builder(f"c{i}").build(1, ups[i], 5) for i in (0, 1, 2)]
    )
    assert sorted(res1.accepted) == ["c0", "c1", "c2"]
    http.close()
    http2.close()


def test_helper_rejects_unauthenticated_and_oversized(helper):
    con = helper.con
    url = f"{con.cfg.helper_endpoint}/v1/tasks/{con.cfg.task_id.hex()}/verify"
    assert httpx.post(url, content=b"{}").status_code == 401
    from veil.crypto.signing import Ed25519Identity

    path = f"/v1/tasks/{con.cfg.task_id.hex()}/verify"
    forged = auth_header(Ed25519Identity.generate(), "POST", path, b"{}", audience=con.audience)
    assert httpx.post(url, content=b"{}", headers={"authorization": forged}).status_code == 401
    stale = auth_header(
        con.leader_signing, "POST", path, b"{}", ts=int(time.time()) - 3600, audience=con.audience
    )
    assert httpx.post(url, content=b"{}", headers={"authorization": stale}).status_code == 401
    good = auth_header(con.leader_signing, "POST", path, b"{}", audience=con.audience)
    r = httpx.post(url, content=b"{}", headers={"authorization": good})
    assert r.status_code == 400 and r.json()["type"] == "FormatError"
    big = b"x" * (65 * 1024 * 1024)
    r = httpx.post(url, content=big, headers={"authorization": good}, timeout=60)
    assert r.status_code == 413
    # still alive
    assert httpx.get(f"{con.cfg.helper_endpoint}/v1/health").status_code == 200


def test_helper_down_fails_round_cleanly_then_retry_succeeds(helper):
    con = helper.con
    helper.stop()
    leader, http = _leader(con, attempts=3)
    reports = [con.builder(f"c{i}").build(0, np.full(64, 0.01), 7) for i in range(2)]
    t0 = time.time()
    with pytest.raises(ProtocolError, match="unreachable"):
        leader.aggregate_round(0, reports)
    assert time.time() - t0 < 10
    helper.start()
    res = leader.aggregate_round(0, reports)  # same reports, same round: nothing lost
    assert sorted(res.accepted) == ["c0", "c1"]
    http.close()


@pytest.mark.skipif(os.environ.get("VEIL_SKIP_CLI_MAIN") == "1", reason="debug switch")
def test_cli_module_runs():
    out = subprocess.run(
        [sys.executable, "-m", "veil.cli", "helper", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0 and "serve" in out.stdout


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (Linux /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().split()[3]) == pid:
                out.append(int(entry.name))
        except (OSError, IndexError, ValueError):
            continue
    return out


def test_helper_with_verify_workers_over_http_and_killed(tmp_path):
    """``veil helper serve --workers 2``: a round with hostile reports verified on the
    Helper's worker processes (and the Leader's own two) gives the verdicts of one thread;
    a SIGKILLed Helper leaves no worker behind."""
    port = free_port()
    con = make_consortium(n_clients=5, helper_endpoint=f"http://127.0.0.1:{port}", max_batch=2)
    hp = _HelperProcess(tmp_path, con.cfg, con.helper_hpke, port, workers=2)
    hp.start()
    http = HttpHelper(con.cfg.helper_endpoint, con.cfg.task_id, con.leader_signing,
                      helper=con.cfg.helper_hpke)  # fmt: skip
    leader = VerifiedAggregator(con.cfg, con.leader_hpke, http, workers=2)
    try:
        rng = np.random.default_rng(5)
        reports = [con.builder(f"c{i}").build(0, rng.normal(size=64) * 0.1, 3) for i in range(3)]
        reports.append(hostile_report(Attack.NAN_INF, con.builder("c3"), 0, rng.normal(size=64), 3))
        reports.append(
            hostile_report(Attack.TAMPERED_HELPER_SHARE, con.builder("c4"), 0, np.ones(64), 3)
        )
        res = leader.aggregate_round(0, reports)
        assert sorted(res.accepted) == ["c0", "c1", "c2"]
        assert sorted(res.rejected) == [("c3", "update_invalid"), ("c4", "helper_share_invalid")]
        workers = _children(hp.proc.pid)
        assert len(workers) >= 2  # the spawn pool (and its resource tracker)
        hp.proc.kill()
        hp.proc.wait()
        deadline = time.time() + 20
        while time.time() < deadline and any(Path(f"/proc/{w}").exists() for w in workers):
            time.sleep(0.2)
        alive = [w for w in workers if Path(f"/proc/{w}/stat").exists()
                 and (Path(f"/proc/{w}/stat").read_text().split()[2] != "Z")]  # fmt: skip
        assert alive == [], "verify workers outlived their Helper"
    finally:
        leader.close()
        http.close()
        hp.stop()
