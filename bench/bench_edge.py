"""The device client (issue 15, ``veil.edge``): what a phone-sized device pays to take part.

Every figure comes from fresh child processes with one thread (``NUMBA_NUM_THREADS``,
``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS`` = 1), as installed (the
field kernels compiled ahead of time: this benchmark runs ``python -m veil.vdaf.aot`` first,
which does nothing when the build is current):

* ``import``: wall seconds of ``import veil.edge`` and of the whole device stack
  (``from veil.edge import EdgeDevice, SmallMLP``: numpy, PINE, cryptography), each against
  ``python -c pass`` in the same run (median of interleaved runs); ``import_s`` is the
  difference, the figure held to the target;
* ``peak_rss_mib``: ru_maxrss (GNU time) of a process that imports, trains one local epoch
  and builds one report at d ≈ 10k;
* per model: the encoded report's bytes, and ``shard_seal_sign_ms``, the median over reports
  of ``ReportBuilder.build(...).encode()`` (clip, PINE shard, Prio3 count, HPKE seal to both
  Aggregators, Ed25519 signature) on a trained Δ, after a first report that is not counted.

Targets (issue 15): import ≤ 0.5 s, RSS ≤ 120 MiB, shard+seal+sign ≤ 50 ms at d = 10k.
Run: ``python -m bench edge``; ``VEIL_BENCH_QUICK=1`` for a smoke test.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.common import quick, run_measured, write_result

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"import_s": 0.5, "peak_rss_mib": 120.0, "shard_seal_sign_ms_at_10k": 50.0}
ONE_THREAD = {
    k: "1"
    for k in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
}
#: (n_features, hidden, n_classes, examples): d = hidden·(n_features+1) + n_classes·(hidden+1)
MODELS = {
    "mlp_10k": (64, 136, 10, 600),  # d = 10,210: 8x8 images, ten classes
    "mlp_demo": (30, 16, 2, 60),  # d = 530: a tabular device (breast-cancer shaped)
}
IMPORTS = {
    "python_pass": "pass",
    "import_veil_edge": "import veil.edge",
    "device_stack": "from veil.edge import EdgeDevice, SmallMLP",
}

_CHILD = r"""
import json, sys, time
import numpy as np
from veil.aggregation.config import ConsortiumConfig, DpConfig
from veil.crypto.hpke_keys import X25519Identity
from veil.crypto.signing import Ed25519Identity
from veil.edge import EdgeDevice, LocalSGD, SmallMLP

f, h, c, n, reports = map(int, sys.argv[1:6])
model = SmallMLP(f, h, c)
key = Ed25519Identity.generate()
cfg = ConsortiumConfig(
    task_id=bytes(32), dimension=model.size, clip_norm=1.0, max_weight=1,
    leader_hpke=X25519Identity.generate().recipient(),
    leader_signing=Ed25519Identity.generate().recipient(),
    helper_hpke=X25519Identity.generate().recipient(),
    helper_endpoint="http://127.0.0.1:1", clients={"device": key.recipient()},
    dp=DpConfig(noise_multiplier=1.0),
)
rng = np.random.default_rng(0)
centres = rng.normal(size=(c, f))
y = rng.integers(0, c, n)
x = centres[y] + rng.normal(size=(n, f))
device = EdgeDevice("device", key, x, y, model)
g = model.init(0)
t0 = time.perf_counter()
report = device.report(0, g, cfg, LocalSGD(epochs=1, lr=0.1, batch_size=32))
first_s = time.perf_counter() - t0
delta = device.update(0, g, LocalSGD()).vector - g
builder = device.builder(cfg)
times = []
for rnd in range(1, reports):
    t = time.perf_counter()
    builder.build(rnd, delta, 1).encode()
    times.append(time.perf_counter() - t)
print(json.dumps({"dimension": model.size, "report_bytes": len(report),
                  "first_report_s": first_s, "build_s": times}))
