"""The command line starts light: ``veil --help`` and each command's ``--help`` load typer,
click and rich, never the heavy libraries the commands drive (issue 18.1).

This asserts on *what* is imported (``python -X importtime``), not on seconds: the timings
are measured by ``python -m bench startup`` (docs/benchmarks.md, *Start-up*).
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from bench.bench_startup import import_seconds

#: never needed to print help; each costs from ≈50 ms (cryptography) to seconds (torch)
HEAVY = {
    "Crypto",
    "cryptography",
    "dp_accounting",
    "flwr",
    "httpx",
    "keras",
    "matplotlib",
    "numba",
    "numpy",
    "opacus",
    "pandas",
    "psycopg",
    "pyarrow",
    "rbcl",
    "safetensors",
    "scipy",
    "sklearn",
    "starlette",
    "torch",
    "uvicorn",
}


def imported_packages(stderr: str) -> set[str]:
    """Top-level package names in ``-X importtime`` output (every line names one module)."""
    out = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                out.add(name.split(".")[0])
    return out


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-X", "importtime", *args], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["seal", "--help"],
        ["open", "--help"],
        ["zk", "prove", "--help"],
        ["dev", "vectors", "--help"],
        ["helper", "serve", "--help"],
        ["train", "--help"],
        ["demo", "finance", "--help"],
        ["audit", "verify", "--help"],
    ],
    ids=" ".join,
)
def test_help_loads_nothing_heavy(argv: list[str]) -> None:
    proc = _run("-m", "veil", *argv)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Usage:" in proc.stdout
    loaded = imported_packages(proc.stderr)
    assert {"typer", "veil"} <= loaded, "the importtime output was not read"
    assert not loaded & HEAVY, f"`veil {' '.join(argv)}` imports {sorted(loaded & HEAVY)}"


def test_import_veil_loads_nothing_heavy() -> None:
    """``import veil`` runs before any ``veil.*`` module: its sealing names load on use."""
    proc = _run("-c", "import veil, veil.aggregation, veil.cli")
    assert proc.returncode == 0, proc.stderr[-2000:]
    loaded = imported_packages(proc.stderr)
    assert "veil" in loaded
    assert not loaded & HEAVY, f"import veil.cli imports {sorted(loaded & HEAVY)}"


def test_the_lazy_names_still_load() -> None:
    """``veil.seal`` and ``veil.aggregation.VerifiedAggregator`` resolve on first access."""
    code = (
        "import sys, veil, veil.aggregation as a\n"
        "assert 'cryptography' not in sys.modules\n"
        "from veil import open, seal, generate_identity\n"
        "alice = generate_identity('x25519')\n"
        "assert open(seal(b'x', [alice.recipient()]), [alice]) == b'x'\n"
        "assert a.VerifiedAggregator.__module__ == 'veil.aggregation.leader'\n"
        "assert set(veil.__all__) <= set(dir(veil))\n"
        "try:\n    veil.nope\nexcept AttributeError:\n    pass\nelse:\n    raise SystemExit(1)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_the_reader_sees_a_heavy_import() -> None:
    """Not vacuous: importtime output naming numpy is read as importing numpy."""
    proc = _run("-c", "import numpy")
    assert "numpy" in imported_packages(proc.stderr)


def test_the_startup_benchmark_reads_importtime() -> None:
    """bench/bench_startup.py sums only the depth-0 cumulative times (nested ones are inside)."""
    text = (
        "import time: self [us] | cumulative | imported package\n"
        "import time:       100 |        100 |   click._compat\n"
        "import time:       200 |       3000 | click\n"
        "import time:        50 |       1000 | veil\n"
    )
    assert import_seconds(text) == 0.004
