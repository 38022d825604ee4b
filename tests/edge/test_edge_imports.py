"""The device install path: a device that trains and builds a verified report loads no
PyTorch, Flower, pandas, matplotlib, scikit-learn or Opacus, and the core dependencies in
pyproject.toml do not list them (issue 15: ``pip install veil[edge]`` must not pull them)."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: what a device never loads (the FL extra's and the Aggregators' libraries)
FORBIDDEN = (
    "torch",
    "flwr",
    "pandas",
    "matplotlib",
    "sklearn",
    "opacus",
    "pyarrow",
    "safetensors",
    "scipy",
    "dp_accounting",
    "starlette",
    "uvicorn",
)

_DEVICE = """
import sys
import numpy as np
from veil.aggregation.config import ConsortiumConfig, DpConfig
from veil.aggregation.report import Report
from veil.crypto.hpke_keys import X25519Identity
from veil.crypto.signing import Ed25519Identity
from veil.edge import EdgeDevice, LocalSGD, SmallMLP

model = SmallMLP(10, 8, 3)
key = Ed25519Identity.generate()
cfg = ConsortiumConfig(
    task_id=bytes(32), dimension=model.size, clip_norm=1.0, max_weight=1,
    leader_hpke=X25519Identity.generate().recipient(),
    leader_signing=Ed25519Identity.generate().recipient(),
    helper_hpke=X25519Identity.generate().recipient(),
    helper_endpoint="http://127.0.0.1:1", clients={"phone": key.recipient()},
    dp=DpConfig(noise_multiplier=1.0),
)
rng = np.random.default_rng(0)
x = rng.normal(size=(40, 10))
device = EdgeDevice("phone", key, x, (x[:, 0] > 0).astype(int), model)
report = Report.decode(device.report(0, model.init(0), cfg, LocalSGD()))
assert report.metadata.client_id == "phone"
print(" ".join(sorted({m.split(".")[0] for m in sys.modules})))
"""


def _python(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=120, cwd=REPO, env=env
    )


def test_a_device_round_loads_no_fl_or_server_library():
    proc = _python("-c", _DEVICE)
    assert proc.returncode == 0, proc.stderr[-2000:]
    loaded = set(proc.stdout.split())
    assert {"veil", "numpy", "cryptography"} <= loaded, "the module list was not read"
    assert not loaded & set(FORBIDDEN), f"a device loaded {sorted(loaded & set(FORBIDDEN))}"


def test_import_veil_edge_alone_loads_not_even_numpy():
    """The package's names load on first use: importing it is free."""
    proc = _python("-c", "import sys, veil.edge; print(' '.join(sys.modules))")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "veil.edge" in proc.stdout.split()
    assert "numpy" not in proc.stdout.split()


def _requirement_name(req: str) -> str:
    """``psycopg[binary]>=3.1`` -> ``psycopg`` (PEP 508 name, normalised)."""
    for stop in "[<>=!~ ;":
        req = req.split(stop, 1)[0]
    return req.strip().lower().replace("_", "-")


def test_core_dependencies_leave_out_fl_and_server_libraries():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    core = {_requirement_name(r) for r in project["dependencies"]}
    assert {"cryptography", "numpy", "rbcl", "pycryptodome", "numba"} <= core
    heavy = {"torch", "flwr", "pandas", "matplotlib", "scikit-learn", "opacus", "dp-accounting"}
    assert not core & heavy, f"core dependencies pull {sorted(core & heavy)}"
    extras = project["optional-dependencies"]
    assert {"edge", "aggregator", "fl", "all"} <= set(extras)
    assert {"torch", "flwr", "pandas", "matplotlib"} <= {_requirement_name(r) for r in extras["fl"]}
