"""Start-up of the command line: ``veil --help`` and ``veil seal --help``, against a bare
``python -c pass`` measured in the same run (the machine is shared, so the ratio is the
figure to compare across runs).

Writes bench/results/startup.json: median wall seconds over the runs, and the seconds spent
importing (``-X importtime``: the sum of the top-level imports' cumulative times).
Targets (issue 18.1): ``veil --help`` ≤ 0.3 s wall, ``veil seal --help`` ≤ 0.15 s importing.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

from bench.common import quick, write_result

CASES = {
    "python_pass": ["-c", "pass"],
    "veil_help": ["-m", "veil", "--help"],
    "veil_seal_help": ["-m", "veil", "seal", "--help"],
}


def import_seconds(stderr: str) -> float:
    """Sum of the depth-0 cumulative times in ``-X importtime`` output, in seconds."""
    total = 0
    for line in stderr.splitlines():
        parts = line.split("|")
        if not line.startswith("import time:") or len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        if not parts[2].startswith("  "):  # one space, then two more per nesting level
            total += int(parts[1])
    return total / 1e6


def _once(args: list[str]) -> tuple[float, float]:
    """(wall seconds, import seconds) of one run; the wall time is of a run without -X."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, *args], capture_output=True, check=True)
    wall = time.perf_counter() - t0
    err = subprocess.run(
        [sys.executable, "-X", "importtime", *args], capture_output=True, text=True, check=True
    ).stderr
    return wall, import_seconds(err)


def measure(runs: int) -> dict[str, dict]:
    """Median of ``runs`` interleaved runs of every case (interleaved: load spikes hit all)."""
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in CASES}
    for _ in range(runs):
        for name, args in CASES.items():
            samples[name].append(_once(args))
    rows = {}
    for name, pairs in samples.items():
        walls, imports = [w for w, _ in pairs], [i for _, i in pairs]
        rows[name] = {
            "argv": ["python", *CASES[name]],
            "wall_s": round(statistics.median(walls), 4),
            "import_s": round(statistics.median(imports), 4),
            "all_wall_s": [round(w, 4) for w in walls],
        }
    base = rows["python_pass"]["wall_s"]
    for name in ("veil_help", "veil_seal_help"):
        rows[name]["wall_ratio_to_python"] = round(rows[name]["wall_s"] / base, 2)
    return rows


def main() -> None:
    runs = 3 if quick() else 11
    rows = measure(runs)
    path = write_result(
        "startup",
        {
            "runs": runs,
            "targets": {"veil_help_wall_s": 0.3, "veil_seal_help_import_s": 0.15},
            "rows": rows,
        },
    )
    for name, r in rows.items():
        ratio = r.get("wall_ratio_to_python")
        print(
            f"{name:16} wall {r['wall_s'] * 1000:6.1f} ms  imports {r['import_s'] * 1000:6.1f} ms"
            + (f"  ({ratio}× python -c pass)" if ratio else "")
        )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
