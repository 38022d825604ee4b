"""Aggregators that scale with workers (issue 18.3; docs/protocol.md §7.2).

1. **Throughput** — verified reports per second of one Aggregator against its verify workers
   (1, 2) at d = 100k and 1M. The Helper row times its whole ``handle_verify`` (admission in
   its SQLite store, the workers' open + ``verify_init`` + ``verify_next``, storing each
   pending share) over the verify requests a Leader made; the Leader row times its
   ``verify_init`` of the same reports on its pool (the Leader's other per-report step,
   ``verify_next``, is a vector copy). Workers are started before timing; their start-up is
   reported apart.
2. **A 10-client round at 1M** — clients shard in parallel processes (one per core), the
   Helper is a real ``veil helper serve --workers k`` process on 127.0.0.1 with its SQLite
   state, the Leader verifies on k workers, noise on (z = 1). Round time = sharding + the
   Leader's ``aggregate_round`` (upload over loopback included). Compared with Flower FedAvg
   and Flower SecAgg+ at the same size, measured in the same run when Ray is installed
   (``bench.bench_fl``).
3. **The latency model's terms** (client shard, upload bytes, verify per report per core,
   collect) for docs/protocol.md §7.3.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import tomllib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import quick, write_result
from veil.aggregation.aggregator import HelperCore, noised_share
from veil.aggregation.client import ReportBuilder
from veil.aggregation.config import ConsortiumConfig
from veil.aggregation.leader import VerifiedAggregator
from veil.aggregation.process import HelperProcess, free_port
from veil.aggregation.report import Report
from veil.aggregation.store import AggregatorStore
from veil.aggregation.testing import RecordingHelper, make_consortium
from veil.aggregation.transport import HttpHelper, InProcessHelper
from veil.aggregation.verify_pool import VerifyPool
from veil.crypto.signing import Ed25519Identity

WORKERS = (1, 2)
CLIENTS = 10


def _reports(cons, n: int, dimension: int, rnd: int = 1) -> list[bytes]:
    rng = np.random.default_rng(rnd)
    return [
        cons.builder(f"c{i}").build(rnd, rng.normal(0, 1e-4, dimension), 1).encode()
        for i in range(n)
    ]


def throughput(dimension: int, n: int, repeats: int) -> list[dict]:
    """Reports per second of each Aggregator for each worker count, median of ``repeats``."""
    cons = make_consortium(
        n_clients=n, dimension=dimension, noise=1.0, max_batch=n, min_reports=1, max_weight=1
    )
    reports = _reports(cons, n, dimension)
    core = HelperCore(cons.cfg, cons.helper_hpke, AggregatorStore(":memory:", cons.helper_hpke))
    recorder = RecordingHelper(core)
    VerifiedAggregator(cons.cfg, cons.leader_hpke, recorder, workers=1).aggregate_round(1, reports)
    (body,) = recorder.requests
    vdafs = recorder.core.vdafs
    decoded = [Report.decode(r) for r in reports]
    vk = bytes(48)
    jobs = [(r.metadata, r.leader_share, vk) for r in decoded]
    rows = []
    for k in WORKERS:
        pool = VerifyPool(cons.cfg, cons.leader_hpke, vdafs, k)
        t = time.perf_counter()
        pool.start()
        start_s = time.perf_counter() - t
        leader_s = []
        for _ in range(repeats):
            t = time.perf_counter()
            for f in pool.leader_prepare(jobs):
                assert not isinstance(f.result(), str)
            leader_s.append(time.perf_counter() - t)
        pool.close()
        helper_s = []
        for _ in range(repeats):
            fresh = HelperCore(
                cons.cfg, cons.helper_hpke, AggregatorStore(":memory:", cons.helper_hpke),
                workers=k,
            )  # fmt: skip
            fresh.pool.start()  # spawn and set-up outside the timing
            t = time.perf_counter()
            fresh.handle_verify(body)
            helper_s.append(time.perf_counter() - t)
            fresh.close()
        lt, ht = statistics.median(leader_s), statistics.median(helper_s)
        rows.append(
            {
                "dimension": dimension,
                "reports": n,
                "workers": k,
                "leader_reports_per_s": n / lt,
                "helper_reports_per_s": n / ht,
                "leader_seconds": leader_s,
                "helper_seconds": helper_s,
                "worker_start_s": start_s,
            }
        )
        print(
            f"d={dimension:>9,} workers={k}: Leader {n / lt:7.1f} reports/s, "
            f"Helper {n / ht:7.1f} reports/s (start-up {start_s:.2f} s)"
        )
    base = rows[0]
    for r in rows:
        r["leader_speedup"] = r["leader_reports_per_s"] / base["leader_reports_per_s"]
        r["helper_speedup"] = r["helper_reports_per_s"] / base["helper_reports_per_s"]
    return rows


def collect_terms(dimension: int, n: int) -> dict:
    """The collect's parts (in process, one thread): the Helper's sum per report (unseal a
    pending share from its store, decode, add), one Aggregator's noise draw, and the Leader's
    unsharding — what §7.3 needs apart, since the sum grows with the reports and the rest
    does not."""
    cons = make_consortium(
        n_clients=n, dimension=dimension, noise=1.0, max_batch=n, min_reports=1, max_weight=1
    )
    core = HelperCore(cons.cfg, cons.helper_hpke, AggregatorStore(":memory:", cons.helper_hpke))
    inner = core.handle_collect
    seconds = {}

    def timed(body: bytes) -> bytes:
        t = time.perf_counter()
        out = inner(body)
        seconds["helper_collect"] = time.perf_counter() - t
        return out

    core.handle_collect = timed
    leader = VerifiedAggregator(cons.cfg, cons.leader_hpke, InProcessHelper(core), workers=1)
    res = leader.aggregate_round(1, _reports(cons, n, dimension))
    v = core.vdafs
    t = time.perf_counter()
    noised_share(cons.cfg, v, (v.pine.agg_init(None), v.weight.agg_init(None)))
    noise = time.perf_counter() - t
    return {
        "dimension": dimension,
        "reports": n,
        "noise_s": noise,
        "sum_s_per_report": max(seconds["helper_collect"] - noise, 0.0) / n,
        "unshard_s": res.timings["aggregate_s"] - seconds["helper_collect"],
    }


def _build(args) -> bytes:
    """One client's sharding, in a worker process (its own core), timed by the caller."""
    config_toml, name, key, dimension, rnd = args
    cfg = ConsortiumConfig.from_dict(tomllib.loads(config_toml))
    rng = np.random.default_rng([rnd, int(name[1:])])
    builder = ReportBuilder(cfg, name, Ed25519Identity.from_bytes(key))
    return builder.build(rnd, rng.normal(0, 1e-4, dimension), 1).encode()


