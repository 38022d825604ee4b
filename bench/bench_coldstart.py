"""Cold start (issue 18.2): the first report of a fresh process against a warm one.

Each figure comes from its own fresh Python process, which imports veil, builds the VDAF and
makes reports: Prio3SumVec (length 10,000, max 255) and Pine64 (d = 10,000, 15 fractional
bits, L2 bound 1, 100 wraparound tests), two Aggregators. A *report* is what a device
sends: ``shard`` (Pine: ``shard_with_retry``) plus the encoded public and input shares.

* ``import_s``: ``import veil.vdaf.prio3`` / ``veil.vdaf.pine`` after numpy is loaded;
* ``cold_s``: constructing the VDAF and the process's first report (inputs made before);
* ``warm_s``: the median of the next reports in the same process; ``ratio`` = cold ÷ warm,
  per process (the target: ≤ 2), then the median over processes.

Three set-ups, all measured in this run:

* ``aot`` — as installed: ``make setup`` ran ``python -m veil.vdaf.aot`` (this benchmark runs
  it too; it does nothing when the build is current), so no JIT and no numba import;
* ``jit_warm_cache`` — ``VEIL_KERNELS=jit`` with numba's on-disk cache already filled;
* ``jit_empty_cache`` — ``VEIL_KERNELS=jit`` with an empty numba cache: the very first
  process after an install without the ahead-of-time build.

Run: ``python -m bench coldstart`` (``make bench`` runs all); ``VEIL_BENCH_QUICK=1`` for a
smoke test (d = 1,000, one process per set-up, no empty-cache set-up).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import quick, write_result

ROOT = Path(__file__).resolve().parent.parent
MAX_MEASUREMENT = 255
WARM_REPORTS = 5
KINDS = ("sumvec", "pine")

_CHILD = r"""
import json, math, random, sys, time
t0 = time.perf_counter()
import numpy as np
t1 = time.perf_counter()
kind, d, warm_n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if kind == "sumvec":
    from veil.vdaf.prio3 import Prio3SumVec
    t2 = time.perf_counter()
    meas = np.random.default_rng(1).integers(0, 256, d)
    def make():
        return Prio3SumVec(2, d, 255, max(1, math.isqrt(d * 8)))
    def report(v):
        pub, shares = v.shard(b"veil coldstart", meas, bytes(16), bytes(v.RAND_SIZE))
        return [v.encode_public_share(pub)] + [v.encode_input_share(s) for s in shares]
else:
    from veil.vdaf.pine import Pine64, norm_bound_from_float, optimal_chunk_length
    from veil.vdaf.pine.params import PineParams
    t2 = time.perf_counter()
    g = np.random.default_rng(d).standard_normal(d)
    g = g / float(np.sqrt(np.dot(g, g))) * 0.99
    def make():
        bound = norm_bound_from_float(1.0, 15)
        probe = PineParams.create(Pine64.FIELD, bound, 15, d, 1, 1, num_wr_checks=100)
        chunk = optimal_chunk_length(probe.bit_checked_len + 100, arity=2)
        return Pine64(bound, 15, d, chunk, 2, num_wr_checks=100)
    def report(v):
        rng = random.Random(7)  # the same rand every time: same work in every report
        pub, shares = v.shard_with_retry(g, bytes(16), rng=rng.randbytes)
        return [v.encode_public_share(pub)] + [v.encode_input_share(s) for s in shares]
t3 = time.perf_counter()
v = make()
first = report(v)
t4 = time.perf_counter()
warm = []
for _ in range(warm_n):
    a = time.perf_counter()
    assert report(v) == first
    warm.append(time.perf_counter() - a)
from veil.vdaf import kernels
print(json.dumps({
    "numpy_import_s": t1 - t0, "import_s": t2 - t1, "cold_s": t4 - t3,
    "warm_s": sorted(warm)[len(warm) // 2],
    "backend": kernels.backend(),
    "numba_imported": "numba" in sys.modules, "scipy_imported": "scipy" in sys.modules,
}))
"""


def _child(kind: str, d: int, env: dict[str, str]) -> dict:
    """One fresh process: its figures, and the wall time of the whole process."""
    argv = [sys.executable, "-c", _CHILD, kind, str(d), str(WARM_REPORTS)]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"coldstart child failed: {proc.stderr[-800:]}")
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    row["ratio"] = row["cold_s"] / row["warm_s"]
    row["ratio_with_import"] = (row["import_s"] + row["cold_s"]) / row["warm_s"]
    return row


def _summary(rows: list[dict]) -> dict:
    keys = ("import_s", "cold_s", "warm_s", "ratio", "ratio_with_import")
    out = {k: statistics.median(r[k] for r in rows) for k in keys}
    out["processes"] = len(rows)
    out["backend"] = sorted({r["backend"] for r in rows})
    out["numba_imported"] = any(r["numba_imported"] for r in rows)
    out["scipy_imported"] = any(r["scipy_imported"] for r in rows)
    out["runs"] = rows
    return out


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, **extra}
    src = str(ROOT / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    return env


def main() -> None:
    d = 1_000 if quick() else 10_000
    reps = 1 if quick() else 3
    subprocess.run([sys.executable, "-m", "veil.vdaf.aot"], env=_env(), check=False)
    jit = {"VEIL_KERNELS": "jit"}
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as cache:
        for kind in KINDS:  # fill the numba cache of the jit_warm_cache set-up (untimed)
            _child(kind, d, _env(NUMBA_CACHE_DIR=cache, **jit))
        for kind in KINDS:
            res = results[kind] = {}
            res["aot"] = _summary([_child(kind, d, _env()) for _ in range(reps)])
            warm_env = _env(NUMBA_CACHE_DIR=cache, **jit)
            res["jit_warm_cache"] = _summary([_child(kind, d, warm_env) for _ in range(reps)])
            if not quick():
                with tempfile.TemporaryDirectory() as empty:
                    row = _child(kind, d, _env(NUMBA_CACHE_DIR=empty, **jit))
                res["jit_empty_cache"] = _summary([row])
    label = {"sumvec": f"Prio3SumVec({d:,})", "pine": f"Pine64({d:,})"}
    print(f"cold start, one report (shard + encode), d = {d:,}; median of fresh processes")
    print(f"  {'vdaf':<20} {'set-up':<16} {'import':>9} {'cold':>9} {'warm':>9}  cold/warm")
    for kind, by_setup in results.items():
        for name, s in by_setup.items():
            print(
                f"  {label[kind]:<20} {name:<16} {s['import_s']:7.3f} s {s['cold_s']:7.3f} s"
                f" {s['warm_s']:7.3f} s  {s['ratio']:5.2f}×"
            )
    path = write_result(
        "coldstart",
        {
            "bench": "coldstart",
            "dimension": d,
            "warm_reports_per_process": WARM_REPORTS,
            "target_ratio": 2.0,
            "meets_target": all(results[k]["aot"]["ratio"] <= 2.0 for k in KINDS),
            "results": results,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
