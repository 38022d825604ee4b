"""The Helper under load on loopback: one round of many reports, sent by the Leader in batches.

A real Helper process on 127.0.0.1 (the same starlette app and ``HelperCore`` as
``veil helper serve``, with a timer around each report's verification and one extra
loopback-only route that hands the timings back) and the real Leader over ``HttpHelper``.
Recorded: per-report verification latency at the Helper (p50 / p99 / max), per-batch round trip
at the Leader, throughput, and the Helper's peak RSS (``VmHWM`` from /proc). Bounded: a fixed
number of reports and a time budget per setting, after which the Leader stops sending.

``python -m bench helper_load`` (``VEIL_BENCH_QUICK=1``: 100 reports, d = 100;
``VEIL_BENCH_LARGE=1`` adds 1,000 reports at d = 10,000).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import quick, write_result
from veil.aggregation.process import HelperProcess, free_port
from veil.aggregation.testing import make_consortium
from veil.errors import ProtocolError


def settings() -> list[dict]:
    if quick():
        return [{"reports": 100, "dimension": 100, "batch": 32, "budget_s": 120}]
    out = [{"reports": 1000, "dimension": 1000, "batch": 32, "budget_s": 300}]
    if os.environ.get("VEIL_BENCH_LARGE") == "1":
        out.append({"reports": 1000, "dimension": 10_000, "batch": 32, "budget_s": 900})
    return out


# ----- the instrumented Helper (child process) -------------------------------------------------
def serve_timed(identity: str, config: str, port: int, state: str) -> None:
    """``veil helper serve`` plus a per-report timer and ``GET /bench/timings`` (loopback)."""
    import uvicorn
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from veil.aggregation.aggregator import HelperCore
    from veil.aggregation.cli import load_helper_identity
    from veil.aggregation.config import ConsortiumConfig
    from veil.aggregation.service import create_app
    from veil.aggregation.state_url import open_store
    from veil.aggregation.verify_pool import VerifyPool

    per_report: list[float] = []
    per_request: list[float] = []

    class TimedPool(VerifyPool):
        """Verifies in the server's thread (one worker), timing each report's verification."""

        def helper_verify(self, jobs):
            out = []
            for job in jobs:
                t = time.perf_counter()
                out += super().helper_verify([job])
                per_report.append(time.perf_counter() - t)
            return out

    class TimedCore(HelperCore):
        def __init__(self, *args) -> None:
            super().__init__(*args, workers=1)
            self.pool = TimedPool(self.cfg, self.identity, self.vdafs, 1)

        def handle_verify(self, body: bytes) -> bytes:
            t = time.perf_counter()
            try:
                return super().handle_verify(body)
            finally:
                per_request.append(time.perf_counter() - t)

    cfg = ConsortiumConfig.load(config)
    ident = load_helper_identity(Path(identity))
    app = create_app(TimedCore(cfg, ident, open_store(state, ident)))

    async def timings(request):
        return JSONResponse({"per_report_s": per_report, "per_request_s": per_request})

    app.router.routes.append(Route("/bench/timings", timings, methods=["GET"]))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


class TimedHelperProcess(HelperProcess):
    def command(self, ident: Path, cfg: Path) -> list[str]:
        return [sys.executable, str(Path(__file__).resolve()), "--serve", str(ident), str(cfg),
                str(self.port), self.state]  # fmt: skip


def peak_rss_mib(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) of a process in MiB, from /proc/PID/status."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return round(fields["VmRSS"], 1), round(fields["VmHWM"], 1)


# ----- the Leader side -------------------------------------------------------------------------
class BoundedTimedHttp:
    """The Leader's HttpHelper with a deadline and a round-trip timer per request."""

    def __init__(self, http, deadline: float) -> None:
        self.http, self.deadline = http, deadline
        self.verify_rtt: list[float] = []
        self.collect_s = 0.0

    def _check(self) -> None:
        if time.monotonic() > self.deadline:
            raise ProtocolError("load test stopped: over its time budget")

    def verify(self, body: bytes) -> bytes:
        self._check()
        t = time.perf_counter()
        out = self.http.verify(body)
        self.verify_rtt.append(time.perf_counter() - t)
        return out

    def collect(self, body: bytes) -> bytes:
        self._check()
        t = time.perf_counter()
        out = self.http.collect(body)
        self.collect_s = time.perf_counter() - t
        return out


