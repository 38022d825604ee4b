"""Prio3SumVec per-report cost (shard, both Aggregators' verification, aggregation).

Writes ``bench/results/vdaf.json``. Baselines:

* the anchors of issue 4 — the draft's own Python reference implementation on this
  kind of machine: 1.1 s shard / 0.62 s verify at length 1,000, 55 s / 16 s at 10,000
  (targets: ≥ 100× faster at 10,000, i.e. shard ≤ 0.55 s, verify ≤ 0.16 s);
* measured in the same run: one Field128 product with numpy object arrays of Python
  ints (the obvious numpy route) against veil's compiled kernel, and the NTT of a
  SumVec-sized wire matrix both ways.

``VEIL_BENCH_QUICK=1`` shrinks everything to a smoke test; ``VEIL_BENCH_RESULTS`` overrides
the output folder.
"""

from __future__ import annotations

import json
import math
import os
import platform
import secrets
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ANCHORS = {  # length: (shard s, verify s) of the draft's reference implementation
    1_000: (1.1, 0.62),
    10_000: (55.0, 16.0),
}
TARGETS = {10_000: (0.55, 0.16)}
MAX_MEASUREMENT = 255


def _chunk_length(length: int) -> int:
    """≈ sqrt(MEAS_LEN), the draft's suggestion (§7.4.3) that balances proof size."""
    bits = MAX_MEASUREMENT.bit_length()
    return max(1, math.isqrt(length * bits))


