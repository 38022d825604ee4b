"""Verified aggregation: per-unit costs and a 10-client round against plain FedAvg.

Per-unit figures (what decides a deployment: clients shard on their own machines, each
Aggregator verifies on its own): client shard+seal+sign seconds per million parameters on one
core, each Aggregator's seconds per report per million parameters, upload bytes per parameter.
The round figure runs every client and both Aggregators (in process) on this machine; the
baseline is plain FedAvg (a weighted mean of float32 updates) measured in the same run.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import quick, write_result
from veil.aggregation.testing import make_consortium

CLIENTS = 10
TARGETS = {
    "client_s_per_mparam": 5.0,
    "aggregator_s_per_report_mparam": 2.5,
    "upload_ratio_vs_float32": 2.2,
}


class TimedHelper:
    """In-process Helper transport that records the Helper's own seconds."""

    def __init__(self, inner) -> None:
        self.inner, self.seconds = inner, 0.0

    def verify(self, body: bytes) -> bytes:
        t = time.perf_counter()
        out = self.inner.verify(body)
        self.seconds += time.perf_counter() - t
        return out

    def collect(self, body: bytes) -> bytes:
        t = time.perf_counter()
        out = self.inner.collect(body)
        self.seconds += time.perf_counter() - t
        return out


def measure(dimension: int, clients: int) -> dict:
    con = make_consortium(
        n_clients=clients, dimension=dimension, noise=1.0, max_batch=min(clients, 32)
    )
    leader, _ = con.in_process()
    timed = TimedHelper(leader.helper)
    leader.helper = timed
    rng = np.random.default_rng(0)
    updates = [rng.normal(size=dimension).astype(np.float32) * 1e-3 for _ in range(clients)]
    weights = [int(x) for x in rng.integers(1, 100, size=clients)]

    # plain FedAvg baseline: weighted mean of float32 updates (best of 3)
    base = []
    for _ in range(3):
        t = time.perf_counter()
        np.average(np.stack(updates), axis=0, weights=weights)
        base.append(time.perf_counter() - t)
    fedavg_s = min(base)

    t0 = time.perf_counter()
    client_s = []
    reports = []
    for i in range(clients):
        b = con.builder(f"c{i}")
        t = time.perf_counter()
        reports.append(b.build(0, updates[i], weights[i]))
        client_s.append(time.perf_counter() - t)
    t1 = time.perf_counter()
    res = leader.aggregate_round(0, reports)
    t2 = time.perf_counter()
    assert len(res.accepted) == clients
    helper_s = timed.seconds
    leader_s = (t2 - t1) - helper_s
    upload = float(np.mean([len(r.encode()) for r in reports]))
    m = dimension / 1e6
    return {
        "dimension": dimension,
        "clients": clients,
        "client_s_per_report": float(np.median(client_s)),
        "client_s_per_mparam": float(np.median(client_s)) / m,
        "leader_s_per_report_mparam": leader_s / clients / m,
        "helper_s_per_report_mparam": helper_s / clients / m,
        "aggregator_s_per_report_mparam": max(leader_s, helper_s) / clients / m,
        "upload_bytes_per_client": upload,
        "upload_bytes_per_param": upload / dimension,
        "upload_ratio_vs_float32": upload / (4 * dimension),
        "round_s_all_on_this_machine": t2 - t0,
        "critical_path_s": float(np.median(client_s)) + max(leader_s, helper_s),
        "fedavg_baseline_s": fedavg_s,
        "ratio_vs_fedavg": (t2 - t0) / fedavg_s,
        "noise_multiplier": 1.0,
        "num_frac_bits": res and leader.vdafs.num_frac_bits,
    }


def main() -> None:
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    sizes = [10_000] if quick() else [100_000, 1_000_000]
    clients = 3 if quick() else CLIENTS
    rows = [measure(d, clients) for d in sizes]
    print(
        f"{'params':>9} {'client s/M':>10} {'leader s/r/M':>12} {'helper s/r/M':>12} "
        f"{'upload/f32':>10} {'round s':>8} {'fedavg s':>9}"
    )
    for r in rows:
        print(
            f"{r['dimension']:>9} {r['client_s_per_mparam']:>10.2f} "
            f"{r['leader_s_per_report_mparam']:>12.2f} {r['helper_s_per_report_mparam']:>12.2f} "
            f"{r['upload_ratio_vs_float32']:>10.3f} {r['round_s_all_on_this_machine']:>8.2f} "
            f"{r['fedavg_baseline_s']:>9.4f}"
        )
    big = rows[-1]
    meets = {k: big[k] <= v for k, v in TARGETS.items()}
    # 100 virtual clients per round at 100k parameters, everything on this machine
    many = measure(10_000 if quick() else 100_000, 10 if quick() else 100)
    meets["100_clients_100k_within_60s"] = many["round_s_all_on_this_machine"] <= 60
    print(
        f"{many['clients']} clients x {many['dimension']} params: "
        f"{many['round_s_all_on_this_machine']:.1f} s per round (all on this machine)"
    )
    path = write_result(
        "agg",
        {
            "bench": "agg",
            "rows": rows,
            "many_clients": many,
            "targets": TARGETS,
            "meets_targets_at_largest": meets,
            "baseline": "plain FedAvg weighted mean of float32 updates, same run",
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