def _pct(xs: list[float], q: float) -> float:
    return round(float(np.percentile(np.asarray(xs), q)) * 1e3, 3)


def run(reports: int, dimension: int, batch: int, budget_s: float) -> dict:
    import httpx

    from veil.aggregation.leader import VerifiedAggregator
    from veil.aggregation.transport import HttpHelper

    port = free_port()
    rng = np.random.default_rng(0)
    updates = rng.normal(size=(reports, dimension)) * (0.5 / np.sqrt(dimension))
    weights = rng.integers(1, 100, size=reports)
    con = make_consortium(
        n_clients=reports, dimension=dimension, max_batch=batch,
        helper_endpoint=f"http://127.0.0.1:{port}",
        denominator=float(weights.sum()),  # D = this round's Σw: the weighted mean
    )  # fmt: skip
    t0 = time.perf_counter()
    built = [
        con.builder(f"c{i}").build(0, updates[i], int(weights[i])).encode() for i in range(reports)
    ]
    build_s = time.perf_counter() - t0
    with (
        tempfile.TemporaryDirectory() as tmp,
        TimedHelperProcess(Path(tmp), con.cfg, con.helper_hpke, port) as hp,
    ):
        idle_rss, _ = peak_rss_mib(hp.proc.pid)
        http = HttpHelper(
            con.cfg.helper_endpoint, con.cfg.task_id, con.leader_signing, helper=con.cfg.helper_hpke
        )
        bounded = BoundedTimedHttp(http, time.monotonic() + budget_s)
        leader = VerifiedAggregator(con.cfg, con.leader_hpke, bounded)
        t0 = time.perf_counter()
        res = leader.aggregate_round(0, built)
        round_s = time.perf_counter() - t0
        rss, peak = peak_rss_mib(hp.proc.pid)
        timings = httpx.get(f"{con.cfg.helper_endpoint}/bench/timings", timeout=30).json()
        http.close()
    per_report = timings["per_report_s"]
    want = (weights[:, None] * updates).sum(0) / weights.sum()
    err = float(np.max(np.abs(res.aggregate - want)))
    if len(res.accepted) != reports or err > 1e-3:
        raise RuntimeError(f"load round wrong: {len(res.accepted)} accepted, max error {err}")
    verify_wall = sum(bounded.verify_rtt)
    return {
        "reports": reports,
        "dimension": dimension,
        "batch": batch,
        "batches": len(bounded.verify_rtt),
        "accepted": len(res.accepted),
        "client_build_s": round(build_s, 2),
        "round_s": round(round_s, 2),
        "leader_prepare_s": round(res.timings["leader_prepare_s"], 2),
        "helper_verify_ms": {
            "p50": _pct(per_report, 50),
            "p99": _pct(per_report, 99),
            "max": round(max(per_report) * 1e3, 3),
            "mean": round(float(np.mean(per_report)) * 1e3, 3),
            "n": len(per_report),
        },
        "batch_rtt_ms": {"p50": _pct(bounded.verify_rtt, 50), "p99": _pct(bounded.verify_rtt, 99)},
        "helper_handler_s_total": round(sum(timings["per_request_s"]), 2),
        "helper_reports_per_s": round(reports / sum(timings["per_request_s"]), 1),
        "verify_phase_reports_per_s": round(reports / verify_wall, 1),
        "round_reports_per_s": round(reports / round_s, 1),
        "collect_s": round(bounded.collect_s, 3),
        "helper_rss_mib": {"idle": idle_rss, "after": rss, "peak": peak},
        "http_bytes": res.helper_bytes,
        "max_abs_error_vs_float_mean": err,
    }


def main() -> None:
    rows = []
    for s in settings():
        row = run(**s)
        rows.append(row)
        print(json.dumps(row))
    path = write_result("helper_load", {"rows": rows})
    print(f"wrote {path}")


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--serve":
        serve_timed(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    else:
        main()
