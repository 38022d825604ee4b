"""PostgreSQL state for several workers behind one Aggregator (docs/protocol.md §7).

Same protocol logic as :class:`veil.aggregation.store.StateStore`; here each call is one
READ COMMITTED transaction on this worker's own connection. Admission rests on the primary
key: ``INSERT … ON CONFLICT DO NOTHING`` waits for a concurrent insert of the same key and
then does nothing, so exactly one worker sees ``rowcount == 1``. Decisions that depend on a
round's status read its row ``FOR SHARE``, which conflicts with the row lock taken by
``finish_round``'s UPDATE: a share cannot be added to a round while it is being collected.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from veil.aggregation.store import SCHEMA, Query, StateStore
from veil.crypto.hpke_keys import X25519Identity
from veil.errors import ConfigError

_SCHEMA_LOCK = 0x7665696C  # "veil": serialises CREATE TABLE when workers start together


class PostgresStore(StateStore):
    """State in PostgreSQL; ``url`` is a libpq URL (``postgresql://user@127.0.0.1:5432/db``)."""

    _share_lock = " FOR SHARE"

    def __init__(self, url: str, identity: X25519Identity) -> None:
        super().__init__(identity)
        try:
            import psycopg  # lazy: only a postgresql:// state URL needs it
        except ImportError as exc:  # pragma: no cover - the aggregator extra
            raise ConfigError(
                "PostgreSQL state needs psycopg: pip install 'veil[aggregator]'"
            ) from exc
        try:
            self.db = psycopg.connect(url, autocommit=True)
        except psycopg.OperationalError as exc:
            # the message may echo the URL; say only that it failed and why, without it
            kind = type(exc).__name__
            raise ConfigError(f"cannot connect to the PostgreSQL state: {kind}") from exc
        self._lock = threading.Lock()
        schema = SCHEMA.replace("BLOB", "BYTEA").replace("INTEGER", "BIGINT")
        with self._tx() as q:
            q("SELECT pg_advisory_xact_lock(?)", (_SCHEMA_LOCK,))
            for stmt in filter(str.strip, schema.split(";")):
                q(stmt, ())

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def _tx(self) -> Iterator[Query]:
        with self._lock, self.db.transaction():

            def q(sql: str, params: tuple):
                return self.db.execute(sql.replace("?", "%s"), params)

            yield q
