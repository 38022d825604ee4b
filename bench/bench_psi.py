"""Entity alignment by PSI (``veil.vertical.align``): what aligning n × n customers costs, per
PSI backend.

One label party and one host, in this process but over the real channel (every message
encoded, sealed to the receiver and signed, then opened), each with n IDs of which half are
shared (the host spells them in capitals, so normalisation is exercised too). Backends:

* ``openmined``: openmined-psi's ECDH-PSI over P-256, in this process (both parties' work one
  after the other, so ``seconds`` is the sum of guest and host CPU);
* ``spu/RR22`` (and ``spu/KKRT``, ``spu/ECDH`` = Curve25519): SecretFlow spu 0.9.5 in two worker
  processes of the PSI venv (``scripts/psi-venv.sh``), one per party, over spu's TLS link on
  loopback; they run at the same time, sharing the machine's 2 cores.

Per row:

* ``seconds``: wall time of :func:`~veil.vertical.align.align` as the label party sees it —
  for spu that includes both workers' process start (interpreter, spu's libraries), the
  link's set-up and TLS handshake, writing and reading the ID files, and ``psi.result``;
* ``phases``: the guest's wall seconds per step (openmined: ``digest`` normalise + hash,
  ``request`` blind the guest's IDs, ``setup`` the host encrypts its IDs, ``response`` the host
  re-encrypts the guest's, ``intersect`` unblind and compare, ``result`` the host maps the
  aligned digests to its rows; spu: ``spu_start`` the host starts its worker, ``spu`` the
  guest's worker from start to exit, ``spu_*`` that worker's own phases — ``import``,
  ``read`` its input, ``table`` spu's CSV, ``link_wait``, ``psi`` spu's ``psi_execute``,
  ``output`` — and ``result``);
* ``guest_worker`` / ``host_worker`` (spu): each worker's phases and peak RSS (VmHWM);
* ``bytes_guest_to_host`` / ``bytes_host_to_guest``: sealed message bytes each way over veil's
  channel (for spu the PSI itself travels over spu's link, not counted here);
* ``items_per_s``: (guest IDs + host IDs) / seconds;
* ``peak_rss_mib``: this process's peak RSS after the row (rows run smallest size first).

Every run is checked exact: the intersection is the n/2 expected rows, no more, no fewer, and
the host's rows match the guest's. Run: ``python -m bench psi``; ``VEIL_BENCH_QUICK=1`` for a
smoke test. ``VEIL_BENCH_PSI_REUSE=openmined:1000000`` keeps that row from the committed result
instead of re-running it (5+ minutes), marked ``"reused_from"`` with its date; spu rows are
skipped, with a note, when the PSI venv is absent.
"""

from __future__ import annotations

import json
import os
import resource
import time

import numpy as np
import private_set_intersection.python as psi

from bench.common import RESULTS, quick, write_result
from veil.vertical import psi_spu
from veil.vertical.align import PsiHost, align
from veil.vertical.channel import HostData
from veil.vertical.local import in_process

SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (1_000, 4_000)
#: (backend, spu protocol, sizes it runs at): the fallback protocols at the larger sizes only
BACKENDS = (
    ("openmined", None, SIZES),
    ("spu", "RR22", SIZES),
    ("spu", "KKRT", SIZES[1:]),
    ("spu", "ECDH", SIZES[1:]),
)
QUICK_BACKENDS = (("openmined", None, QUICK_SIZES), ("spu", "RR22", QUICK_SIZES))


