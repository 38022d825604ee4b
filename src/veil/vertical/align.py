"""Entity alignment: which customers every party holds, in one shared order, by ECDH-PSI.

veil does not implement PSI: it runs OpenMined's ``openmined-psi`` (ECDH-PSI over P-256,
the RAW setup: exact, no Bloom filter or GCS false positives). The label party (guest) is
the PSI *client* and every host a PSI *server*, so a host learns only how many IDs the guest
holds, and the guest learns which of its IDs each host shares (docs/vertical.md, *Entity
alignment*). Per host, with IDs first normalised and hashed (:mod:`veil.vertical.ids`):

* ``psi.setup`` {client_size} → {setup}: the host, under a fresh key, sends its encrypted IDs;
* ``psi.request`` {request} → {response}: the guest's blinded IDs, re-encrypted by the host;
* after every host: ``psi.result`` {digests} → {rows}: the digests of the IDs *all* hosts
  share with the guest, in a random order; the host finds its rows in that order.

With ``backend="spu"`` the first two steps are instead ``psi.spu_start`` {port, protocol,
link_id, cert} → {port, host_rows, cert}: each party runs one worker of SecretFlow spu's PSI
(RR22 by default) in the PSI venv, over spu's own TLS link on loopback
(:mod:`veil.vertical.psi_spu`); ``psi.result`` is unchanged.

The order is a uniformly random permutation, not the guest's row order (which may itself
say something, e.g. sign-up date). With several hosts each one learns the final
intersection, so it learns that those of its shared IDs left out are missing at another host.
"""

from __future__ import annotations

import contextlib
import secrets
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import private_set_intersection.python as psi

from veil.errors import ConfigError, DataError, FormatError, ProtocolError
from veil.vertical import psi_spu, wire
from veil.vertical.channel import Channel, HostData, check_reply
from veil.vertical.ids import DIGEST_BYTES, digests
from veil.vertical.wire import Fields

PREFIX = "psi"
#: a compressed P-256 point: 0x02 or 0x03, then x
POINT_BYTES = 33
#: largest set either side accepts (a request of n points is ~35·n bytes; wire caps at 2 GiB)
MAX_ITEMS = 20_000_000
#: the library's false-positive rate: ignored by the RAW setup, which is exact
_FPR = 1e-9
#: ``align``'s PSI implementations: openmined-psi in-process, or spu's workers (psi_spu)
BACKENDS = ("openmined", "spu")


def _parse(cls: type, blob: bytes, what: str) -> Any:
    """A protobuf from a peer; any parse failure is a FormatError, never a library error."""
    message = cls()
    try:
        message.ParseFromString(blob)
    except Exception as exc:  # protobuf's DecodeError, or upb's RuntimeError on deep junk
        raise FormatError(f"{what} is not a PSI message") from exc
    return message


def _check_points(points: Sequence[bytes], expected: int | None, what: str) -> None:
    """Every element a compressed point, and (when known) as many as were asked for."""
    if expected is not None and len(points) != expected:
        raise FormatError(f"{what} holds {len(points)} elements, expected {expected}")
    if len(points) > MAX_ITEMS:
        raise FormatError(f"{what} holds more than {MAX_ITEMS} elements")
    if not set(map(len, points)) <= {POINT_BYTES}:
        raise FormatError(f"{what}: an element is not a {POINT_BYTES}-byte point")
    prefixes = np.frombuffer(b"".join(points), dtype=np.uint8)[::POINT_BYTES]
    if not np.all((prefixes == 2) | (prefixes == 3)):
        raise FormatError(f"{what}: an element is not a compressed point")