def verified_round(dimension: int, workers: int, rounds: int) -> dict:
    """A 10-client verified round: clients shard in parallel, a Helper process and the
    Leader verify on ``workers`` processes each; median over ``rounds`` rounds."""
    port = free_port()
    cons = make_consortium(
        n_clients=CLIENTS, dimension=dimension, noise=1.0, max_weight=1, min_reports=2,
        helper_endpoint=f"http://127.0.0.1:{port}",
    )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="veil-bench-scaling-") as tmp:
        helper = HelperProcess(Path(tmp), cons.cfg, cons.helper_hpke, port, workers=workers)
        helper.start()
        http = HttpHelper(cons.cfg.helper_endpoint, cons.cfg.task_id, cons.leader_signing,
                          helper=cons.cfg.helper_hpke)  # fmt: skip
        leader = VerifiedAggregator(cons.cfg, cons.leader_hpke, http, workers=workers)
        shard_s, agg_s, collect_s, totals = [], [], [], []
        try:
            with ProcessPoolExecutor(max_workers=2) as clients:
                toml = cons.cfg.to_toml()
                keys = {n: k.private_bytes() for n, k in cons.client_keys.items()}
                for rnd in range(rounds + 1):  # round 0 starts every worker
                    t0 = time.perf_counter()
                    jobs = [(toml, f"c{i}", keys[f"c{i}"], dimension, rnd) for i in range(CLIENTS)]
                    reports = list(clients.map(_build, jobs))
                    t1 = time.perf_counter()
                    res = leader.aggregate_round(rnd, reports)
                    t2 = time.perf_counter()
                    assert len(res.accepted) == CLIENTS
                    if rnd:
                        shard_s.append(t1 - t0)
                        agg_s.append(t2 - t1)
                        collect_s.append(res.timings["aggregate_s"])
                        totals.append(t2 - t0)
        finally:
            leader.close()
            http.close()
            helper.stop()
    row = {
        "dimension": dimension,
        "clients": CLIENTS,
        "workers": workers,
        "round_seconds": statistics.median(totals),
        "shard_seconds": statistics.median(shard_s),
        "aggregators_seconds": statistics.median(agg_s),
        "collect_seconds": statistics.median(collect_s),
        "all_round_seconds": totals,
        "upload_bytes_per_client": len(reports[0]),
    }
    print(
        f"round d={dimension:,} workers={workers}: {row['round_seconds']:.2f} s "
        f"(shard {row['shard_seconds']:.2f} s, aggregators {row['aggregators_seconds']:.2f} s)"
    )
    return row