def tables(n: int) -> tuple[list[str], HostData]:
    """n guest IDs and n host IDs, overlapping in n/2 (the host's in another case)."""
    guest = [f"cust-{i:09d}" for i in range(n)]
    host_ids = [f"CUST-{i:09d}" for i in range(n // 2, n + n // 2)]
    return guest, HostData("host", host_ids, np.zeros((n, 1)), ["f"])


def label(backend: str, protocol: str | None) -> str:
    return backend if protocol is None else f"{backend}/{protocol}"


def measure(n: int, backend: str, protocol: str | None) -> dict:
    guest, host = tables(n)
    roles: list[PsiHost] = []

    def role(data: HostData) -> PsiHost:
        roles.append(PsiHost(data))
        return roles[-1]

    channel, _ = in_process([host], {"psi": role})
    kwargs = {} if protocol is None else {"backend": backend, "spu_protocol": protocol}
    start = time.perf_counter()
    result = align(channel, guest, **kwargs)
    seconds = time.perf_counter() - start
    expected = np.arange(n // 2, n)
    if result.size != n // 2 or not np.array_equal(np.sort(result.guest_rows), expected):
        raise AssertionError(f"PSI ({label(backend, protocol)}) at {n} is not exact")
    assert host.aligned is not None
    if not np.array_equal(host.aligned, result.guest_rows - n // 2):
        raise AssertionError(f"host rows at {n} do not match the guest's")
    row = {
        "backend": label(backend, protocol),
        "guest_ids": n,
        "host_ids": n,
        "intersection": result.size,
        "exact": True,
        "seconds": round(seconds, 2),
        "phases": {k: round(v, 2) for k, v in result.phases.items()},
    }
    if protocol is not None:
        row["guest_worker"] = _worker(result.spu_reports["host"])
        row["host_worker"] = _worker(roles[0].spu_report)
    return {
        **row,
        "bytes_guest_to_host": result.bytes_sent,
        "bytes_host_to_guest": result.bytes_received,
        "bytes_per_guest_id": round(result.bytes_sent / n, 1),
        "items_per_s": round(2 * n / seconds),
        "messages": channel.traffic.messages,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def _worker(report: dict | None) -> dict:
    assert report is not None
    return {
        "wall_seconds": round(report["wall_seconds"], 2),
        "phases": {k: round(v, 2) for k, v in report["phases"].items()},
        "peak_rss_mib": report.get("peak_rss_mib"),
    }


def _reused(wanted: set[tuple[str, int]]) -> dict[tuple[str, int], dict]:
    """Rows of the committed result to keep instead of re-running (VEIL_BENCH_PSI_REUSE)."""
    if not wanted:
        return {}
    committed = json.loads((RESULTS / "vertical_psi.json").read_text())
    date = committed.get("machine", {}).get("date")
    out = {}
    for row in committed["sizes"]:
        key = (row.get("backend", "openmined"), row["guest_ids"])
        if key in wanted:
            out[key] = {
                "backend": key[0],
                **{k: v for k, v in row.items() if k not in ("backend", "reused_from")},
                "reused_from": row.get("reused_from", date),
            }
    missing = wanted - set(out)
    if missing:
        raise SystemExit(f"VEIL_BENCH_PSI_REUSE: no committed row for {sorted(missing)}")
    return out


def main() -> None:
    wanted = set()
    for item in filter(None, os.environ.get("VEIL_BENCH_PSI_REUSE", "").split(",")):
        name, _, size = item.partition(":")
        wanted.add((name, int(size)))
    reuse = _reused(wanted)
    have_spu = psi_spu.available()
    plan = QUICK_BACKENDS if quick() else BACKENDS
    sizes = sorted({n for _, _, ns in plan for n in ns})
    rows, notes = [], []
    if not have_spu:
        notes.append("spu rows skipped: the PSI venv is absent (scripts/psi-venv.sh)")
    for n in sizes:
        for backend, protocol, ns in plan:
            if n not in ns or (backend == "spu" and not have_spu):
                continue
            key = (label(backend, protocol), n)
            row = reuse[key] if key in reuse else measure(n, backend, protocol)
            rows.append(row)
            print(
                f"{row['backend']:<10} {n:>9} × {n:<9} {row['seconds']:8.2f} s  "
                f"{row['items_per_s']:>8} items/s  {row['phases']}"
                + ("  (reused)" if key in reuse else ""),
                flush=True,
            )
    path = write_result(
        "vertical_psi",
        {
            "bench": "vertical_psi",
            "library": {
                "openmined": f"openmined-psi {psi.__version__} (ECDH-PSI, P-256, RAW setup)",
                "spu": "SecretFlow spu 0.9.5 (spu.psi.psi_execute: RR22, KKRT, ECDH over "
                "Curve25519), one worker process per party in the PSI venv, TLS link",
            },
            "setting": "one guest, one host, in-process over sealed messages; half overlap; "
            "spu workers are two processes on the same 2 cores",
            "notes": notes,
            "sizes": rows,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
