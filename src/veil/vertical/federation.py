"""A vertical federation on one machine: the label party's channel to hosts that live in
this process or in ``veil party serve`` processes on 127.0.0.1 (the vertical demos, tests).

Both shapes run the same :class:`~veil.vertical.channel.HostParty` code over the same sealed
bytes; the process shape adds real crashes (:meth:`Federation.crash`) and restarts.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from veil.aggregation.process import free_port
from veil.errors import ConfigError
from veil.vertical.channel import Channel, HostParty, InProcess
from veil.vertical.envelope import PartyIdentity
from veil.vertical.party import ROLES, host_data
from veil.vertical.server import HostProcess, HostUnreachable, HttpTransport
from veil.vertical.tables import PartyTable, read_table

T = TypeVar("T")


@dataclass(frozen=True)
class HostSpec:
    """A host's table on disk and how to read it."""

    name: str
    path: Path
    id_column: str
    columns: tuple[str, ...] = ()

    def read(self) -> PartyTable:
        return read_table(self.path, self.id_column, columns=list(self.columns) or None)


def resilient(
    run: Callable[[bool], T], wait_for_hosts: Callable[[], None], *, retries: int = 3
) -> tuple[T, int]:
    """``run(resume)`` until it finishes: after a host becomes unreachable, wait for it to come
    back and call ``run(True)``, which resumes from the last checkpoint. Returns the result
    and how many times the run resumed."""
    resumed = 0
    while True:
        try:
            return run(resumed > 0), resumed
        except HostUnreachable:
            if resumed >= retries:
                raise
            resumed += 1
            wait_for_hosts()


class Federation:
    """The label party and its hosts; use as a context manager (hosts stop on exit)."""

    def __init__(
        self, folder: Path, hosts: Sequence[HostSpec], *, processes: bool, guest: str = "guest"
    ) -> None:
        if len({h.name for h in hosts} | {guest}) != len(hosts) + 1:
            raise ConfigError("party names must differ")
        self.folder, self.specs, self.processes = folder, list(hosts), processes
        self.session = secrets.token_bytes(16)
        self.me = PartyIdentity.generate(guest)
        keys = folder / "keys"
        self.me.save(keys)
        self.identities = {h.name: PartyIdentity.generate(h.name) for h in hosts}
        for identity in self.identities.values():
            identity.save(keys)
        self.keys = keys
        self.procs: dict[str, HostProcess] = {}
        self.local: dict[str, HostParty] = {}
        cards = {name: identity.card() for name, identity in self.identities.items()}
        if processes:
            self.transport: HttpTransport | InProcess = HttpTransport(
                {h.name: self._spawn(h) for h in hosts}
            )
        else:
            self.local = {h.name: self._host(h) for h in hosts}
            self.transport = InProcess(self.local)
        self.channel = Channel(self.me, cards, self.transport, self.session)

    def _host(self, spec: HostSpec) -> HostParty:
        table = spec.read()
        state = self.folder / "state" / spec.name
        return HostParty(
            self.identities[spec.name], self.me.card(), host_data(spec.name, table), ROLES,
            self.session, state,
        )  # fmt: skip

    def _spawn(self, spec: HostSpec) -> str:
        port = free_port()
        argv = [
            "--identity", str(self.keys / f"{spec.name}.identity"), "--cards", str(self.keys),
            "--guest", self.me.name, "--session", self.session.hex(), "--data", str(spec.path),
            "--id-column", spec.id_column, "--state", str(self.folder / "state" / spec.name),
        ]  # fmt: skip
        if spec.columns:
            argv += ["--columns", ",".join(spec.columns)]
        proc = HostProcess(argv, port, self.folder / f"{spec.name}.log")
        proc.start()
        self.procs[spec.name] = proc
        return proc.url

    def wait_until_up(self, timeout_s: float = 60.0) -> None:
        if isinstance(self.transport, HttpTransport):
            for name in self.procs:
                self.transport.wait_until_up(name, timeout_s)

    def crash(self, name: str) -> None:
        """Kill a host's process (SIGKILL) — or, in process, lose its memory."""
        if name in self.procs:
            self.procs[name].kill()
        else:
            spec = next(h for h in self.specs if h.name == name)
            self.local[name] = self._host(spec)
            assert isinstance(self.transport, InProcess)
            self.transport.hosts[name] = self.local[name]

    def restart(self, name: str) -> None:
        if name in self.procs:
            self.procs[name].start()
            self.wait_until_up()

    def resilient(self, run: Callable[[bool], T], *, retries: int = 3) -> tuple[T, int]:
        """:func:`resilient`, restarting this federation's crashed host processes."""
        return resilient(run, self._revive, retries=retries)

    def _revive(self) -> None:
        for name, proc in self.procs.items():
            if proc.proc is None or proc.proc.poll() is not None:
                self.restart(name)
        self.wait_until_up()

    def close(self) -> None:
        for proc in self.procs.values():
            proc.stop()
        if isinstance(self.transport, HttpTransport):
            self.transport.close()

    def __enter__(self) -> Federation:
        self.wait_until_up()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
