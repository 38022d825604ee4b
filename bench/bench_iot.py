"""Cross-device accuracy against privacy: ``veil demo iot`` (the real verified path, Helper
process and all) for several fleet sizes N, sampling rates q and budgets ε, each with the same
run without DP as its baseline (docs/dp.md, *Cross-device*). 30 rounds each; quick mode: one
small run.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import quick, write_result

#: (devices N or None for all, devices asked per round, target ε (amplified), target ε per
#: participation against one Aggregator or None); the last row is the demo's default
GRID = [
    (3_000, 100, 8.0, None),
    (3_000, 250, 8.0, None),
    (10_000, 250, 8.0, None),
    (None, 250, 8.0, None),
    (None, 250, 1.0, None),
    (None, 500, 8.0, None),
    (None, 250, 8.0, 8.0),
]
QUICK_GRID = [(400, 60, 8.0, 8.0)]


def main() -> None:
    from rich.console import Console

    from veil.scenarios import iot

    logging.getLogger("absl").setLevel(logging.ERROR)
    rows = []
    for devices, per_round, eps, per_participation in QUICK_GRID if quick() else GRID:
        settings = replace(
            iot.IotSettings(), per_round=per_round, target_epsilon=eps,
            participation_epsilon=per_participation,
        )  # fmt: skip
        if quick():
            settings = replace(settings, min_reports=10)
        with tempfile.TemporaryDirectory(prefix="veil-bench-iot-") as tmp:
            t = time.perf_counter()
            rep = iot.run(
                out=Path(tmp), rounds=3 if quick() else 30, devices=devices, settings=settings,
                console=Console(quiet=True),
            )  # fmt: skip
            seconds = time.perf_counter() - t
        p = rep["privacy"]
        row = {
            "devices": rep["devices"],
            "sampling_rate": p["sampling_rate"],
            "per_round": per_round,
            "target_epsilon": eps,
            "target_epsilon_per_participation": per_participation,
            "epsilon": p["epsilon"],
            "epsilon_one_aggregator": p["epsilon_one_aggregator"],
            "epsilon_per_participation_one_aggregator": p.get(
                "epsilon_per_participation_one_aggregator"
            ),
            "delta": p["delta"],
            "noise_multiplier": p["noise_multiplier"],
            "accuracy": rep["final"]["accuracy"],
            "auc": rep["final"]["auc"],
            "accuracy_non_private": rep["baselines"]["non_private"]["accuracy"],
            "auc_non_private": rep["baselines"]["non_private"].get("auc"),
            "accuracy_pooled": rep["baselines"]["centralized"]["accuracy"],
            "rejected": sum(len(r["rejected"]) for r in rep["rounds"]),
            "mean_round_s": rep["timing"]["mean_round_s"],
            "seconds": seconds,
        }
        rows.append(row)
        print(
            f"N={row['devices']:>6} q={row['sampling_rate']:.4f} ε={row['epsilon']:.2f} "
            f"(z={row['noise_multiplier']:.3f}): accuracy {row['accuracy']:.4f} vs "
            f"{row['accuracy_non_private']:.4f} without DP; {seconds:.0f} s"
        )
    path = write_result(
        "iot", {"bench": "iot", "rows": rows, "baseline": "the same run without DP, same run"}
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
