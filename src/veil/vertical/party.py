"""A host party assembled from its files: keys, the label party's card, its table, its roles.

``veil party serve`` and the in-process demo build hosts the same way, so the code a host
runs is the same whether it lives in a process of its own or not.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from veil.errors import ConfigError
from veil.vertical.align import PsiHost
from veil.vertical.channel import HostData, HostParty, RoleFactory
from veil.vertical.claims import DEFAULT_MINIMUM, LabelClaimHost
from veil.vertical.envelope import PartyIdentity, load_cards
from veil.vertical.hetero_lr import HeteroLRHost
from veil.vertical.secureboost import SecureBoostHost
from veil.vertical.tables import PartyTable

#: every protocol a host answers, by message prefix (docs/vertical.md)
ROLES: dict[str, RoleFactory] = {
    "psi": PsiHost,
    "sb": SecureBoostHost,
    "lr": HeteroLRHost,
    "zk": LabelClaimHost,
}


def host_data(name: str, table: PartyTable) -> HostData:
    return HostData(name, table.ids, table.features, table.names)


def load_host(
    identity: Path,
    cards: Path,
    guest: str,
    session: bytes,
    table: PartyTable,
    state_dir: os.PathLike[str] | None,
    min_class_rows: int = DEFAULT_MINIMUM,
) -> HostParty:
    """The host of ``identity``, answering ``guest`` (whose card is in ``cards``) in a session."""
    me = PartyIdentity.load(identity)
    known = load_cards(cards)
    if guest not in known:
        raise ConfigError(f"no card for the label party {guest!r} in {cards}")
    roles = {**ROLES, "zk": functools.partial(LabelClaimHost, minimum=min_class_rows)}
    return HostParty(me, known[guest], host_data(me.name, table), roles, session, state_dir)
