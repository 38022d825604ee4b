"""Hosts as processes: ``veil party serve`` (starlette + uvicorn) and the label party's client.

One route carries every protocol: ``POST /v1/party`` with a sealed request, answered by the
sealed reply (:meth:`HostParty.respond` never raises, so a malformed or hostile request gets a
typed error reply, never a crashed host). ``GET /v1/health`` says the host is up. Hosts bind
to loopback only in this release (docs/vertical.md, *Processes*).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from veil.aggregation.process import stop_child
from veil.errors import ConfigError, ProtocolError
from veil.vertical.channel import HostParty
from veil.vertical.wire import MAX_MESSAGE_BYTES

#: a sealed message: the body plus the sealed format's header, chunk tags and signature
MAX_BODY = MAX_MESSAGE_BYTES + (1 << 20)
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def create_app(party: HostParty, *, max_body: int = MAX_BODY) -> Starlette:
    async def exchange(request: Request) -> Response:
        declared = request.headers.get("content-length", "")
        if not (declared.isascii() and declared.isdigit()):
            return JSONResponse({"error": "content-length required"}, status_code=411)
        if len(declared) > 12 or int(declared) > max_body:
            return JSONResponse({"error": "request body too large"}, status_code=413)
        body = await request.body()
        if len(body) != int(declared):
            return JSONResponse({"error": "body length differs from content-length"}, 400)
        # CPU-bound HE work: a worker thread keeps the event loop (and /v1/health) responsive
        reply = await run_in_threadpool(party.respond, body)
        return Response(reply, media_type="application/octet-stream")

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "party": party.me.name})

    return Starlette(
        routes=[
            Route("/v1/health", health, methods=["GET"]),
            Route("/v1/party", exchange, methods=["POST"]),
        ]
    )


class HttpTransport:
    """The label party's side of the HTTP exchange; a host that is down is a ProtocolError."""

    def __init__(self, urls: Mapping[str, str], timeout_s: float = 600.0) -> None:
        import httpx  # lazy: httpx (≈90 ms) only when hosts are remote

        self._httpx = httpx
        self.urls = dict(urls)
        self.client = httpx.Client(timeout=timeout_s, trust_env=False)

    def exchange(self, party: str, blob: bytes) -> bytes:
        url = self.urls.get(party)
        if url is None:
            raise ProtocolError(f"no address for party {party!r}")
        try:
            response = self.client.post(f"{url}/v1/party", content=blob)
        except self._httpx.TransportError as exc:
            raise HostUnreachable(
                f"{party} at {url} is unreachable ({type(exc).__name__})"
            ) from exc
        if response.status_code != 200:
            raise ProtocolError(f"{party} answered HTTP {response.status_code}")
        return response.content

    def wait_until_up(self, party: str, timeout_s: float = 60.0) -> None:
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            try:
                if self.client.get(f"{self.urls[party]}/v1/health", timeout=2).status_code == 200:
                    return
            except self._httpx.TransportError:
                pass
            time.sleep(0.1)
        raise HostUnreachable(f"{party} did not come up within {timeout_s:.0f} s")

    def close(self) -> None:
        self.client.close()


class HostUnreachable(ProtocolError):
    """A host did not answer: it crashed, restarts, or the network failed."""


class HostProcess:
    """A ``veil party serve`` child process on 127.0.0.1 (the demo and the tests)."""

    def __init__(self, argv: list[str], port: int, log: Path) -> None:
        self.argv, self.port, self.log = argv, port, log
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        # stdin is a pipe this process holds: when it dies, the child reads EOF and stops
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "veil.cli", "party", "serve", *self.argv,
                 "--port", str(self.port), "--stop-with-parent"],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log,
            )  # fmt: skip

    def kill(self) -> None:
        """SIGKILL: a crash, not a shutdown (the tests' and the demo's fault injection)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None

    def stop(self) -> None:
        stop_child(self.proc)
        self.proc = None


def check_loopback(host: str) -> None:
    if host not in LOOPBACK:
        raise ConfigError("a party binds to loopback only in this release")
