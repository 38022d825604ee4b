"""A throwaway PostgreSQL server on 127.0.0.1 for the state-store tests (Debian's binaries).

``initdb`` refuses to run as root, so as root the cluster belongs to the ``postgres`` system
user that Debian's package creates. Nothing here skips: a missing binary or a server that does
not start is a test failure with the reason (``make setup`` installs the package).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from veil.aggregation.process import free_port


def _bindir() -> Path:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    cands = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if not cands:
        pytest.fail(
            "PostgreSQL server binaries (initdb, pg_ctl) not found: run `make setup`, which "
            "installs Debian's postgresql package, or `apt-get install postgresql`",
            pytrace=False,
        )
    return Path(cands[-1]).parent


def _version(path: str) -> int:
    part = Path(path).parts[-3]
    return int(part) if part.isdigit() else 0


def _run(cmd: list[str], prefix: list[str], what: str, log: Path | None = None) -> None:
    proc = subprocess.run(prefix + cmd, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        extra = log.read_text()[-2000:] if log and log.exists() else ""
        pytest.fail(
            f"PostgreSQL test server: {what} failed ({proc.returncode}): "
            f"{proc.stderr.strip()[-2000:]}\n{extra}",
            pytrace=False,
        )


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield ``postgresql://veil@127.0.0.1:PORT/veil_test``; stop and delete at exit."""
    import psycopg

    bindir = _bindir()
    base = Path(tempfile.mkdtemp(prefix="veil-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(base, user="postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    data, log = base / "data", base / "server.log"
    port = free_port()
    try:
        _run(
            [str(bindir / "initdb"), "-D", str(data), "-U", "veil", "-A", "trust", "--no-sync",
             "-E", "UTF8", "--locale=C"],
            prefix, "initdb",
        )  # fmt: skip
        opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c fsync=off"
        _run(
            [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", opts, "-w",
             "-t", "30", "start"],
            prefix, "pg_ctl start", log,
        )  # fmt: skip
        try:
            with psycopg.connect(
                f"postgresql://veil@127.0.0.1:{port}/postgres", autocommit=True
            ) as conn:
                conn.execute("CREATE DATABASE veil_test")
            yield f"postgresql://veil@127.0.0.1:{port}/veil_test"
        finally:
            subprocess.run(
                [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                capture_output=True,
                timeout=60,
            )
    finally:
        shutil.rmtree(base, ignore_errors=True)
