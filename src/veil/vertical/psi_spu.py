"""PSI by SecretFlow spu (RR22 by default), in worker processes of an isolated virtualenv.

``align(channel, ids, backend="spu")`` (:mod:`veil.vertical.align`) uses this module. spu 0.9.5
pins numpy < 2 and jax ≤ 0.4.34, which cannot share veil's environment (numpy 2), so each party
runs one PSI *worker* (:mod:`veil.vertical.psi_worker`, the standard library and spu only) with
the PSI venv's interpreter (``scripts/psi-venv.sh`` makes ``.venv-psi``). Per host:

1. the guest writes its ID digests (64 hex each, its row order) to a private temporary file and
   picks a loopback port; ``psi.spu_start`` {port, protocol, link_id, cert} → {port, host_rows,
   cert}: the host writes its own digests, starts its worker (the PSI *sender*, rank 1) and
   answers with its port, its set size (the protocol reveals it anyway) and its certificate;
2. the guest starts its worker (the *receiver*, rank 0); the two run spu's protocol directly
   over loopback TCP (spu's brpc link, mutually authenticated TLS: each side's certificate is
   fresh for the run and reached the other sealed and signed in step 1);
3. the guest's worker writes the guest rows the host shares; the guest then sends the usual
   ``psi.result`` (:mod:`veil.vertical.align`), before which the host reaps its worker and
   refuses the result unless its worker finished the protocol.

spu's link is not veil's sealed channel: it is TLS between the two workers, pinned to the
certificates exchanged over the sealed channel; a host refuses a run without one.
The host's worker connects only to the loopback address: both parties' workers must run on one
machine (as in veil's demos and tests), or the operator must carry that port across.

The interpreter: ``$VEIL_PSI_PYTHON``, else ``$VEIL_PSI_VENV/bin/python``, else ``.venv-psi``
at the root of a source checkout. :func:`available` says whether one is there.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from veil.errors import ConfigError, FormatError, ProtocolError
from veil.vertical import wire
from veil.vertical.channel import check_reply

if TYPE_CHECKING:
    from veil.vertical.channel import Channel

#: the worker script, run by path with the PSI venv's interpreter (it imports nothing of veil)
WORKER = Path(__file__).with_name("psi_worker.py")
#: spu's protocols the worker offers; RR22 (VOLE-based, Raghuraman–Rindal 2022) is the default
PROTOCOLS = ("RR22", "KKRT", "ECDH")
#: both workers listen and connect here only
LINK_HOST = "127.0.0.1"
#: a worker taking longer than this is stopped (1M × 1M takes ~10–25 s on 2 cores)
WORKER_SECONDS = 1800.0
#: a worker whose peer has not connected (TLS handshake included) by then gives up
CONNECT_SECONDS = 60.0
_REPO = Path(__file__).resolve().parents[3]


def psi_python() -> Path | None:
    """The PSI venv's interpreter, or None when there is none."""
    if os.environ.get("VEIL_PSI_PYTHON"):
        candidates = [Path(os.environ["VEIL_PSI_PYTHON"])]
    elif os.environ.get("VEIL_PSI_VENV"):
        candidates = [Path(os.environ["VEIL_PSI_VENV"]) / "bin" / "python"]
    else:
        candidates = [_REPO / ".venv-psi" / "bin" / "python"]
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    return None


def available() -> bool:
    """Whether backend ``spu`` can run here (the PSI venv exists; spu imports in it)."""
    python = psi_python()
    if python is None:
        return False
    probe = subprocess.run(
        [str(python), "-c", "import spu.psi"], capture_output=True, timeout=120, check=False
    )
    return probe.returncode == 0


def _require_python() -> Path:
    python = psi_python()
    if python is None:
        raise ConfigError(
            "PSI backend 'spu' needs its virtualenv: run scripts/psi-venv.sh "
            "(or set VEIL_PSI_PYTHON / VEIL_PSI_VENV)"
        )
    return python


