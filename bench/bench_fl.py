"""Federated round cost: veil's embedded runner vs Flower simulation (plain FedAvg) vs
Flower's SecAgg+ (5 shares, threshold 3), 10 clients, digits MLP at ≈100k and ≈1M
parameters. Per-round wall time (median of rounds 2..R; round 1 pays start-up) and upload
bytes per client per round. The baseline for the ratios is Flower plain FedAvg, measured
in the same run. Flower simulation needs Ray (``pip install 'flwr[simulation]==1.42.0'``);
without it those rows are reported as skipped.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import quick, write_result

CLIENTS = 10
SIZES = {"100k": (300, 256), "1M": (1000, 900)}
QUICK_SIZES = {"10k": (96, 64)}


def _params(hidden: tuple[int, int]) -> int:
    a, b = hidden
    return 64 * a + a + a * b + b + b * 10 + 10


def _embedded(hidden, rounds: int, secure: bool = False) -> dict:
    import numpy as np

    from veil.fl import partition
    from veil.fl.data import digits
    from veil.fl.flower_bench import bench_train_config
    from veil.fl.models import ModelKind, ModelSpec
    from veil.fl.runner import ArrayClient, RunConfig, run_federated
    from veil.fl.strategies import FedAvg

    x, y = digits()
    spec = ModelSpec(ModelKind.MLP, 64, 10, hidden)
    parts = partition.iid(len(y), CLIENTS, rng=np.random.default_rng(0))
    clients = [ArrayClient(f"c{k}", spec, x[p], y[p]) for k, p in enumerate(parts)]
    sec = None
    if secure:  # veil verified aggregation: PINE reports, Helper process, DP noise z = 1
        from veil.aggregation.fl_bridge import LazySecureAggregation, SecureOptions

        tmp = tempfile.mkdtemp(prefix="veil-bench-agg-")
        opts = SecureOptions(clip_norm=1.0, noise_multiplier=1.0, max_weight=1000)
        sec = LazySecureAggregation(Path(tmp), [c.name for c in clients], rounds, opts)
    try:
        res = run_federated(
            spec, clients, FedAvg(), RunConfig(rounds=rounds, train=bench_train_config()),
            evaluate=None, secure=sec,
        )  # fmt: skip
    finally:
        if sec is not None:
            sec.close()
    secs = [r["seconds"] for r in res.rounds[1:]]
    return {
        "round_seconds": statistics.median(secs),
        "all_round_seconds": secs,
        "bytes_up_per_client": res.rounds[-1]["bytes_up"] / CLIENTS,
    }


_CHILD = """
import sys
from flwr.simulation import run_simulation
from veil.fl.flower_bench import client_app, server_app
secure, rounds = sys.argv[1] == "1", int(sys.argv[2])
run_simulation(server_app(secure, rounds), client_app(secure), num_supernodes={n},
               backend_config={{"client_resources": {{"num_cpus": 1, "num_gpus": 0.0}},
                               "init_args": {{"num_cpus": 2, "include_dashboard": False}}}})
"""


def _flower(hidden, rounds: int, secure: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "log"
        log.touch()
        env = {
            **os.environ,
            "FLWR_TELEMETRY_ENABLED": "0",
            "FLWR_DISABLE_UPDATE_CHECK": "1",
            "RAY_USAGE_STATS_ENABLED": "0",
            "VEIL_BENCH_LOG": str(log),
            "VEIL_BENCH_HIDDEN": ",".join(map(str, hidden)),
            "VEIL_BENCH_CLIENTS": str(CLIENTS),
        }
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD.format(n=CLIENTS), "1" if secure else "0", str(rounds)],
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        wall = time.perf_counter() - t0
        lines = [ln.split() for ln in log.read_text().splitlines()]
    ends = [float(v) for k, v in lines if k == "round_end"]
    start = [float(v) for k, v in lines if k == "start"]
    sent = [int(float(v)) for k, v in lines if k == "bytes"]
    if proc.returncode != 0 or len(ends) != rounds:
        return {"error": (proc.stderr or proc.stdout)[-800:], "rounds_seen": len(ends)}
    times = [b - a for a, b in zip(start + ends[:-1], ends, strict=True)]
    return {
        "round_seconds": statistics.median(times[1:]),
        "all_round_seconds": times[1:],
        "bytes_up_per_client": sum(sent) / (CLIENTS * rounds),
        "process_seconds": wall,
    }


def main() -> None:
    from importlib.util import find_spec

    rounds = 3 if quick() else 5
    sizes = QUICK_SIZES if quick() else SIZES
    have_ray = find_spec("ray") is not None
    rows = []
    for label, hidden in sizes.items():
        params = _params(hidden)
        emb = _embedded(hidden, rounds)
        verified = _embedded(hidden, rounds, secure=True)
        if have_ray:
            plain, secagg = _flower(hidden, rounds, False), _flower(hidden, rounds, True)
        else:
            plain = secagg = {
                "skipped": "Ray not installed: pip install 'flwr[simulation]==1.42.0'"
            }
        base = plain.get("round_seconds")
        for name, r in (
            ("embedded FedAvg", emb),
            ("Flower sim FedAvg", plain),
            ("Flower SecAgg+", secagg),
            ("veil verified+DP", verified),
        ):
            ratio = (r["round_seconds"] / base) if base and "round_seconds" in r else None
            rows.append(
                {
                    "size": label,
                    "params": params,
                    "engine": name,
                    **r,
                    "ratio_vs_flower_fedavg": ratio,
                }
            )
    print(
        f"{'size':>5} {'params':>9} {'engine':<18} {'s/round':>8} "
        f"{'bytes up/client':>16} {'× Flower FedAvg':>16}"
    )
    for r in rows:
        s = f"{r['round_seconds']:.3f}" if "round_seconds" in r else "—"
        b = f"{r['bytes_up_per_client']:,.0f}" if "bytes_up_per_client" in r else "—"
        x = f"{r['ratio_vs_flower_fedavg']:.2f}" if r.get("ratio_vs_flower_fedavg") else "—"
        print(f"{r['size']:>5} {r['params']:>9,} {r['engine']:<18} {s:>8} {b:>16} {x:>16}")
    path = write_result(
        "fl",
        {
            "clients": CLIENTS,
            "rounds": rounds,
            "round_seconds": "median over rounds 2..R",
            "baseline": "Flower 1.42 simulation, legacy FedAvg, same run",
            "client_work": "veil local_update, 1 SGD step of 32 rows (same in every engine)",
            "results": rows,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
