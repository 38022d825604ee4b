"""A real Flower deployment on 127.0.0.1: one flower-superlink, flower-supernodes each
holding its own *sealed* shard (two good, one damaged on disk and so left out), and ``flwr run`` of veil's Flower App for two rounds.

Every process is started in its own session and killed by its process-group id at the end,
whatever happens. Telemetry and update checks are off in every environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import veil
from veil.aggregation.process import free_port
from veil.crypto.keys import identity_file_text
from veil.fl import FLOWER_ENV
from veil.fl.data import credit_risk
from veil.fl.flower_common import write_app
from veil.fl.pipeline import holdout
from veil.fl.sealed import seal_table

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent


class Processes:
    """Start processes in their own sessions; stop exactly those at the end."""

    def __init__(self, env: dict, logs: Path) -> None:
        self.env, self.logs, self.procs = env, logs, []

    def start(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "w")  # noqa: SIM115 - closed in stop()
        p = subprocess.Popen(
            argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.procs.append((p, log))
        return p

    def stop(self) -> None:
        # SuperLink/SuperNode detach their helpers (flower-superexec, flwr-serverapp,
        # flwr-clientapp) into new sessions: collect those descendants by pid first.
        extra = [d for p, _ in self.procs for d in _descendants(p.pid)]
        for p, _ in reversed(self.procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        for pid in extra:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for p, log in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=10)
            log.close()
        deadline = time.monotonic() + 10
        while (alive := [d for d in extra if _alive(d)]) and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.leftovers = [d for d in extra if _alive(d)]


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
                kids.setdefault(ppid, []).append(int(d.name))
    return kids


def _descendants(pid: int) -> list[int]:
    kids, out, todo = _children(), [], [pid]
    while todo:
        for c in kids.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_port(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "SuperLink exited early"
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.3)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


def run_until_report(app_dir: Path, env: dict, tmp_path: Path, logs: Path) -> Path:
    """``flwr run`` the app, wait (bounded) for out/report.json, fail with every log if absent."""
    run = subprocess.run(
        [str(BIN / "flwr"), "run", str(app_dir), "veil-e2e", "--stream"],
        env=env, capture_output=True, text=True, timeout=400, cwd=tmp_path,
    )  # fmt: skip
    report_path = tmp_path / "out" / "report.json"
    deadline = time.monotonic() + 300
    while not report_path.exists() and time.monotonic() < deadline:
        time.sleep(1)
    if not report_path.exists():
        dump = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in logs.iterdir())
        pytest.fail(f"no report; flwr run: {run.stdout[-3000:]}\n{run.stderr[-3000:]}\n{dump}")
    return report_path


def test_superlink_and_supernodes_two_rounds_damaged_node_left_out(tmp_path):
    # --- each bank's data sealed to its own key; a held-out set for the server --------
    ds = credit_risk()
    train, test = holdout(ds.frame, ds.target, 0.25, seed=0)
    test.to_csv(tmp_path / "eval.csv", index=False)
    nodes = []
    for k, part in enumerate((train.iloc[::2], train.iloc[1::2])):
        ident = veil.generate_identity()
        (tmp_path / f"bank{k}.identity").write_text(identity_file_text(ident))
        seal_table(part, tmp_path / f"bank{k}.sealed", [ident.recipient()])
        nodes.append((tmp_path / f"bank{k}.sealed", tmp_path / f"bank{k}.identity"))
    # a third bank whose sealed shard was damaged on disk: it must be left out, with a reason
    blob = bytearray((tmp_path / "bank1.sealed").read_bytes())
    blob[len(blob) // 2] ^= 0x01
    (tmp_path / "bank2.sealed").write_bytes(bytes(blob))
    nodes.append((tmp_path / "bank2.sealed", tmp_path / "bank1.identity"))

    owner = veil.generate_identity()  # the consortium's checkpoint key, never on the server
    flwr_home = tmp_path / "flwr-home"
    flwr_home.mkdir()
    env = {
        **os.environ,
        **FLOWER_ENV,
        "FLWR_HOME": str(flwr_home),
        "HOME": str(tmp_path),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    link_port = free_port()
    (flwr_home / "config.toml").write_text(
        f'[superlink]\ndefault = "veil-e2e"\n\n[superlink.veil-e2e]\n'
        f'address = "127.0.0.1:{link_port}"\ninsecure = true\n'
    )
    app_dir = write_app(
        tmp_path / "app",
        rounds=2,
        **{
            "min-nodes": 3,
            "eval-data": str(tmp_path / "eval.csv"),
            "out": str(tmp_path / "out"),
            "timeout": 120.0,
            "checkpoint": str(tmp_path / "out" / "checkpoint.sealed"),
            "checkpoint-recipient": str(owner.recipient()),
        },
    )
    logs = tmp_path / "logs"
    logs.mkdir()
    procs = Processes(env, logs)
    try:
        link = procs.start(
            "superlink",
            [
                str(BIN / "flower-superlink"),
                "--insecure",
                "--disable-runtime-dependency-installation",
                "--host",
                "127.0.0.1",
                "--port",
                str(link_port),
                "--database",
                str(tmp_path / "state.db"),
            ],
        )
        _wait_port(link_port, link)
        for k, (data, ident) in enumerate(nodes):
            procs.start(
                f"supernode{k}",
                [
                    str(BIN / "flower-supernode"),
                    "--insecure",
                    "--superlink",
                    f"127.0.0.1:{link_port}",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(free_port()),
                    "--node-config",
                    f'data-path="{data}" identity-path="{ident}"',
                ],
            )
        report_path = run_until_report(app_dir, env, tmp_path, logs)
    finally:
        procs.stop()
    report = json.loads(report_path.read_text())
    assert [r["round"] for r in report["rounds"]] == [1, 2]
    for r in report["rounds"]:
        assert len(r["accepted"]) == 2
        assert len(r["rejected"]) == 1 and r["rejected"][0]["reason"].startswith("error:")
        assert r["rejected"][0]["client"] not in r["accepted"]
        assert r["bytes_up"] > 0
    assert report["rounds"][-1]["metrics"]["auc"] > 0.7
    # the sealed checkpoint of the last round opens with the consortium's key only
    from veil.fl.checkpoint import SealedCheckpointer

    # (unsigned: a write-only export, its key off the server; read, never resumed from)
    state = SealedCheckpointer(tmp_path / "out" / "checkpoint.sealed", [], [owner]).peek()
    assert state.round == 2 and state.history == report["rounds"]
    # nothing was left running
    for p, _ in procs.procs:
        assert p.poll() is not None
    assert procs.leftovers == []