class PsiHost:
    """A host's side of PSI (prefix ``psi``): a PSI server with a fresh key per run.

    Steps run in order (setup, request, result); a key answers one request and is then
    dropped, and the key never enters a snapshot, so a restarted run starts over. The result
    sets both ``data.intersection`` and ``data.aligned`` (a later step may select from it).
    """

    def __init__(self, data: HostData) -> None:
        self.data = data
        self._rows: dict[bytes, int] | None = None  # digest → row, built on first setup
        self._server: psi.server | None = None
        self._client_size = 0
        self._answered = False
        self._spu: psi_spu.HostRun | None = None  # backend "spu": this run's worker
        #: backend "spu": the last completed run's worker report (phases, peak RSS)
        self.spu_report: dict | None = None

    def handle(self, kind: str, fields: Fields) -> Fields:
        if kind == "psi.setup":
            return self._setup(fields)
        if kind == "psi.request":
            return self._request(fields)
        if kind == "psi.spu_start":
            return self._spu_start(fields)
        if kind == "psi.result":
            return self._result(fields)
        if kind == "psi.select":
            return self._select(fields)
        raise ProtocolError(f"unknown PSI message {kind!r}")

    def _select(self, fields: Fields) -> Fields:
        """Work on a subset of the aligned rows (training, validation), by aligned position."""
        shared = self.data.intersection
        if shared is None:
            raise ProtocolError("psi.select before an alignment")
        positions = wire.need_array(fields, "positions", "int64", (None,))
        if len(positions) == 0 or len(np.unique(positions)) != len(positions):
            raise FormatError("psi.select needs distinct positions")
        if positions.min() < 0 or positions.max() >= len(shared):
            raise FormatError("psi.select position out of range")
        self.data.aligned = shared[positions]
        return {"rows": len(positions)}

    def _setup(self, fields: Fields) -> Fields:
        client_size = wire.need(fields, "client_size", int)
        assert isinstance(client_size, int)
        if not 0 < client_size <= MAX_ITEMS:
            raise FormatError(f"client_size must be in 1..{MAX_ITEMS}")
        self._drop_spu()
        items = [d.hex() for d in self._own_rows()]
        server = psi.server.CreateWithNewKey(True)
        setup = server.CreateSetupMessage(_FPR, client_size, items, psi.DataStructure.RAW)
        self._server, self._client_size, self._answered = server, client_size, False
        return {"setup": setup.SerializeToString()}

    def _own_rows(self) -> dict[bytes, int]:
        if self._rows is None:
            self._rows = {d: row for row, d in enumerate(digests(self.data.ids))}
        return self._rows

    def _drop_spu(self) -> None:
        if self._spu is not None:
            self._spu.abandon()
            self._spu = None

    def _spu_start(self, fields: Fields) -> Fields:
        """Backend ``spu``: start this host's worker (spu's PSI sender) for one run."""
        self._drop_spu()
        self._server, self._answered = None, False
        rows = self._own_rows()
        self._spu = psi_spu.HostRun([d.hex() for d in rows], fields)
        return self._spu.reply(len(rows))

    def _request(self, fields: Fields) -> Fields:
        if self._server is None:
            raise ProtocolError("psi.request without a fresh psi.setup")
        blob = wire.need(fields, "request", bytes)
        assert isinstance(blob, bytes)
        request = _parse(psi.Request, blob, "request")
        if not request.reveal_intersection:
            raise FormatError("request must ask for the intersection itself")
        _check_points(request.encrypted_elements, self._client_size, "request")
        server, self._server = self._server, None  # one request per key
        try:
            response = server.ProcessRequest(request)
        except Exception as exc:  # the library raises RuntimeError on a point off the curve
            raise FormatError("request holds an invalid point") from exc
        self._answered = True
        return {"response": response.SerializeToString()}

    def _result(self, fields: Fields) -> Fields:
        if self._spu is not None:  # the worker must have finished the protocol
            run, self._spu = self._spu, None
            self.spu_report = run.finish()
            self._answered = True
        if not self._answered or self._rows is None:
            raise ProtocolError("psi.result before a completed psi.request")
        self._answered = False  # one result per run, accepted or not: no probing
        blob = wire.need(fields, "digests", bytes)
        assert isinstance(blob, bytes)
        if len(blob) % DIGEST_BYTES:
            raise FormatError(f"digests must be a multiple of {DIGEST_BYTES} bytes")
        count = len(blob) // DIGEST_BYTES
        rows = np.empty(count, dtype=np.int64)
        for k in range(count):
            row = self._rows.get(blob[k * DIGEST_BYTES : (k + 1) * DIGEST_BYTES])
            if row is None:
                raise ProtocolError(f"digest {k} of {count} is not one of this party's IDs")
            rows[k] = row
        if len(np.unique(rows)) != count:
            raise ProtocolError("the aligned digests repeat an ID")
        self.data.aligned = self.data.intersection = rows
        return {"rows": count}

    def snapshot(self) -> Fields:
        """Nothing: the aligned rows are the host's own to checkpoint (``HostParty`` saves
        ``aligned`` and ``intersection``), and a server key must never outlive its run."""
        return {}

    def restore(self, fields: Fields) -> None:
        if fields:
            raise FormatError("a PSI snapshot is empty")