def free_port() -> int:
    """A loopback port free right now (the worker binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LINK_HOST, 0))
        return int(probe.getsockname()[1])


def check_port(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1024 <= value <= 65535:
        raise FormatError(f"{what} must be a TCP port in 1024..65535")
    return value


def check_protocol(value: object) -> str:
    if value not in PROTOCOLS:
        raise FormatError(f"PSI protocol must be one of {', '.join(PROTOCOLS)}")
    assert isinstance(value, str)
    return value


def check_link_id(value: object) -> str:
    if not isinstance(value, str) or len(value) != 32 or not set(value) <= set("0123456789abcdef"):
        raise FormatError("link_id must be 32 lowercase hex digits")
    return value


def check_cert(value: object, what: str) -> bytes:
    """A peer's PEM certificate, parsed (so junk fails here, not inside brpc)."""
    if not isinstance(value, bytes) or len(value) > 8192:
        raise FormatError(f"{what} must be a PEM certificate")
    try:
        x509.load_pem_x509_certificate(value)
    except ValueError as exc:
        raise FormatError(f"{what} is not a PEM certificate") from exc
    return value


def _write_tls(folder: Path) -> bytes:
    """A fresh P-256 key and self-signed certificate for this run's link; the certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "veil psi link")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LINK_HOST))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    key_path = folder / "key.pem"
    key_path.touch(mode=0o600)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (folder / "cert.pem").write_bytes(pem)
    return pem


def write_items(path: Path, hex_items: Sequence[str]) -> None:
    """The worker's input: one 64-hex digest per line, in row order."""
    with open(path, "w", encoding="ascii") as handle:
        handle.write("\n".join(hex_items))
        handle.write("\n")


