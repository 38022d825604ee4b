"""Start and stop ``veil helper serve`` as a separate process on 127.0.0.1 (demo and tests)."""

from __future__ import annotations

import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

from veil.aggregation.config import ConsortiumConfig
from veil.crypto.hpke_keys import X25519Identity
from veil.crypto.keys import identity_file_text
from veil.crypto.seal import atomic_write
from veil.crypto.signing import Ed25519Identity
from veil.errors import ProtocolError

_HANDED_OUT: set[int] = set()


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A loopback port that is free now, below the kernel's ephemeral range, never handed out twice.

    Asking the kernel for port 0 returns a port from the ephemeral range, which the next
    outgoing connection may take, and may return the same port twice in a row; servers
    started a moment later then fail with "address already in use" (seen in CI).
    """
    low = max(1024, min(_ephemeral_range()[0], 32768) - 12000)
    high = low + 12000
    for _ in range(200):
        port = secrets.choice(range(low, high))
        if port in _HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise ProtocolError(f"no free loopback port in {low}..{high}")


def stop_child(proc: subprocess.Popen | None) -> None:
    """Stop a supervised child: close its stdin (``--stop-with-parent``), SIGTERM, and SIGKILL
    if it has not exited within 10 s."""
    if proc is None:
        return
    if proc.stdin is not None:
        proc.stdin.close()
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def write_private(path: Path, text: str) -> None:
    """Atomically (temporary file, fsync, rename) and readable by the owner only (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, text.encode())


class HelperProcess:
    """A real Helper process; ``start()`` waits until ``/v1/health`` answers.

    ``state`` is a state URL (docs/protocol.md §7); default: ``helper.sqlite`` in ``folder``.
    ``workers``: its verify worker processes (§7.2; None: the child's ``VEIL_VERIFY_WORKERS``).
    """

    def __init__(
        self,
        folder: Path,
        cfg: ConsortiumConfig,
        identity: X25519Identity,
        port: int,
        state: str | None = None,
        signing: Ed25519Identity | None = None,
        workers: int | None = None,
    ) -> None:
        self.folder, self.cfg, self.identity, self.port = Path(folder), cfg, identity, port
        self.workers = workers
        self.signing = signing  # the audit countersigning key, kept in helper.identity
        self.state = state or f"sqlite://{self.folder / 'helper.sqlite'}"
        self.proc: subprocess.Popen | None = None
        self.log = self.folder / "helper.log"

    def start(self, timeout_s: float = 60.0) -> None:
        import httpx  # lazy: httpx (≈90 ms) only to poll a starting Helper

        ident = self.folder / "helper.identity"
        text = identity_file_text(self.identity)
        if self.signing is not None:
            text += self.signing.to_string() + "\n"
        write_private(ident, text)
        cfg = self.folder / "consortium.toml"
        write_private(cfg, self.cfg.to_toml())
        # the child's stderr goes to a file: a pipe nobody reads could fill and block it;
        # its stdin is a pipe this process holds open: when this process dies, however it
        # dies (SIGKILL included), the child reads end-of-file and stops (--stop-with-parent)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                self.command(ident, cfg),
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        deadline = time.time() + timeout_s
        url = f"http://127.0.0.1:{self.port}/v1/health"
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise ProtocolError(f"the Helper exited at start; see {self.log}")
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise ProtocolError(f"the Helper did not answer within {timeout_s} s; see {self.log}")

    def command(self, ident: Path, cfg: Path) -> list[str]:
        """The child's argv (a benchmark may run an instrumented server instead)."""
        return [sys.executable, "-m", "veil.cli", "helper", "serve", "--identity", str(ident),
                "--config", str(cfg), "--host", "127.0.0.1", "--port", str(self.port),
                "--state", self.state, "--stop-with-parent",
                *(["--workers", str(self.workers)] if self.workers else [])]  # fmt: skip

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def restart(self, timeout_s: float = 60.0) -> None:
        """Start the Helper again after it died: same keys, same port, same durable state."""
        self.stop()
        self.start(timeout_s)

    def stop(self) -> None:
        stop_child(self.proc)
        self.proc = None

    def __enter__(self) -> HelperProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
