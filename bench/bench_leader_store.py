"""What crash safety costs: a verified round with the Leader's durable store (SQLite on disk,
``synchronous=FULL``: the verify key, every admitted report id and the collect job fsynced)
against the same round with an in-memory store, in the same run, alternating.

10 clients, an MLP on digits, veil verified aggregation with the Helper process and DP noise
(``bench_fl``'s embedded configuration); the figure is the ratio of median round times.
Output: bench/results/leader_store.json.
"""

from __future__ import annotations

import statistics

from bench.bench_fl import _embedded, _params
from bench.common import quick, write_result


def _in_memory(path, identity):
    from veil.aggregation.store import SqliteStore

    return SqliteStore(":memory:", identity)


def measure(hidden: tuple[int, int], rounds: int, repeats: int) -> dict:
    import veil.aggregation.fl_bridge as bridge

    durable = bridge.SqliteStore
    times: dict[str, list[float]] = {"durable": [], "in_memory": []}
    try:
        for _ in range(repeats):
            for name, store in (("durable", durable), ("in_memory", _in_memory)):
                bridge.SqliteStore = store
                times[name].append(_embedded(hidden, rounds, secure=True)["round_seconds"])
    finally:
        bridge.SqliteStore = durable
    d, m = statistics.median(times["durable"]), statistics.median(times["in_memory"])
    return {
        "parameters": _params(hidden),
        "round_seconds": {k: [round(x, 3) for x in v] for k, v in times.items()},
        "ratio_durable_vs_in_memory": round(d / m, 3),
    }


def main() -> None:
    sizes = [(100, 20)] if quick() else [(1500, 50), (10000, 30)]
    rows = [measure(h, 3 if quick() else 4, 1 if quick() else 2) for h in sizes]
    path = write_result("leader_store", {"clients": 10, "rows": rows})
    for r in rows:
        print(f"{r['parameters']:>9,} parameters: durable / in-memory Leader store = "
              f"{r['ratio_durable_vs_in_memory']:.3f}")  # fmt: skip
    print(f"-> {path}")


if __name__ == "__main__":
    main()