"""


def _env() -> dict[str, str]:
    path = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    return {**os.environ, **ONE_THREAD, "PYTHONPATH": path}


def measure_imports(runs: int) -> dict:
    """Median wall seconds of each import in a fresh process, interleaved with the baseline."""
    samples: dict[str, list[float]] = {k: [] for k in IMPORTS}
    for _ in range(runs):
        for name, code in IMPORTS.items():
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True, env=_env(), cwd=ROOT)
            samples[name].append(time.perf_counter() - t)
    base = statistics.median(samples["python_pass"])
    rows = {"python_pass": {"wall_s": round(base, 4)}}
    for name in ("import_veil_edge", "device_stack"):
        wall = statistics.median(samples[name])
        rows[name] = {
            "code": IMPORTS[name],
            "wall_s": round(wall, 4),
            "import_s": round(wall - base, 4),
            "all_wall_s": [round(s, 4) for s in samples[name]],
        }
    return rows


def measure_model(name: str, reports: int) -> dict:
    """Report size and per-report build time of one model, in a fresh one-thread process."""
    f, h, c, n = MODELS[name]
    args = [str(v) for v in (f, h, c, n, reports)]
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, *args],
        capture_output=True, text=True, check=True, env=_env(), cwd=ROOT,
    )  # fmt: skip
    r = json.loads(out.stdout)
    ms = [s * 1000 for s in r["build_s"]]
    return {
        "model": {"kind": "SmallMLP", "n_features": f, "hidden": h, "n_classes": c},
        "dimension": r["dimension"],
        "examples": n,
        "report_bytes": r["report_bytes"],
        "report_bytes_per_param": round(r["report_bytes"] / r["dimension"], 2),
        "ratio_vs_float32": round(r["report_bytes"] / (4 * r["dimension"]), 2),
        "first_report_with_training_s": round(r["first_report_s"], 4),
        "shard_seal_sign_ms": round(statistics.median(ms), 2),
        "all_shard_seal_sign_ms": [round(m, 2) for m in ms],
    }


def measure_rss() -> dict:
    """Peak RSS of import + one epoch + one report at d ≈ 10k (GNU time's ru_maxrss)."""
    f, h, c, n = MODELS["mlp_10k"]
    argv = [sys.executable, "-c", _CHILD, *(str(v) for v in (f, h, c, n, 1))]
    return run_measured(argv, env=_env())


def main() -> None:
    subprocess.run([sys.executable, "-m", "veil.vdaf.aot"], check=True, env=_env(), cwd=ROOT)
    runs, reports = (3, 4) if quick() else (11, 21)
    imports = measure_imports(runs)
    models = {name: measure_model(name, reports) for name in MODELS}
    rss = measure_rss()
    big = models["mlp_10k"]
    measured = {
        "import_s": imports["device_stack"]["import_s"],
        "peak_rss_mib": rss["peak_rss_mib"],
        "shard_seal_sign_ms_at_10k": big["shard_seal_sign_ms"],
    }
    path = write_result(
        "edge",
        {
            "bench": "edge",
            "threads": ONE_THREAD,
            "targets": TARGETS,
            "measured": measured,
            "meets_targets": {k: measured[k] <= TARGETS[k] for k in TARGETS},
            "imports": imports,
            "peak_rss": {"dimension": big["dimension"], **rss},
            "models": models,
        },
    )
    print(
        f"import veil.edge {imports['import_veil_edge']['import_s'] * 1000:.0f} ms, "
        f"device stack {measured['import_s'] * 1000:.0f} ms "
        f"(python -c pass {imports['python_pass']['wall_s'] * 1000:.0f} ms)"
    )
    print(
        f"peak RSS {measured['peak_rss_mib']} MiB "
        f"(import, one epoch, one report, d={big['dimension']})"
    )
    for name, m in models.items():
        print(
            f"{name:9} d={m['dimension']:6}  report {m['report_bytes']:7} B "
            f"({m['ratio_vs_float32']}x float32)  shard+seal+sign {m['shard_seal_sign_ms']} ms"
        )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