def flower_baselines(rounds: int) -> dict:
    """Flower FedAvg and SecAgg+ rounds at ≈1M parameters (bench_fl), or why not."""
    from importlib.util import find_spec

    from bench import bench_fl

    if find_spec("ray") is None:
        reason = "Ray not installed: pip install 'flwr[simulation]==1.42.0'"
        return {"fedavg": {"skipped": reason}, "secagg_plus": {"skipped": reason}}
    hidden = bench_fl.SIZES["1M"]
    return {
        "params": bench_fl._params(hidden),
        "fedavg": bench_fl._flower(hidden, rounds, False),
        "secagg_plus": bench_fl._flower(hidden, rounds, True),
    }


#: the deployment docs/protocol.md §7.3 projects to, and what it assumes
DEPLOYMENT = {"clients": 100, "params": 10_000_000, "max_batch": 32, "leader_link_gbit_s": 10}
LOCAL_TRAINING_S = (0, 30, 60, 120, 300)
WORKER_COUNTS = (1, 2, 4, 8, 16, 32, 64, 128)


def fedavg_mean_s(dimension: int, clients: int) -> float:
    """Plain FedAvg's server work: the weighted mean of ``clients`` float32 updates."""
    rng = np.random.default_rng(0)
    ups = rng.normal(size=(clients, dimension)).astype(np.float32)
    w = rng.integers(1, 100, clients).astype(np.float32)
    times = []
    for _ in range(5):
        t = time.perf_counter()
        (w[:, None] * ups).sum(axis=0) / w.sum()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def projection(terms: dict) -> dict:
    """docs/protocol.md §7.3: the verified round against plain FedAvg for DEPLOYMENT, from
    the terms measured here (per-core costs scale linearly with the parameters)."""
    n, d, b = DEPLOYMENT["clients"], DEPLOYMENT["params"], DEPLOYMENT["max_batch"]
    scale = d / terms["dimension"]
    link = DEPLOYMENT["leader_link_gbit_s"] * 1e9 / 8
    shard = terms["client_shard_s"] * scale
    upload_v = n * terms["report_bytes_per_param"] * d / link
    upload_f = n * 4 * d / link
    v_l, v_h = terms["leader_s_per_report"] * scale, terms["helper_s_per_report"] * scale
    collect = (terms["sum_s_per_report"] * n + 2 * terms["noise_s"] + terms["unshard_s"]) * scale
    mean = terms["fedavg_mean_s_per_report"] * scale * n
    rows = []
    for train in LOCAL_TRAINING_S:
        fedavg = train + upload_f + mean
        per_k = {}
        for k in WORKER_COUNTS:
            verify = (max(v_l, v_h) * n + min(v_l, v_h) * min(b, n)) / k
            per_k[k] = (train + shard + upload_v + verify + collect) / fedavg
        enough = [k for k in WORKER_COUNTS if per_k[k] <= 1.5]
        floor = (train + shard + upload_v + collect) / fedavg
        rows.append({
            "local_training_s": train,
            "fedavg_round_s": fedavg,
            "ratio_by_workers": per_k,
            "ratio_as_workers_grow": floor,
            "workers_for_1_5x": enough[0] if enough else None,
        })  # fmt: skip
    return {
        "deployment": DEPLOYMENT,
        "terms_s": {
            "client_shard": shard,
            "upload_verified": upload_v,
            "upload_fedavg": upload_f,
            "leader_verify_per_report_per_core": v_l,
            "helper_verify_per_report_per_core": v_h,
            "collect_and_noise": collect,
            "fedavg_mean": mean,
        },
        "rows": rows,
    }


