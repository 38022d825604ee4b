"""Which Aggregator state backend a URL names (docs/protocol.md §7).

Its own module so that :mod:`veil.aggregation.store` (the interface and SQLite) and
:mod:`veil.aggregation.pg_store` (PostgreSQL) import one way: both backends below, this
chooser above them.
"""

from __future__ import annotations

from pathlib import Path

from veil.aggregation.pg_store import PostgresStore
from veil.aggregation.store import SqliteStore, StateStore
from veil.crypto.hpke_keys import X25519Identity
from veil.errors import ConfigError


def open_store(url: str | Path, identity: X25519Identity) -> StateStore:
    """``sqlite:///abs/path``, ``sqlite://:memory:``, a plain path, or ``postgresql://…``."""
    text = str(url)
    if text.startswith(("postgresql://", "postgres://")):
        return PostgresStore(text, identity)
    if text.startswith("sqlite://"):
        text = text[len("sqlite://") :]
    elif "://" in text:
        raise ConfigError("state URL must be sqlite://… or postgresql://…")
    if not text:
        raise ConfigError("empty SQLite path in the state URL")
    return SqliteStore(text, identity)
