"""PINE benchmark: Pine64 per report on one core (issue 4).

For each dimension d (10^4, 10^5, 10^6; num_frac_bits 15, L2 bound 1.0, 100 wraparound
tests, two Aggregators) it measures, each size in a fresh process: Client ``shard`` time,
``verify_init`` time of the Leader and of the Helper (plus the message/next steps), upload
bytes (public share + both input shares) against the 4·d bytes of a float32 update, and the
peak memory (process max RSS, and the numpy peak seen by tracemalloc).

Baseline measured in the same run: a plain-Python transcription of the reference code's
wraparound tests (``run_wr_checks``), the step the reference spends most of its time in, at
the smallest dimension, against veil's compiled kernel on the same input.

Run: ``python -m bench`` (all benches) or ``python bench/bench_pine.py``.
``VEIL_BENCH_QUICK=1`` shrinks the sizes to seconds.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "pine.json"
NUM_FRAC_BITS = 15
NUM_WR_CHECKS = 100
TARGETS = {
    100_000: {"shard_s": 0.5, "verify_s": 0.25, "upload_ratio": 2.2},
    1_000_000: {"shard_s": 5.0, "verify_s": 2.5, "peak_rss_mib": 2048},
}


def _vdaf(d: int):
    from veil.vdaf.pine import Pine64, norm_bound_from_float, optimal_chunk_length
    from veil.vdaf.pine.params import PineParams

    bound = norm_bound_from_float(1.0, NUM_FRAC_BITS)
    probe = PineParams.create(
        Pine64.FIELD, bound, NUM_FRAC_BITS, d, 1, 1, num_wr_checks=NUM_WR_CHECKS
    )
    chunk = optimal_chunk_length(probe.bit_checked_len + NUM_WR_CHECKS, arity=2)
    return Pine64(bound, NUM_FRAC_BITS, d, chunk, 2, num_wr_checks=NUM_WR_CHECKS)


def _gradient(d: int):
    import numpy as np

    g = np.random.default_rng(d).standard_normal(d).astype(np.float32)
    return (g / np.linalg.norm(g) * 0.99).astype(np.float64)


def _one_report(vdaf, g, nonce: bytes, vk: bytes) -> dict:
    t0 = time.perf_counter()
    ps, shares = vdaf.shard_with_retry(g, nonce)
    t1 = time.perf_counter()
    st0, vs0 = vdaf.verify_init(vk, 0, None, nonce, ps, shares[0])
    t2 = time.perf_counter()
    st1, vs1 = vdaf.verify_init(vk, 1, None, nonce, ps, shares[1])
    t3 = time.perf_counter()
    msg = vdaf.verifier_shares_to_message(None, [vs0, vs1])
    vdaf.verify_next(st0, msg)
    vdaf.verify_next(st1, msg)
    t4 = time.perf_counter()
    upload = len(vdaf.encode_public_share(ps)) + sum(
        len(vdaf.encode_input_share(s)) for s in shares
    )
    return {
        "shard_s": t1 - t0,
        "verify_leader_s": t2 - t1,
        "verify_helper_s": t3 - t2,
        "combine_s": t4 - t3,
        "upload_bytes": upload,
        "verifier_share_bytes": len(vdaf.encode_verifier_share(vs0)),
    }


def measure_one(d: int, repeats: int) -> dict:
    """All figures for one dimension (run in a fresh process for an honest peak RSS)."""
    warm = _vdaf(64)
    _one_report(warm, _gradient(64), bytes(16), bytes(16))  # load the compiled kernels
    vdaf = _vdaf(d)
    g = _gradient(d)
    runs = []
    tracemalloc.start()
    for i in range(repeats):
        runs.append(_one_report(vdaf, g, i.to_bytes(16, "big"), os.urandom(16)))
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "dimension": d,
        "repeats": repeats,
        "chunk_length": vdaf.params.chunk_length,
        "chunk_length_norm_equality": vdaf.params.chunk_length_norm_equality,
        "proofs_len_elements": vdaf.PROOFS_LEN,
        "meas_len_elements": vdaf.MEAS_LEN,
        **med,
        "verify_s": max(med["verify_leader_s"], med["verify_helper_s"]),
        "float32_bytes": 4 * d,
        "upload_ratio": med["upload_bytes"] / (4 * d),
        "peak_rss_mib": rss_kib / 1024,
        "peak_traced_mib": traced_peak / 2**20,
    }


def measure_baseline(d: int) -> dict:
    """Reference-style plain-Python wraparound tests vs the compiled kernel, same input."""
    import numpy as np

    from veil.vdaf.field import Field64
    from veil.vdaf.pine.circuit import wr_dot_products, wr_dot_products_reference

    rng = np.random.default_rng(1)
    x = rng.integers(0, Field64.MODULUS, d, dtype=np.uint64)
    zb = rng.integers(0, 256, size=(NUM_WR_CHECKS, (d + 3) // 4), dtype=np.uint8)
    wr_dot_products(Field64, x[:8], zb[:, :2], 8)  # compile / load
    t0 = time.perf_counter()
    fast = wr_dot_products(Field64, x, zb, d)
    t1 = time.perf_counter()
    ref = wr_dot_products_reference(Field64, Field64.to_ints(x), zb.tobytes(), NUM_WR_CHECKS, d)
    t2 = time.perf_counter()
    assert fast == ref
    return {
        "what": f"{NUM_WR_CHECKS} wraparound tests at d = {d}: plain-Python reference "
        "transcription vs veil's compiled kernel (same input, results checked equal)",
        "dimension": d,
        "reference_python_s": t2 - t1,
        "veil_s": t1 - t0,
        "speedup": (t2 - t1) / (t1 - t0),
    }


def _in_subprocess(d: int, repeats: int) -> dict:
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--one", str(d), str(repeats)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    quick = os.environ.get("VEIL_BENCH_QUICK") == "1"
    sizes = [(1_000, 2), (10_000, 2)] if quick else [(10_000, 5), (100_000, 5), (1_000_000, 3)]
    rows = [_in_subprocess(d, r) for d, r in sizes]
    baseline = measure_baseline(1_000 if quick else 10_000)
    for row in rows:
        t = TARGETS.get(row["dimension"])
        if t:
            row["targets"] = t
            row["meets_targets"] = all(row[k] <= v for k, v in t.items())
    result = {
        "bench": "pine",
        "vdaf": "Pine64 (draft-chen-cfrg-vdaf-pine-02), 2 Aggregators",
        "params": {
            "num_frac_bits": NUM_FRAC_BITS,
            "l2_norm_bound": 1.0,
            "num_wr_checks": NUM_WR_CHECKS,
        },
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cores": os.cpu_count(),
            "processor": platform.processor(),
        },
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "rows": rows,
        "baseline": baseline,
    }
    print(
        f"{'d':>9} {'shard s':>8} {'leader s':>9} {'helper s':>9} {'upload×f32':>10} {'RSS MiB':>8}"
    )
    for r in rows:
        print(
            f"{r['dimension']:>9} {r['shard_s']:>8.3f} {r['verify_leader_s']:>9.3f} "
            f"{r['verify_helper_s']:>9.3f} {r['upload_ratio']:>10.3f} {r['peak_rss_mib']:>8.0f}"
        )
    print(
        f"baseline: reference-style wraparound tests at d={baseline['dimension']}: "
        f"{baseline['reference_python_s']:.2f} s vs {baseline['veil_s'] * 1e3:.1f} ms "
        f"({baseline['speedup']:.0f}×)"
    )
    if not quick:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return None


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--one":
        print(json.dumps(measure_one(int(sys.argv[2]), int(sys.argv[3]))))
    else:
        main()
