"""Cross-device aggregation: each Aggregator's verification throughput, and one round of many
device reports streamed through the Leader (issue 15).

Throughput is reports per second per core for one Aggregator (the Leader's own seconds and
the in-process Helper's, timed apart; one thread each), at d = 10k and 100k. The round
figure streams 1,000 reports (200 in quick mode) of the IoT demo's model size and of d = 10k
through the Leader and Helper in this process, with the Leader's peak Python heap measured
by tracemalloc: the reports are made as the Leader asks for them, never held all at once.
(The round is run twice: timed, then under tracemalloc, which slows Python down, for the
heap.) The baseline, measured in the same run, is plain FedAvg: the mean of the same number of
float32 updates held in memory.
"""

from __future__ import annotations

import os
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_agg import TimedHelper
from bench.common import quick, write_result
from veil.aggregation.testing import make_consortium

DEMO_DIMENSION = 48  # the IoT demo's softmax regression: 23 features → 2 classes


def _consortium(n: int, dimension: int):
    cons = make_consortium(
        n_clients=n, dimension=dimension, noise=1.0, max_batch=64, min_reports=1, max_weight=1
    )
    leader, _ = cons.in_process()
    timed = TimedHelper(leader.helper)
    leader.helper = timed
    return cons, leader, timed


def throughput(dimension: int, n: int) -> dict:
    """Reports per second per core for each Aggregator, reports built beforehand."""
    cons, leader, timed = _consortium(n, dimension)
    rng = np.random.default_rng(0)
    t = time.perf_counter()
    reports = [
        cons.builder(f"c{i}").build(1, rng.normal(0, 1e-3, dimension), 1).encode() for i in range(n)
    ]
    client_s = (time.perf_counter() - t) / n
    t = time.perf_counter()
    res = leader.aggregate_round(1, reports)
    total = time.perf_counter() - t
    assert len(res.accepted) == n
    leader_s = total - timed.seconds
    return {
        "dimension": dimension,
        "reports": n,
        "client_s_per_report": client_s,
        "leader_reports_per_s": n / leader_s,
        "helper_reports_per_s": n / timed.seconds,
        "report_bytes": len(reports[0]),
    }


def streamed_round(dimension: int, n: int) -> dict:
    """One round of ``n`` reports built on demand, timed; the same round again under
    tracemalloc (which slows Python down) for the Leader's peak heap; FedAvg baseline."""
    timing = _round(dimension, n, trace=False)
    memory = _round(dimension, n, trace=True)
    rng = np.random.default_rng(2)
    updates = rng.normal(0, 1e-3, (n, dimension)).astype(np.float32)
    t = time.perf_counter()
    updates.mean(axis=0)
    fedavg_s = time.perf_counter() - t
    aggregators_s = timing["wall"] - timing["build_s"]
    return {
        "dimension": dimension,
        "reports": n,
        "round_s_all_on_this_machine": timing["wall"],
        "devices_s": timing["build_s"],
        "aggregators_s": aggregators_s,
        "helper_s": timing["helper_s"],
        "leader_peak_heap_mib": memory["peak"] / 2**20,
        "fedavg_updates_in_memory_mib": updates.nbytes / 2**20,
        "fedavg_mean_s": fedavg_s,
        "ratio_aggregators_vs_fedavg_mean": aggregators_s / fedavg_s,
    }


def _round(dimension: int, n: int, *, trace: bool) -> dict:
    cons, leader, timed = _consortium(n, dimension)
    rng = np.random.default_rng(1)
    builders = [cons.builder(f"c{i}") for i in range(n)]
    build_s = 0.0

    def stream():
        nonlocal build_s
        for b in builders:
            t = time.perf_counter()
            data = b.build(1, rng.normal(0, 1e-3, dimension), 1).encode()
            build_s += time.perf_counter() - t
            yield data

    if trace:
        tracemalloc.start()
    t = time.perf_counter()
    res = leader.aggregate_round(1, stream())
    wall = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1] if trace else 0
    if trace:
        tracemalloc.stop()
    assert len(res.accepted) == n
    return {"wall": wall, "build_s": build_s, "helper_s": timed.seconds, "peak": peak}


def main() -> None:
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    sizes = [(10_000, 16)] if quick() else [(10_000, 128), (100_000, 32)]
    rows = [throughput(d, n) for d, n in sizes]
    print(f"{'params':>8} {'leader r/s':>10} {'helper r/s':>10} {'client ms':>9} {'bytes':>8}")
    for r in rows:
        print(
            f"{r['dimension']:>8} {r['leader_reports_per_s']:>10.1f} "
            f"{r['helper_reports_per_s']:>10.1f} {1e3 * r['client_s_per_report']:>9.2f} "
            f"{r['report_bytes']:>8}"
        )
    n = 200 if quick() else 1000
    rounds = [streamed_round(DEMO_DIMENSION, n), streamed_round(10_000, n)]
    for r in rounds:
        print(
            f"round of {r['reports']} reports at d={r['dimension']}: "
            f"{r['round_s_all_on_this_machine']:.1f} s (aggregators {r['aggregators_s']:.1f} s), "
            f"Leader peak heap {r['leader_peak_heap_mib']:.1f} MiB"
        )
    path = write_result(
        "cross_device",
        {
            "bench": "cross_device",
            "throughput": rows,
            "rounds": rounds,
            "baseline": "plain FedAvg: the mean of the same float32 updates in memory, same run",
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
