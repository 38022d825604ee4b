"""A whole vertical federation in one process, over the same sealed bytes as across processes.

Tests and the vertical demos use it; ``veil party serve`` (:mod:`veil.vertical.server`)
puts each host in its own process instead.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path

from veil.vertical.channel import Channel, HostData, HostParty, InProcess, RoleFactory
from veil.vertical.envelope import PartyIdentity


def in_process(
    hosts: Sequence[HostData],
    roles: Mapping[str, RoleFactory],
    *,
    guest: str = "guest",
    state_dir: os.PathLike[str] | None = None,
    record: bool = False,
) -> tuple[Channel, dict[str, HostParty]]:
    """The label party's channel to ``hosts``, each a :class:`HostParty` in this process.

    With ``record``, every plaintext body each party receives is kept (``HostParty.received``,
    ``Channel.received``) for the leakage tests.
    """
    session = secrets.token_bytes(16)
    me = PartyIdentity.generate(guest)
    parties: dict[str, HostParty] = {}
    for data in hosts:
        identity = PartyIdentity.generate(data.name)
        host_state = Path(state_dir) / data.name if state_dir is not None else None
        parties[data.name] = HostParty(identity, me.card(), data, roles, session, host_state)
        parties[data.name].record = record
    cards = {name: p.me.card() for name, p in parties.items()}
    channel = Channel(me, cards, InProcess(parties), session)
    channel.record = record
    return channel, parties