class Worker:
    """One PSI worker process and its private folder (input, TLS files, output)."""

    def __init__(self, hex_items: Sequence[str] | None = None) -> None:
        self.python = _require_python()
        self.folder = Path(tempfile.mkdtemp(prefix="veil-psi-run-"))
        self.input = self.folder / "items.txt"
        self.output = self.folder / "rows.i64"
        if hex_items is not None:
            write_items(self.input, hex_items)
        self.cert = _write_tls(self.folder)  # this run's own certificate (PEM)
        self.process: subprocess.Popen[bytes] | None = None
        self.started = 0.0

    def start(
        self,
        *,
        rank: int,
        ports: tuple[int, int],
        protocol: str,
        link_id: str,
        peer_cert: bytes,
    ) -> None:
        (self.folder / "peer.pem").write_bytes(peer_cert)  # the only certificate it trusts
        command = [
            str(self.python),
            str(WORKER),
            "--rank",
            str(rank),
            "--receiver",
            "0",
            "--parties",
            *(f"{LINK_HOST}:{port}" for port in ports),
            "--input",
            str(self.input),
            "--protocol",
            protocol,
            "--link-id",
            link_id,
            "--connect-seconds",
            str(CONNECT_SECONDS),
            "--tls-dir",
            str(self.folder),
        ]
        if rank == 0:
            command += ["--output", str(self.output)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        self.started = time.perf_counter()
        with (
            open(self.folder / "stdout.log", "wb") as out,
            open(self.folder / "stderr.log", "wb") as err,
        ):
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=self.folder, env=env
            )

    def finish(self, timeout: float = WORKER_SECONDS) -> dict:
        """Wait for the worker; its report (the JSON line), or ProtocolError naming its error."""
        if self.process is None:
            raise ProtocolError("no PSI worker was started")
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise ProtocolError(f"the PSI worker took more than {timeout:.0f} s") from None
        seconds = time.perf_counter() - self.started
        if code != 0:
            reason = (self.folder / "stderr.log").read_text("utf-8", "replace").strip()
            last = reason.splitlines()[-1] if reason else f"exit code {code}"
            raise ProtocolError(f"the PSI worker failed: {last[-300:]}")
        lines = (self.folder / "stdout.log").read_text("utf-8", "replace").splitlines()
        try:
            report = json.loads(lines[-1])
        except (IndexError, ValueError):
            raise ProtocolError("the PSI worker ended without its report") from None
        report["wall_seconds"] = seconds
        return report

    def rows(self, limit: int) -> np.ndarray:
        """The receiver's result: distinct rows in 0..limit-1, ascending."""
        rows = np.fromfile(self.output, dtype="<i8").astype(np.int64)
        if len(rows) and (rows[0] < 0 or rows[-1] >= limit or np.any(np.diff(rows) <= 0)):
            raise ProtocolError("the PSI worker returned rows out of range or repeated")
        return rows

    def stop(self) -> None:
        """Kill the worker if it still runs, and delete the folder."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


# --- the host's side -----------------------------------------------------------------------


class HostRun:
    """``psi.spu_start`` at a host: its worker (the sender) for one run.

    A thread reaps the worker as soon as it exits and deletes its folder, whether or not the
    guest ever sends ``psi.result``; :meth:`finish` then says whether it completed."""

    def __init__(self, hex_items: Sequence[str], fields: Mapping[str, object]) -> None:
        guest_port = check_port(fields.get("port"), "port")
        protocol = check_protocol(fields.get("protocol"))
        link_id = check_link_id(fields.get("link_id"))
        peer_cert = check_cert(fields.get("cert"), "cert")  # the link is always TLS
        self.worker = Worker(hex_items)
        self.port = free_port()
        self.error: ProtocolError | None = None
        #: the worker's own report once it has finished (phases, peak RSS)
        self.report: dict | None = None
        try:
            self.worker.start(
                rank=1,
                ports=(guest_port, self.port),
                protocol=protocol,
                link_id=link_id,
                peer_cert=peer_cert,
            )
        except BaseException:
            self.worker.stop()
            raise
        self._reaper = threading.Thread(target=self._reap, daemon=True)
        self._reaper.start()

    def _reap(self) -> None:
        try:
            self.report = self.worker.finish()
        except ProtocolError as exc:
            self.error = exc
        finally:
            self.worker.stop()

    def reply(self, host_rows: int) -> dict:
        assert self.worker.cert is not None
        return {"port": self.port, "host_rows": host_rows, "cert": self.worker.cert}

    def finish(self, timeout: float = 120.0) -> dict:
        """Wait for the worker (the guest has its result, so it is ending): its report, or
        ProtocolError unless it completed the protocol."""
        self._reaper.join(timeout)
        if self._reaper.is_alive():
            self.abandon()
            raise ProtocolError("this party's PSI worker has not finished")
        if self.error is not None:
            raise self.error
        assert self.report is not None
        return self.report

    def abandon(self) -> None:
        """Stop the worker now (a new run replaces this one)."""
        if self.worker.process is not None and self.worker.process.poll() is None:
            self.worker.process.kill()
        self._reaper.join(30)


# --- the guest's side ----------------------------------------------------------------------


def intersect(
    channel: Channel,
    host: str,
    hex_items: Sequence[str],
    items_file: Path,
    *,
    protocol: str = "RR22",
    phases: dict[str, float],
    reports: dict[str, dict] | None = None,
) -> tuple[np.ndarray, int]:
    """One spu PSI run with ``host``: the guest rows it shares (ascending) and its set size
    (and the guest worker's own report in ``reports[host]``)."""
    check_protocol(protocol)
    worker = Worker(None)
    try:
        worker.input = items_file  # written once for every host
        port, link_id = free_port(), secrets.token_hex(16)
        fields = {"port": port, "protocol": protocol, "link_id": link_id, "cert": worker.cert}
        clock = time.perf_counter()
        reply = channel.call(host, "psi.spu_start", fields)
        phases["spu_start"] = phases.get("spu_start", 0.0) + time.perf_counter() - clock
        check_reply(reply, {"port", "host_rows", "cert"})
        host_port = check_port(reply["port"], f"{host}: port")
        if host_port == port:
            raise FormatError(f"{host}: port is the guest's own")
        host_rows = wire.need(reply, "host_rows", int)
        assert isinstance(host_rows, int)
        if host_rows <= 0:
            raise FormatError(f"{host}: host_rows must be positive")
        peer_cert = check_cert(reply["cert"], f"{host}: cert")
        clock = time.perf_counter()
        worker.start(
            rank=0,
            ports=(port, host_port),
            protocol=protocol,
            link_id=link_id,
            peer_cert=peer_cert,
        )
        report = worker.finish()
        phases["spu"] = phases.get("spu", 0.0) + time.perf_counter() - clock
        for name, seconds in report.get("phases", {}).items():
            key = f"spu_{name}"
            phases[key] = phases.get(key, 0.0) + float(seconds)
        if reports is not None:
            reports[host] = report
        rows = worker.rows(len(hex_items))
        if report.get("rows") != len(rows):
            raise ProtocolError("the PSI worker's report and its rows disagree")
        return rows, host_rows
    finally:
        worker.stop()


__all__ = [
    "LINK_HOST",
    "PROTOCOLS",
    "WORKER",
    "HostRun",
    "Worker",
    "available",
    "free_port",
    "intersect",
    "psi_python",
]
