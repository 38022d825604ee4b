"""Entity alignment by PSI (``veil.vertical.align``): what aligning n × n customers costs.

One label party and one host, in this process but over the real channel (every message
encoded, sealed to the receiver and signed, then opened), each with n IDs of which half are
shared (the host spells them in capitals, so normalisation is exercised too). Per size:

* ``seconds``: wall time of :func:`~veil.vertical.align.align` (both parties' work: they
  share this process, one after the other, so it is the sum of guest and host CPU);
* ``phases``: the guest's wall seconds per step (``digest`` normalise + hash, ``request``
  blind the guest's IDs, ``setup`` the host encrypts its IDs, ``response`` the host
  re-encrypts the guest's, ``intersect`` unblind and compare, ``result`` the host maps the
  aligned digests to its rows);
* ``bytes_guest_to_host`` / ``bytes_host_to_guest``: sealed message bytes each way;
* ``items_per_s``: (guest IDs + host IDs) / seconds;
* ``peak_rss_mib``: this process's peak RSS after the size (sizes run smallest first).

Every run is checked exact: the intersection is the n/2 expected rows, no more, no fewer.
Run: ``python -m bench psi``; ``VEIL_BENCH_QUICK=1`` for a smoke test.
"""

from __future__ import annotations

import resource
import time

import numpy as np
import private_set_intersection.python as psi

from bench.common import quick, write_result
from veil.vertical.align import PsiHost, align
from veil.vertical.channel import HostData
from veil.vertical.local import in_process

SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (1_000, 4_000)


def tables(n: int) -> tuple[list[str], HostData]:
    """n guest IDs and n host IDs, overlapping in n/2 (the host's in another case)."""
    guest = [f"cust-{i:09d}" for i in range(n)]
    host_ids = [f"CUST-{i:09d}" for i in range(n // 2, n + n // 2)]
    return guest, HostData("host", host_ids, np.zeros((n, 1)), ["f"])


def measure(n: int) -> dict:
    guest, host = tables(n)
    channel, _ = in_process([host], {"psi": PsiHost})
    start = time.perf_counter()
    result = align(channel, guest)
    seconds = time.perf_counter() - start
    expected = np.arange(n // 2, n)
    if result.size != n // 2 or not np.array_equal(np.sort(result.guest_rows), expected):
        raise AssertionError(f"PSI at {n} is not exact")
    assert host.aligned is not None
    if not np.array_equal(host.aligned, result.guest_rows - n // 2):
        raise AssertionError(f"host rows at {n} do not match the guest's")
    return {
        "guest_ids": n,
        "host_ids": n,
        "intersection": result.size,
        "exact": True,
        "seconds": round(seconds, 2),
        "phases": {k: round(v, 2) for k, v in result.phases.items()},
        "bytes_guest_to_host": result.bytes_sent,
        "bytes_host_to_guest": result.bytes_received,
        "bytes_per_guest_id": round(result.bytes_sent / n, 1),
        "items_per_s": round(2 * n / seconds),
        "messages": channel.traffic.messages,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    rows = []
    for n in QUICK_SIZES if quick() else SIZES:
        row = measure(n)
        rows.append(row)
        print(
            f"{n:>9} × {n:<9} {row['seconds']:8.2f} s  {row['items_per_s']:>7} items/s  "
            f"→host {row['bytes_guest_to_host'] / 2**20:7.1f} MiB  "
            f"←host {row['bytes_host_to_guest'] / 2**20:7.1f} MiB  {row['phases']}",
            flush=True,
        )
    path = write_result(
        "vertical_psi",
        {
            "bench": "vertical_psi",
            "library": f"openmined-psi {psi.__version__} (ECDH-PSI, P-256, RAW setup)",
            "setting": "one guest, one host, in-process over sealed messages; half overlap",
            "sizes": rows,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
