"""How the label party talks to the other parties: one request, one reply, sealed both ways.

The label party (the *guest*, which holds the labels and drives every protocol) calls a
*host* with a message kind and fields; the host's :class:`HostParty` opens it, hands it to
the protocol role named by the kind's prefix (``psi.``, ``sb.``, ``lr.``) and seals the reply.
:class:`InProcess` runs the hosts in this process over the very same bytes (tests,
the vertical demos); :mod:`veil.vertical.server` carries them over HTTP between processes.
Either way each party's received bytes can be recorded: the leakage tests search them.
"""

from __future__ import annotations

import copy
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from veil import errors
from veil.errors import FormatError, ProtocolError, VeilError
from veil.vertical import wire
from veil.vertical.envelope import PartyCard, PartyIdentity, open_message, seal_message
from veil.vertical.state import RoleStore
from veil.vertical.wire import Fields

log = logging.getLogger(__name__)

ERROR_KIND = "party.error"


class Role(Protocol):
    """A host's side of one protocol: answers the label party's messages of one prefix."""

    def handle(self, kind: str, fields: Fields) -> Fields: ...

    def snapshot(self) -> Fields:
        """What the role must keep to resume after a restart (arrays and scalars only)."""
        ...

    def restore(self, fields: Fields) -> None: ...


@dataclass
class HostData:
    """A non-label party's own table: its raw IDs, its features, and (once aligned) the
    rows shared with the label party in the label party's order."""

    name: str
    ids: list[str]
    features: np.ndarray
    feature_names: list[str]
    aligned: np.ndarray | None = None
    #: every row shared with the label party (PSI's result); ``aligned`` may be a selection
    intersection: np.ndarray | None = None
    #: the session this table serves (set by its HostParty): proofs are bound to it
    session: bytes = b""

    def __post_init__(self) -> None:
        if self.features.ndim != 2 or self.features.shape != (
            len(self.ids),
            len(self.feature_names),
        ):
            raise errors.DataError(f"{self.name}: features must be rows × named columns")
        if not np.all(np.isfinite(self.features)):
            raise errors.DataError(f"{self.name}: features hold NaN or infinity")

    def aligned_features(self) -> np.ndarray:
        if self.aligned is None:
            raise ProtocolError(f"{self.name}: rows are not aligned yet (run PSI first)")
        return self.features[self.aligned]


RoleFactory = Callable[[HostData], Role]


class HostParty:
    """A host: its keys, its data, and one role per protocol prefix, created on first use.

    :meth:`respond` turns a sealed request into a sealed reply and never raises: a bad or
    failing request gets a sealed error reply naming the error class, so a peer's mistake
    never crashes the host (docs/vertical.md, *Failures*).
    """

    def __init__(
        self,
        me: PartyIdentity,
        guest: PartyCard,
        data: HostData,
        roles: Mapping[str, RoleFactory],
        session: bytes,
        state_dir: os.PathLike[str] | None = None,
    ) -> None:
        self.me, self.guest, self.data, self.session = me, guest, data, session
        data.session = session
        self._factories = dict(roles)
        self._roles: dict[str, Role] = {}
        self._lock = threading.Lock()
        self.received: list[bytes] = []  # plaintext bodies, when recording
        self.record = False
        self._store = RoleStore(state_dir)
        self._last_seq = self._store.last_seq()

    def respond(self, blob: bytes) -> bytes:
        with self._lock:
            try:
                seq, body = open_message(self.me, self.guest, self.session, blob)
            except VeilError as exc:
                # no authenticated sequence number to answer under: reply under seq 0 so the
                # caller sees a typed error (it cannot be replayed into a live exchange)
                return self._seal(0, ERROR_KIND, _error_fields(exc))
            if seq <= self._last_seq:
                return self._seal(seq, ERROR_KIND, _error_fields(ProtocolError("replayed message")))
            self._last_seq = seq
            self._store.set_last_seq(seq)  # a restarted host still refuses old messages
            if self.record:
                self.received.append(body)
            try:
                kind, fields = wire.decode(body)
                reply_kind, reply = kind + ".ok", self._dispatch(kind, fields)
            except VeilError as exc:
                reply_kind, reply = ERROR_KIND, _error_fields(exc)
            except Exception as exc:  # a bug must not take the host down
                log.exception("host %s failed on a request", self.me.name)
                reply_kind, reply = ERROR_KIND, _error_fields(VeilError(type(exc).__name__))
            return self._seal(seq, reply_kind, reply)

    def _seal(self, seq: int, kind: str, fields: Fields) -> bytes:
        return seal_message(self.me, self.guest, self.session, seq, wire.encode(kind, fields))

    def _dispatch(self, kind: str, fields: Fields) -> Fields:
        prefix, _, _ = kind.partition(".")
        if prefix == "party":
            return self._party(kind, fields)
        role = self._role(prefix)
        reply = role.handle(kind, fields)
        output = getattr(role, "output", None)
        if output is not None:  # the host's own report (its importance table): keep it
            self._store.write_output(prefix, output)
            role.output = None  # type: ignore[attr-defined]
        return reply

    def _role(self, prefix: str) -> Role:
        if prefix not in self._roles:
            factory = self._factories.get(prefix)
            if factory is None:
                raise ProtocolError(f"unknown protocol {prefix!r}")
            self._roles[prefix] = factory(self.data)
        return self._roles[prefix]

    def _party(self, kind: str, fields: Fields) -> Fields:
        if kind == "party.hello":
            return {"name": self.me.name, "rows": len(self.data.ids)}
        protocol = wire.need(fields, "protocol", str)
        step = wire.need(fields, "step", int)
        assert isinstance(protocol, str) and isinstance(step, int)
        if kind == "party.checkpoint":
            snapshot = self._role(protocol).snapshot()
            self._store.save(protocol, step, snapshot, self.data.aligned, self.data.intersection)
            return {}
        if kind == "party.restore":
            snapshot, aligned, intersection = self._store.load(protocol, step)
            for rows in (aligned, intersection):
                _check_rows(rows, len(self.data.ids))
            self.data.aligned, self.data.intersection = aligned, intersection
            self._roles.pop(protocol, None)
            self._role(protocol).restore(snapshot)
            return {}
        raise ProtocolError(f"unknown party message {kind!r}")


