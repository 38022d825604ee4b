"""Benchmark of veil.zk: Bulletproofs range proofs against one ristretto255 scalar
multiplication measured in the same run (libsodium has no multi-scalar multiplication, so
that is the unit a proof's cost is counted in).

Timings are the best of N runs (the machine is shared: the minimum is the least
disturbed run), medians are recorded beside them. Scalar-multiplication equivalents are
the median over runs of (run time / cost of one multiplication timed just before that
run), so that load from other processes affects both sides of each ratio alike.

    python -m bench.bench_zk            # full: 64-bit single, 16 × 64-bit aggregated
    VEIL_BENCH_QUICK=1 python -m bench.bench_zk

Writes ``bench/results/zk.json`` (quick mode: ``zk-quick.json``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from veil.zk import group, pedersen
from veil.zk.bulletproofs import RangeProof, proof_size
from veil.zk.transcript import Transcript

RESULTS = Path(__file__).resolve().parent / "results"
#: published anchor: dalek-cryptography/bulletproofs README, i7-7800X with AVX2
DALEK = {"prove_64_ms": 7.3, "verify_64_ms": 1.04, "machine": "Intel i7-7800X, AVX2 backend"}


def _times_ms(fn: Callable[[], object], reps: int) -> list[float]:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


_UNIT_POINT = group.hash_to_point(b"bench point")


def _paired(fn: Callable[[], object], reps: int) -> tuple[list[float], list[float]]:
    """Time ``fn`` right after 100 scalar multiplications, ``reps`` times.

    Returns ``(times_ms, equivalents)`` where each equivalent count divides a run by the
    scalar-multiplication cost measured just before it, so load from other processes on a
    shared machine affects both sides of the ratio alike.
    """
    s = pedersen.random_scalar()
    times, equivalents = [], []
    for _ in range(reps):
        unit_ms = _times_ms(lambda: [group.mul(s, _UNIT_POINT) for _ in range(100)], 1)[0] / 100
        t = _times_ms(fn, 1)[0]
        times.append(t)
        equivalents.append(t / unit_ms)
    return times, equivalents


def _unit_costs(reps: int) -> dict[str, float]:
    """Median µs of one scalar multiplication, fixed-base multiplication and addition."""
    P = group.hash_to_point(b"bench point")
    s = pedersen.random_scalar()
    out = {}
    for name, fn in (
        ("mul_us", lambda: group.mul(s, P)),
        ("mul_base_us", lambda: group.mul_base(s)),
        ("add_us", lambda: group.add(P, P)),
    ):
        batches = _times_ms(lambda f=fn: [f() for _ in range(50)], reps)
        out[name] = min(batches) * 1e3 / 50
    return out


def _case(n: int, m: int, reps_prove: int, reps_verify: int, mul_us: float) -> dict:
    values = [(1 << n) - 1 - 3 * j for j in range(m)]
    pedersen.generators(n * m)  # derive (and cache) the generators outside the timing
    with group.count_ops() as prove_ops:
        proof, coms = RangeProof.prove(Transcript(b"bench"), values, None, n)
    with group.count_ops() as verify_ops:
        proof.verify(Transcript(b"bench"), coms, n)
    prove_t, prove_eq = _paired(
        lambda: RangeProof.prove(Transcript(b"bench"), values, None, n), reps_prove
    )
    verify_t, verify_eq = _paired(lambda: proof.verify(Transcript(b"bench"), coms, n), reps_verify)
    prove_ms, verify_ms = min(prove_t), min(verify_t)
    lg = (n * m).bit_length() - 1
    return {
        "n": n,
        "m": m,
        "prove_ms": round(prove_ms, 2),
        "verify_ms": round(verify_ms, 2),
        "prove_ms_median": round(statistics.median(prove_t), 2),
        "verify_ms_median": round(statistics.median(verify_t), 2),
        "prove_scalar_mults_counted": prove_ops.scalar_mults,
        "verify_scalar_mults_counted": verify_ops.scalar_mults,
        "prove_point_additions": prove_ops.add,
        "verify_point_additions": verify_ops.add,
        # time of a run divided by one scalar multiplication timed just before it (median)
        "prove_mult_equivalents": round(statistics.median(prove_eq), 1),
        "verify_mult_equivalents": round(statistics.median(verify_eq), 1),
        # best run divided by the best unit cost of the run
        "prove_mult_equivalents_best": round(prove_ms * 1e3 / mul_us, 1),
        "verify_mult_equivalents_best": round(verify_ms * 1e3 / mul_us, 1),
        "verify_budget_issue": 2 * n * m + 2 * lg + m + 20,
        "proof_bytes": len(proof.to_bytes()),
        "proof_bytes_formula": proof_size(n, m),
        "separate_proofs_bytes": m * proof_size(n, 1),
    }


def main(out: Path | None = None) -> None:
    """Measure, print a table, write the JSON results."""
    quick = os.environ.get("VEIL_BENCH_QUICK") == "1"
    units = _unit_costs(3 if quick else 15)
    mul_us = units["mul_us"]
    shapes = [(8, 1, 3, 3), (8, 4, 1, 2)] if quick else [(64, 1, 15, 25), (64, 16, 3, 5)]
    cases = [_case(n, m, rp, rv, mul_us) for n, m, rp, rv in shapes]
    result = {
        "benchmark": "veil.zk bulletproofs range proofs",
        "quick": quick,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
        },
        "baseline": {
            "what": "one ristretto255 scalar multiplication (libsodium via rbcl)",
            **{k: round(v, 2) for k, v in units.items()},
        },
        "anchor_dalek_bulletproofs": DALEK,
        "targets": {"prove_64_equivalents": 700, "verify_64_equivalents": 160},
        "cases": cases,
    }
    if not quick:
        single = cases[0]
        result["ratio_vs_dalek"] = {
            "prove": round(single["prove_ms"] / DALEK["prove_64_ms"], 1),
            "verify": round(single["verify_ms"] / DALEK["verify_64_ms"], 1),
        }
    path = out or RESULTS / ("zk-quick.json" if quick else "zk.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")

    print(
        f"one scalar multiplication: {mul_us:.1f} µs  (fixed-base {units['mul_base_us']:.1f} "
        f"µs, addition {units['add_us']:.1f} µs)"
    )
    print(
        f"{'n×m':>7} {'prove ms':>9} {'verify ms':>10} {'prove SM':>9} {'verify SM':>10} "
        f"{'prove eq':>9} {'verify eq':>10} {'bytes':>6}"
    )
    for c in cases:
        print(
            f"{c['n']:>4}×{c['m']:<2} {c['prove_ms']:>9.1f} {c['verify_ms']:>10.2f} "
            f"{c['prove_scalar_mults_counted']:>9} {c['verify_scalar_mults_counted']:>10} "
            f"{c['prove_mult_equivalents']:>9.0f} {c['verify_mult_equivalents']:>10.0f} "
            f"{c['proof_bytes']:>6}"
        )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
