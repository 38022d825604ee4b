"""The README's quality table: federated vs pooled centralised vs best single institution,
finance and medical, IID / Dirichlet(0.5) / Dirichlet(1.0), seeds 0-2, every institution
taking part. Writes bench/results/fl_quality.json. Run: ``python -m bench.quality_fl``
(about three minutes on 2 cores; not part of ``make bench``).
"""

from __future__ import annotations

import statistics

from bench.common import quick, write_result

PARTITIONS = ("iid", "dirichlet:0.5", "dirichlet:1.0")


def main() -> None:
    from veil.scenarios import consortium, finance, medical

    seeds = (0,) if quick() else (0, 1, 2)
    rows = []
    for spec in (finance.SPEC, medical.SPEC):
        for part in PARTITIONS:
            runs = [
                consortium.measure(spec, partition=part, seed=s, rounds=5 if quick() else None)
                for s in seeds
            ]
            row = {"scenario": spec.name, "partition": part, "seeds": list(seeds), "runs": runs}
            for who in ("federated", "centralized"):
                for m in ("accuracy", "auc"):
                    row[f"{who}_{m}"] = statistics.mean(r[who][m] for r in runs)
            for m in ("accuracy", "auc"):
                row[f"best_local_{m}"] = statistics.mean(
                    max(v[m] for v in r["local_only"].values()) for r in runs
                )
                row[f"max_gap_{m}"] = max(r["centralized"][m] - r["federated"][m] for r in runs)
            rows.append(row)
            print(
                f"{spec.name:8} {part:14} fed acc {row['federated_accuracy']:.4f} "
                f"auc {row['federated_auc']:.4f} | central acc {row['centralized_accuracy']:.4f} "
                f"auc {row['centralized_auc']:.4f} | best alone acc "
                f"{row['best_local_accuracy']:.4f} auc {row['best_local_auc']:.4f} | worst gap "
                f"acc {row['max_gap_accuracy']:+.4f} auc {row['max_gap_auc']:+.4f}",
                flush=True,
            )
    print(f"wrote {write_result('fl_quality', {'rows': rows})}")


if __name__ == "__main__":
    main()