def _check_rows(rows: np.ndarray | None, n: int) -> None:
    if rows is None:
        return
    if rows.ndim != 1 or len(np.unique(rows)) != len(rows) or np.any((rows < 0) | (rows >= n)):
        raise FormatError("checkpointed rows are repeated or out of range")


def _error_fields(exc: VeilError) -> Fields:
    return {"error": type(exc).__name__, "message": str(exc)[:500]}


def raise_error(party: str, fields: Fields) -> None:
    """Re-raise a host's error reply as the same class of :mod:`veil.errors`."""
    name, message = fields.get("error"), fields.get("message", "")
    cls = getattr(errors, name, None) if isinstance(name, str) else None
    if not (isinstance(cls, type) and issubclass(cls, VeilError)):
        cls = ProtocolError
    raise cls(f"{party}: {message}")


class Transport(Protocol):
    """Moves one sealed request to a host and its sealed reply back."""

    def exchange(self, party: str, blob: bytes) -> bytes: ...


@dataclass
class Traffic:
    """Bytes and messages each way, per host (for the run report)."""

    sent: dict[str, int] = field(default_factory=dict)
    received: dict[str, int] = field(default_factory=dict)
    messages: int = 0

    def total(self) -> int:
        return sum(self.sent.values()) + sum(self.received.values())


class Channel:
    """The label party's side: seal, send, open the reply, raise a host's error as typed."""

    def __init__(
        self,
        me: PartyIdentity,
        hosts: Mapping[str, PartyCard],
        transport: Transport,
        session: bytes,
    ) -> None:
        self.me, self.hosts, self.transport, self.session = me, dict(hosts), transport, session
        # wall-clock nanoseconds: a label party that restarts keeps numbering above every
        # message it sent before, which a host (that remembers the last one) would refuse
        self._seq = itertools.count(time.time_ns())
        self.traffic = Traffic()
        self.received: list[tuple[str, bytes]] = []  # reply bodies, when recording
        self.record = False
        #: called as ``before_call(party, kind)`` before each request (fault injection)
        self.before_call: Callable[[str, str], None] | None = None

    def only(self, names: Sequence[str]) -> Channel:
        """A view of this channel that reaches only ``names`` (a two-party protocol among
        more hosts); it shares the sequence numbers, the traffic count and the records."""
        missing = set(names) - set(self.hosts)
        if missing:
            raise ProtocolError(f"no party named {sorted(missing)}")
        view = copy.copy(self)
        view.hosts = {n: self.hosts[n] for n in names}
        return view

    @property
    def parties(self) -> list[str]:
        return list(self.hosts)

    def call(self, party: str, kind: str, fields: Mapping[str, wire.Value] | None = None) -> Fields:
        card = self.hosts.get(party)
        if card is None:
            raise ProtocolError(f"no party named {party!r}")
        if self.before_call is not None:
            self.before_call(party, kind)
        seq = next(self._seq)
        blob = seal_message(self.me, card, self.session, seq, wire.encode(kind, fields or {}))
        reply = self.transport.exchange(party, blob)
        self.traffic.sent[party] = self.traffic.sent.get(party, 0) + len(blob)
        self.traffic.received[party] = self.traffic.received.get(party, 0) + len(reply)
        self.traffic.messages += 2
        reply_seq, body = open_message(self.me, card, self.session, reply)
        if self.record:
            self.received.append((party, body))
        reply_kind, reply_fields = wire.decode(body)
        if reply_kind == ERROR_KIND:
            raise_error(party, reply_fields)
        if reply_seq != seq or reply_kind != kind + ".ok":
            raise ProtocolError(f"{party}: reply does not answer {kind!r}")
        return reply_fields


class InProcess:
    """A transport to hosts living in this process (the same sealed bytes as over HTTP)."""

    def __init__(self, hosts: Mapping[str, HostParty]) -> None:
        self.hosts = dict(hosts)

    def exchange(self, party: str, blob: bytes) -> bytes:
        return self.hosts[party].respond(blob)


def check_reply(fields: Fields, expected: set[str]) -> None:
    """A reply carries exactly the expected fields (a host cannot smuggle extra ones)."""
    if set(fields) != expected:
        raise FormatError(f"reply fields {sorted(fields)} differ from {sorted(expected)}")