def _time(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_sumvec(length: int, reps: int) -> dict:
    from veil.vdaf.prio3 import Prio3SumVec

    chunk = _chunk_length(length)
    vdaf = Prio3SumVec(2, length, MAX_MEASUREMENT, chunk)
    ctx, vk = b"veil bench", secrets.token_bytes(32)
    rng = np.random.default_rng(length)
    meas = rng.integers(0, MAX_MEASUREMENT + 1, length)
    nonce, rand = secrets.token_bytes(16), secrets.token_bytes(vdaf.RAND_SIZE)
    vdaf.shard(ctx, meas, nonce, rand)  # warm caches (twiddles, compiled kernels)

    state: dict = {}

    def shard() -> None:
        state["pub"], state["shares"] = vdaf.shard(ctx, meas, nonce, rand)

    def verify() -> None:
        inits = [
            vdaf.verify_init(vk, ctx, j, None, nonce, state["pub"], state["shares"][j])
            for j in range(2)
        ]
        msg = vdaf.verifier_shares_to_message(ctx, None, [s for _, s in inits])
        state["outs"] = [vdaf.verify_next(ctx, st, msg) for st, _ in inits]

    def aggregate() -> None:
        aggs = [vdaf.agg_update(None, vdaf.agg_init(None), o) for o in state["outs"]]
        state["result"] = vdaf.unshard(None, aggs, 1)

    t_shard = _time(shard, reps)
    t_verify = _time(verify, reps)
    t_agg = _time(aggregate, reps)
    assert state["result"] == [int(x) for x in meas], "benchmark result is wrong"
    upload = len(vdaf.encode_public_share(state["pub"])) + sum(
        len(vdaf.encode_input_share(s)) for s in state["shares"]
    )
    row = {
        "length": length,
        "chunk_length": chunk,
        "shard_s": t_shard,
        "verify_both_s": t_verify,
        "aggregate_both_s": t_agg,
        "upload_bytes": upload,
    }
    if length in ANCHORS:
        a_shard, a_verify = ANCHORS[length]
        row["anchor_shard_s"], row["anchor_verify_s"] = a_shard, a_verify
        row["speedup_shard"] = a_shard / t_shard
        row["speedup_verify"] = a_verify / t_verify
    if length in TARGETS:
        row["target_shard_s"], row["target_verify_s"] = TARGETS[length]
        row["meets_target"] = t_shard <= TARGETS[length][0] and t_verify <= TARGETS[length][1]
    return row


def bench_field(quick: bool) -> dict:
    """Same-run baseline: numpy object arrays vs veil's kernels (Field128)."""
    from veil.vdaf.field import Field128 as F

    n = 20_000 if quick else 300_000
    rows, size = (64, 256) if quick else (566, 512)  # SumVec length 10,000 wire matrix
    p = F.MODULUS
    rng = np.random.default_rng(1)
    ints = [int.from_bytes(rng.bytes(16), "little") % p for _ in range(max(n, rows * size))]
    a_obj = np.array(ints[:n], dtype=object)
    b_obj = a_obj[::-1].copy()
    a, b = F.vec(ints[:n]), F.vec(ints[:n][::-1])
    F.mul(a[:4], b[:4])
    t_obj = _time(lambda: (a_obj * b_obj) % p, 3) / n
    t_veil = _time(lambda: F.mul(a, b), 3) / n
    assert F.to_ints(F.mul(a[:50], b[:50])) == list((a_obj[:50] * b_obj[:50]) % p)

    mat = F.vec(ints[: rows * size]).reshape((rows, size, 2))
    F.ntt(mat[:1], size)
    t_ntt = _time(lambda: F.ntt(mat, size), 3)
    obj = np.array(ints[: rows * size], dtype=object).reshape(rows, size)
    w = F.root(size)

    def obj_ntt() -> None:  # the same radix-2 NTT on object arrays, one row batch
        x = obj[:, _bitrev(size)]
        half = 1
        while half < size:
            tw = np.array([pow(w, (size // (2 * half)) * j, p) for j in range(half)], dtype=object)
            blocks = x.reshape(rows, size // (2 * half), 2, half)
            u, v = blocks[:, :, 0], (blocks[:, :, 1] * tw) % p
            x = np.stack([(u + v) % p, (u - v) % p], axis=2).reshape(rows, size)
            half *= 2

    t_obj_ntt = _time(obj_ntt, 1)
    return {
        "field128_mul_ns_object_arrays": t_obj * 1e9,
        "field128_mul_ns_veil": t_veil * 1e9,
        "mul_ratio": t_obj / t_veil,
        "ntt_shape": [rows, size],
        "ntt_s_object_arrays": t_obj_ntt,
        "ntt_s_veil": t_ntt,
        "ntt_ratio": t_obj_ntt / t_ntt,
    }


def _bitrev(n: int) -> np.ndarray:
    bits = n.bit_length() - 1
    return np.array([int(f"{i:0{bits}b}"[::-1], 2) for i in range(n)])


def main() -> None:
    quick = os.environ.get("VEIL_BENCH_QUICK") == "1"
    lengths = [100, 1_000] if quick else [1_000, 10_000, 100_000]
    rows = []
    for length in lengths:
        reps = 1 if quick or length >= 100_000 else 3
        rows.append(bench_sumvec(length, reps))
    field = bench_field(quick)
    result = {
        "benchmark": "Prio3SumVec per report (max_measurement 255, 2 Aggregators, one core)",
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "anchor": "draft-irtf-cfrg-vdaf reference implementation (issue 4 figures)",
        "sumvec": rows,
        "field_baseline_same_run": field,
    }
    print("Prio3SumVec (max 255, 2 aggregators)  shard      verify(both)  aggregate  upload")
    for r in rows:
        extra = ""
        if "speedup_shard" in r:
            extra = f"  ({r['speedup_shard']:.0f}x / {r['speedup_verify']:.0f}x vs reference)"
        print(
            f"  length {r['length']:>7,}  chunk {r['chunk_length']:>4}  {r['shard_s']:8.3f} s"
            f"  {r['verify_both_s']:8.3f} s  {r['aggregate_both_s'] * 1e3:7.2f} ms"
            f"  {r['upload_bytes']:>10,} B{extra}"
        )
    print(
        f"Field128 product: {field['field128_mul_ns_object_arrays']:.0f} ns (numpy objects)"
        f" vs {field['field128_mul_ns_veil']:.0f} ns (veil), NTT {field['ntt_shape']}:"
        f" {field['ntt_s_object_arrays']:.3f} s vs {field['ntt_s_veil']:.4f} s"
    )
    out = Path(os.environ.get("VEIL_BENCH_RESULTS") or Path(__file__).resolve().parent / "results")
    out.mkdir(parents=True, exist_ok=True)
    (out / "vdaf.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
