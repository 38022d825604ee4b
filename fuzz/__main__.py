"""Run fuzz targets one after another, each in its own libFuzzer process, with bounded time.

    python -m fuzz [--seconds N] [--runs N] [--results FILE] [TARGET …]

``--seconds`` bounds each target's time (libFuzzer ``-max_total_time``), ``--runs`` its
number of executions; each starts from a fresh corpus seeded with genuine objects. Prints
a table (executions, exec/s, coverage, outcome), writes it as JSON, and exits non-zero if
any target found something (its crashing input is kept under the results folder).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from fuzz import TARGETS

_STAT = re.compile(r"stat::(\w+):\s+(\d+)")
_PROGRESS = re.compile(r"#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+)")


@dataclass
class Result:
    target: str
    executions: int
    seconds: float
    exec_per_s: float
    coverage_edges: int
    features: int
    peak_rss_mb: int
    outcome: str  # "clean" or "FINDING: …"
    artifact: str | None = None


def run_target(target: str, seconds: int, runs: int | None, out_dir: Path) -> Result:
    """Fuzz one target in a child process and parse libFuzzer's final statistics."""
    artifacts = out_dir / "artifacts" / target
    artifacts.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix=f"veil-fuzz-{target}-") as corpus,
        tempfile.TemporaryDirectory(prefix=f"veil-fuzz-{target}-scratch-") as scratch,
    ):
        argv = [
            sys.executable,
            "-m",
            "fuzz.worker",
            target,
            corpus,
            f"-max_total_time={seconds}",
            "-print_final_stats=1",
            "-timeout=30",
            "-rss_limit_mb=4096",
            f"-artifact_prefix={artifacts}/",
        ]
        if runs is not None:
            argv.append(f"-runs={runs}")
        start = time.monotonic()
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=seconds + 600,
            check=False,
            cwd=Path(__file__).resolve().parents[1],  # so that ``-m fuzz.worker`` resolves
            env={**os.environ, "VEIL_FUZZ_SCRATCH": scratch},
        )
        elapsed = time.monotonic() - start
    log = proc.stdout + proc.stderr
    (out_dir / f"{target}.log").write_text(log)
    stats = {k: int(v) for k, v in _STAT.findall(log)}
    progress = _PROGRESS.findall(log)
    cov, ft = (int(progress[-1][1]), int(progress[-1][2])) if progress else (0, 0)
    execs = stats.get("number_of_executed_units", int(progress[-1][0]) if progress else 0)
    outcome, artifact = "clean", None
    if proc.returncode != 0:
        crash = sorted(artifacts.glob("*"), key=lambda p: p.stat().st_mtime)
        artifact = str(crash[-1]) if crash else None
        tail = [ln for ln in log.splitlines() if ln.strip()][-12:]
        outcome = f"FINDING (exit {proc.returncode}): " + " | ".join(tail)
    return Result(
        target,
        execs,
        round(elapsed, 1),
        stats.get("average_exec_per_sec") or round(execs / max(elapsed, 1e-9)),  # 0 under 1 s
        cov,
        ft,
        stats.get("peak_rss_mb", 0),
        outcome,
        artifact,
    )


def _write(args: argparse.Namespace, results: list[Result]) -> None:
    args.results.write_text(
        json.dumps(
            {
                "python": platform.python_version(),
                "machine": platform.machine(),
                "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "seconds_per_target": args.seconds,
                "runs_cap": args.runs,
                "results": [asdict(r) for r in results],
            },
            indent=2,
        )
        + "\n"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__.splitlines()[0])
    p.add_argument("targets", nargs="*", metavar="TARGET", help=f"default: all of {TARGETS}")
    p.add_argument("--seconds", type=int, default=60, help="time per target (default 60)")
    p.add_argument("--runs", type=int, default=None, help="executions per target (cap)")
    p.add_argument("--results", type=Path, default=Path("runs/fuzz/results.json"))
    args = p.parse_args(argv)
    unknown = [t for t in args.targets if t not in TARGETS]
    if unknown:
        p.error(f"unknown target(s) {unknown}; choose from {TARGETS}")
    out_dir = args.results.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    print(f"{'target':<10} {'executions':>11} {'exec/s':>8} {'seconds':>8} {'cov':>6}  outcome")
    for target in args.targets or TARGETS:
        r = run_target(target, args.seconds, args.runs, out_dir)
        results.append(r)
        print(
            f"{r.target:<10} {r.executions:>11,} {r.exec_per_s:>8,} {r.seconds:>8} "
            f"{r.coverage_edges:>6}  {r.outcome[:200]}",
            flush=True,
        )
        _write(args, results)  # after every target: a campaign stopped early keeps its figures
    return 0 if all(r.outcome == "clean" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
