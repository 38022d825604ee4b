"""Helpers shared by the benchmarks: machine facts, result files, child-process measurement."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def quick() -> bool:
    """VEIL_BENCH_QUICK=1 shrinks sizes so a smoke test runs a benchmark in seconds."""
    return os.environ.get("VEIL_BENCH_QUICK") == "1"


def machine() -> dict:
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick(),
    }


def write_result(name: str, payload: dict) -> Path:
    """Write bench/results/<name>.json (or <name>.quick.json) — or into VEIL_BENCH_RESULTS,
    which the smoke tests set so that a test run never rewrites the committed results."""
    base = Path(os.environ.get("VEIL_BENCH_RESULTS") or RESULTS)
    base.mkdir(parents=True, exist_ok=True)
    path = base / f"{name}.json"
    if quick():
        path = base / f"{name}.quick.json"
    path.write_text(json.dumps({"machine": machine(), **payload}, indent=1) + "\n")
    return path


def run_measured(argv: list[str], *, env: dict | None = None, repeat: int | None = None) -> dict:
    """Best of ``repeat`` runs (3, or 1 in quick mode): wall seconds and peak RSS in MiB.

    The best of several is the figure least disturbed by other work on a shared machine.
    """
    runs = [_run_once(argv, env) for _ in range(repeat or (1 if quick() else 3))]
    best = min(runs, key=lambda r: r["seconds"])
    return {**best, "all_seconds": [r["seconds"] for r in runs]}


def _run_once(argv: list[str], env: dict | None) -> dict:
    """One run of a child process: wall seconds and its peak RSS in MiB, by GNU time.

    (Linux keeps ru_maxrss across execve, so a child forked from this large Python process
    would report the parent's size; /usr/bin/time is small, so what it reports is the tool's.)
    """
    with tempfile.NamedTemporaryFile("r") as rss:
        t0 = time.perf_counter()
        proc = subprocess.run(
            ["/usr/bin/time", "-f", "%M", "-o", rss.name, *argv], capture_output=True, env=env
        )
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed ({proc.returncode}): {proc.stderr[-500:]!r}")
        kib = int(rss.read().strip().splitlines()[-1])
    return {"seconds": round(wall, 3), "peak_rss_mib": round(kib / 1024, 1)}