@dataclass(frozen=True)
class Alignment:
    """The guest's view of an alignment: its rows in the shared order, and what it learnt.

    ``guest_rows[k]`` is the guest's row of aligned customer ``k``; every host's
    ``HostData.aligned[k]`` is that host's row of the same customer.
    """

    guest_rows: np.ndarray
    size: int
    #: |guest ∩ host| per host, before intersecting over all hosts
    per_host: dict[str, int]
    #: each host's number of IDs (the setup message reveals it to the guest)
    host_rows: dict[str, int]
    bytes_sent: int = 0
    bytes_received: int = 0
    seconds: float = 0.0
    #: guest-side wall seconds per phase, summed over hosts (host work is inside the calls)
    phases: dict[str, float] = field(default_factory=dict)
    #: backend "spu": the guest worker's report per host (its phases, peak RSS)
    spu_reports: dict[str, dict] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.size != len(self.guest_rows):
            raise ValueError("size must equal len(guest_rows)")


@contextmanager
def _timed(phases: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        phases[name] = phases.get(name, 0.0) + time.perf_counter() - start


def _random_permutation(n: int) -> np.ndarray:
    """A uniformly random order from the OS's CSPRNG (argsort of 64-bit random keys: a tie,
    probability ≤ n²/2⁶⁵, only keeps two rows in their relative order)."""
    keys = np.frombuffer(secrets.token_bytes(8 * n), dtype=np.uint64)
    return np.argsort(keys, kind="stable")


def _intersect(
    channel: Channel, host: str, items: list[str], phases: dict[str, float]
) -> tuple[np.ndarray, int]:
    """One PSI run with ``host``: the guest rows it shares (sorted), and its set size."""
    client = psi.client.CreateWithNewKey(True)
    with _timed(phases, "request"):
        request = client.CreateRequest(items).SerializeToString()
    with _timed(phases, "setup"):
        reply = channel.call(host, "psi.setup", {"client_size": len(items)})
    check_reply(reply, {"setup"})
    setup = _parse(psi.ServerSetup, _bytes(reply, "setup"), f"{host}: setup")
    if setup.WhichOneof("data_structure") != "raw":
        raise FormatError(f"{host}: setup must be RAW (exact), not a filter")
    _check_points(setup.raw.encrypted_elements, None, f"{host}: setup")
    with _timed(phases, "response"):
        reply = channel.call(host, "psi.request", {"request": request})
    check_reply(reply, {"response"})
    response = _parse(psi.Response, _bytes(reply, "response"), f"{host}: response")
    _check_points(response.encrypted_elements, len(items), f"{host}: response")
    with _timed(phases, "intersect"):
        try:
            found = client.GetIntersection(setup, response)
        except Exception as exc:  # the library's RuntimeError on a message it cannot use
            raise FormatError(f"{host}: PSI messages do not fit together") from exc
    rows = np.unique(np.asarray(found, dtype=np.int64))
    if len(rows) != len(found) or (len(rows) and (rows[0] < 0 or rows[-1] >= len(items))):
        raise FormatError(f"{host}: PSI returned rows out of range or repeated")
    return rows, len(setup.raw.encrypted_elements)


def _bytes(fields: Fields, name: str) -> bytes:
    value = wire.need(fields, name, bytes)
    assert isinstance(value, bytes)
    return value


def align(
    channel: Channel,
    guest_ids: Sequence[str],
    *,
    hosts: Sequence[str] | None = None,
    backend: str = "openmined",
    spu_protocol: str = "RR22",
) -> Alignment:
    """Align the guest's table with every host's (or those named) by PSI; each host's
    ``HostData.aligned`` is set to its rows in the returned order.

    ``backend``: ``"openmined"`` (ECDH-PSI over P-256 in this process, over the sealed
    channel) or ``"spu"`` (SecretFlow spu's ``spu_protocol``, RR22 by default, in worker
    processes of the PSI venv over spu's TLS link; :mod:`veil.vertical.psi_spu`)."""
    start = time.perf_counter()
    if backend not in BACKENDS:
        raise ConfigError(f"PSI backend must be one of {', '.join(BACKENDS)}")
    if backend == "spu":
        psi_spu.check_protocol(spu_protocol)
    names = list(channel.parties if hosts is None else hosts)
    if not names:
        raise ProtocolError("no host to align with")
    if isinstance(guest_ids, str) or not 0 < len(guest_ids) <= MAX_ITEMS:
        raise DataError(f"the label party needs 1..{MAX_ITEMS} IDs to align")
    sent0, received0 = _traffic(channel)
    phases: dict[str, float] = {}
    with _timed(phases, "digest"):
        table = digests(guest_ids)
        items = [d.hex() for d in table]
    shared: np.ndarray | None = None
    per_host: dict[str, int] = {}
    host_rows: dict[str, int] = {}
    spu_reports: dict[str, dict] = {}
    spu_folder = tempfile.TemporaryDirectory(prefix="veil-psi-") if backend == "spu" else None
    with spu_folder or contextlib.nullcontext():
        if spu_folder is not None:  # the workers' input: written once, read by each worker
            items_file = Path(spu_folder.name) / "items.txt"
            psi_spu.write_items(items_file, items)
        for name in names:
            if backend == "spu":
                rows, host_rows[name] = psi_spu.intersect(
                    channel,
                    name,
                    items,
                    items_file,
                    protocol=spu_protocol,
                    phases=phases,
                    reports=spu_reports,
                )
            else:
                rows, host_rows[name] = _intersect(channel, name, items, phases)
            per_host[name] = len(rows)
            shared = rows if shared is None else np.intersect1d(shared, rows, assume_unique=True)
    assert shared is not None
    order = shared[_random_permutation(len(shared))]
    blob = b"".join(table[i] for i in order)
    with _timed(phases, "result"):
        for name in names:
            reply = channel.call(name, "psi.result", {"digests": blob})
            check_reply(reply, {"rows"})
            if wire.need(reply, "rows", int) != len(order):
                raise ProtocolError(f"{name}: aligned a different number of rows")
    sent, received = _traffic(channel)
    return Alignment(
        guest_rows=order,
        size=len(order),
        per_host=per_host,
        host_rows=host_rows,
        bytes_sent=sent - sent0,
        bytes_received=received - received0,
        seconds=time.perf_counter() - start,
        phases=phases,
        spu_reports=spu_reports,
    )


def _traffic(channel: Channel) -> tuple[int, int]:
    return sum(channel.traffic.sent.values()), sum(channel.traffic.received.values())


__all__ = ["BACKENDS", "PREFIX", "Alignment", "PsiHost", "align"]
