"""Vertical parties as real processes on 127.0.0.1: ``veil party serve`` hosts, the label
party's ``veil party train``, a host killed mid-training, and hostile bytes at a host."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest

from veil.aggregation.process import free_port
from veil.errors import IntegrityError, ProtocolError
from veil.vertical import wire
from veil.vertical.envelope import PartyIdentity, open_message, seal_message
from veil.vertical.server import HostProcess
from veil.vertical.tables import write_table

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def test_the_retail_demo_with_processes_survives_a_killed_host_and_stays_lossless(
    tmp_path: Path,
) -> None:
    from veil.scenarios.vertical import run

    # OU for speed: this test is about processes, crashes and losslessness, not the scheme
    report = run("retail", tmp_path, quick=True, processes=True, crash=True, scheme="ou")
    boost = report["models"]["secureboost"]
    assert boost["resumed"] == 1 and boost["trees"] == 4
    base = report["baselines"]["secureboost"]
    assert base["pooled_predictions_max_abs_diff"] < 1e-9
    assert boost["auc"] > base["label_party_alone"] + 0.03
    lr = report["baselines"]["hetero_lr"]
    assert report["models"]["hetero_lr"]["auc"] > lr["label_party_alone"] + 0.03
    assert abs(report["models"]["hetero_lr"]["auc"] - lr["pooled"]) < 0.02
    assert report["alignment"]["rows"] > 3000
    shares = {p["name"]: p["value"] for p in boost["importance"]["parties"]}
    assert set(shares) == {"bank", "platform"} and shares["platform"] > 0
    assert (tmp_path / "report.png").stat().st_size > 10_000


def _tables(folder: Path) -> dict[str, Path]:
    from sklearn.datasets import make_classification

    x, y = make_classification(400, n_features=6, n_informative=5, n_redundant=0, random_state=3)
    ids = [f"P{i:04d}" for i in range(400)]
    rng = np.random.default_rng(0)
    paths = {
        "bank": folder / "bank.csv",
        "shop": folder / "shop.csv",
        "agency": folder / "agency.csv",
    }
    write_table(paths["bank"], ["id", "y", "a", "b"],
                [[ids[i], int(y[i]), x[i, 0], x[i, 1]] for i in range(400)])  # fmt: skip
    for name, cols in (("shop", (2, 3)), ("agency", (4, 5))):
        rows = rng.permutation(400)[:360]
        write_table(paths[name], ["id", f"{name}1", f"{name}2"],
                    [[ids[i].lower(), x[i, cols[0]], x[i, cols[1]]] for i in rows])  # fmt: skip
    return paths


def _veil(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "veil.cli", *args], capture_output=True,
                          text=True, timeout=300)  # fmt: skip


def test_party_train_against_served_hosts_and_hostile_requests(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    for name in ("bank", "shop", "agency"):
        assert _veil("party", "keygen", "--name", name, "--out", str(keys)).returncode == 0
    paths = _tables(tmp_path)
    session = "ab" * 16
    procs = {}
    for name in ("shop", "agency"):
        argv = ["--identity", str(keys / f"{name}.identity"), "--cards", str(keys),
                "--guest", "bank", "--session", session, "--data", str(paths[name]),
                "--id-column", "id", "--state", str(tmp_path / "state" / name)]  # fmt: skip
        procs[name] = HostProcess(argv, free_port(), tmp_path / f"{name}.log")
        procs[name].start()
    try:
        for proc in procs.values():
            _wait(proc.url)
        _hostile_requests(procs["shop"].url, keys, bytes.fromhex(session))
        done = _veil(
            "party", "train", "--identity", str(keys / "bank.identity"), "--cards", str(keys),
            "--session", session, "--data", str(paths["bank"]), "--id-column", "id",
            "--label", "y", "--positive", "1", "--host", f"shop={procs['shop'].url}",
            "--host", f"agency={procs['agency'].url}", "--trees", "3", "--epochs", "1",
            "--out", str(tmp_path / "run"),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        report = json.loads((tmp_path / "run" / "report.json").read_text())
        assert report["alignment"]["rows"] > 250
        assert report["models"]["secureboost"]["auc"] > 0.8
        assert report["models"]["hetero_lr"]["auc"] > 0.8
        assert report["models"]["secureboost"]["splits_by_party"]["shop"] > 0
        assert all(p.proc is not None and p.proc.poll() is None for p in procs.values())
    finally:
        for proc in procs.values():
            proc.stop()


def _wait(url: str) -> None:
    import time

    for _ in range(300):
        try:
            if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not come up")


def _hostile_requests(url: str, keys: Path, session: bytes) -> None:
    """Junk, an impostor, a replay and an oversized body: typed refusals, the host lives on."""
    bank = PartyIdentity.load(keys / "bank.identity")
    shop = PartyIdentity.load(keys / "shop.identity").card()

    def post(blob: bytes) -> tuple[str, dict]:
        reply = httpx.post(f"{url}/v1/party", content=blob, timeout=30)
        assert reply.status_code == 200
        _, body = open_message(bank, shop, session, reply.content)
        return wire.decode(body)

    kind, fields = post(b"\x00junk")
    assert kind == "party.error" and fields["error"] in {"FormatError", "IntegrityError"}
    impostor = PartyIdentity.generate("bank")
    kind, fields = post(seal_message(impostor, shop, session, 1, wire.encode("party.hello", {})))
    assert fields["error"] in {IntegrityError.__name__, "SignatureError"}
    hello = seal_message(bank, shop, session, 10**6, wire.encode("party.hello", {}))
    assert post(hello)[0] == "party.hello.ok"
    assert post(hello)[1]["error"] == ProtocolError.__name__  # replayed
    assert _raw_status(url, f"Content-Length: {2**40}") == 413  # refused before reading
    assert _raw_status(url, "Transfer-Encoding: chunked") == 411
    assert httpx.get(f"{url}/v1/health").status_code == 200


def _raw_status(url: str, header: str) -> int:
    import socket

    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"POST /v1/party HTTP/1.1\r\nHost: x\r\n{header}\r\n\r\n".encode())
        return int(sock.recv(200).split(b" ")[1])