def main() -> None:
    if quick():
        sizes, round_dim, rounds, repeats = [(20_000, 4)], 20_000, 1, 1
    else:
        sizes, round_dim, rounds, repeats = [(100_000, 16), (1_000_000, 8)], 1_000_000, 3, 3
    rows = [r for d, n in sizes for r in throughput(d, n, repeats)]
    round_rows = [verified_round(round_dim, k, rounds) for k in WORKERS]
    flower = flower_baselines(3 if quick() else 5) if not quick() else {"skipped": "quick"}
    base = flower.get("fedavg", {}).get("round_seconds") if isinstance(flower, dict) else None
    for r in round_rows:
        r["ratio_vs_flower_fedavg"] = r["round_seconds"] / base if base else None
    one = next(r for r in rows if r["dimension"] == round_dim and r["workers"] == 1)
    ctt = collect_terms(round_dim, 4 if quick() else 8)
    r1 = round_rows[0]
    terms = {
        "dimension": round_dim,
        "client_shard_s": r1["shard_seconds"] * 2 / CLIENTS,  # 10 clients on 2 processes
        "report_bytes_per_param": r1["upload_bytes_per_client"] / round_dim,
        "leader_s_per_report": 1 / one["leader_reports_per_s"],
        "helper_s_per_report": 1 / one["helper_reports_per_s"],
        **{k: v for k, v in ctt.items() if k.endswith("_s") or k.endswith("_per_report")},
        "fedavg_mean_s_per_report": fedavg_mean_s(round_dim, CLIENTS) / CLIENTS,
    }
    proj = projection(terms)
    for row in proj["rows"]:
        print(
            f"100 clients x 10M, local training {row['local_training_s']:>3} s: "
            f"k for 1.5x FedAvg = {row['workers_for_1_5x']}, "
            f"ratio as k grows -> {row['ratio_as_workers_grow']:.2f}"
        )
    if base:
        sa = flower["secagg_plus"].get("round_seconds")
        print(f"Flower FedAvg {base:.2f} s/round, SecAgg+ {sa:.2f} s/round (≈1M, same run)")
    path = write_result(
        "agg_scaling",
        {
            "throughput": rows,
            "round": round_rows,
            "flower": flower,
            "model_terms": terms,
            "projection": proj,
            "notes": (
                "throughput: one Aggregator's verified reports/s against its verify workers; "
                "round: 10 clients sharding in 2 processes, Helper process with --workers k, "
                "Leader with k workers, z = 1; Flower rows from bench_fl in the same run"
            ),
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
