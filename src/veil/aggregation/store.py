"""Aggregator state in SQLite (docs/protocol.md §7): seen report ids, rounds, pending shares.

Secrets (verify keys, output and aggregate shares) are sealed with ``veil.seal`` to the
Aggregator's own HPKE recipient before they touch the database. One writer per Aggregator
(SQLite, WAL); PostgreSQL is not implemented.
"""

from __future__ import annotations

import hmac
import sqlite3
import threading
from pathlib import Path

from veil.crypto.hpke_keys import X25519Identity
from veil.crypto.seal import open as open_sealed
from veil.crypto.seal import seal
from veil.errors import ProtocolError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS seen_reports (
    task BLOB NOT NULL, report_id BLOB NOT NULL, round INTEGER NOT NULL, client TEXT NOT NULL,
    PRIMARY KEY (task, report_id));
CREATE TABLE IF NOT EXISTS rounds (
    task BLOB NOT NULL, round INTEGER NOT NULL, status TEXT NOT NULL,
    verify_key_sealed BLOB, agg_share_sealed BLOB, report_count INTEGER,
    PRIMARY KEY (task, round));
CREATE TABLE IF NOT EXISTS pending (
    task BLOB NOT NULL, round INTEGER NOT NULL, report_id BLOB NOT NULL,
    out_share_sealed BLOB NOT NULL, PRIMARY KEY (task, round, report_id));
"""

OPEN, COLLECTED = "open", "collected"


class AggregatorStore:
    """SQLite-backed state; ``path=":memory:"`` for an in-process Aggregator."""

    def __init__(self, path: str | Path, identity: X25519Identity) -> None:
        self.identity = identity
        self._recipient = identity.recipient()
        self._lock = threading.Lock()
        self.db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        if str(path) != ":memory:":
            self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    def _seal(self, data: bytes) -> bytes:
        return seal(data, [self._recipient])

    def _open(self, blob: bytes) -> bytes:
        return open_sealed(blob, [self.identity])

    # ----- rounds -----------------------------------------------------------------------------
    def round_status(self, task: bytes, rnd: int) -> str | None:
        row = self.db.execute(
            "SELECT status FROM rounds WHERE task=? AND round=?", (task, rnd)
        ).fetchone()
        return row[0] if row else None

    def bind_verify_key(self, task: bytes, rnd: int, verify_key: bytes) -> None:
        """Store the round's verify key on first use; a different one later is refused."""
        with self._lock:
            row = self.db.execute(
                "SELECT status, verify_key_sealed FROM rounds WHERE task=? AND round=?",
                (task, rnd),
            ).fetchone()
            if row is None:
                self.db.execute(
                    "INSERT INTO rounds (task, round, status, verify_key_sealed) VALUES (?,?,?,?)",
                    (task, rnd, OPEN, self._seal(verify_key)),
                )
                return
            if row[0] != OPEN:
                raise ProtocolError(f"round {rnd} is already {row[0]}")
            if not hmac.compare_digest(self._open(row[1]), verify_key):
                raise ProtocolError(f"round {rnd} was started with a different verify key")

    # ----- replay -----------------------------------------------------------------------------
    def admit(self, task: bytes, report_id: bytes, rnd: int, client: str) -> bool:
        """Record a report id; False if it was seen before (a replay).

        The same report again in the same still-open round is a Leader retry, not a replay.
        """
        with self._lock:
            row = self.db.execute(
                "SELECT round FROM seen_reports WHERE task=? AND report_id=?", (task, report_id)
            ).fetchone()
            if row is None:
                self.db.execute(
                    "INSERT INTO seen_reports VALUES (?,?,?,?)", (task, report_id, rnd, client)
                )
                return True
            return row[0] == rnd and self.round_status(task, rnd) in (None, OPEN)

    # ----- pending output shares and collection -----------------------------------------------
    def put_pending(self, task: bytes, rnd: int, report_id: bytes, out_share: bytes) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO pending VALUES (?,?,?,?)",
            (task, rnd, report_id, self._seal(out_share)),
        )

    def drop_pending(self, task: bytes, rnd: int, report_id: bytes) -> None:
        self.db.execute(
            "DELETE FROM pending WHERE task=? AND round=? AND report_id=?", (task, rnd, report_id)
        )

    def pending_ids(self, task: bytes, rnd: int) -> set[bytes]:
        rows = self.db.execute(
            "SELECT report_id FROM pending WHERE task=? AND round=?", (task, rnd)
        ).fetchall()
        return {bytes(r[0]) for r in rows}

    def load_pending(self, task: bytes, rnd: int, report_id: bytes) -> bytes:
        row = self.db.execute(
            "SELECT out_share_sealed FROM pending WHERE task=? AND round=? AND report_id=?",
            (task, rnd, report_id),
        ).fetchone()
        if row is None:
            raise ProtocolError("no pending output share for that report")
        return self._open(row[0])

    def finish_round(self, task: bytes, rnd: int, agg_share: bytes, count: int) -> None:
        """Mark the round collected, keep its aggregate share (sealed), drop pending shares."""
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                cur = self.db.execute(
                    "UPDATE rounds SET status=?, agg_share_sealed=?, report_count=? "
                    "WHERE task=? AND round=? AND status=?",
                    (COLLECTED, self._seal(agg_share), count, task, rnd, OPEN),
                )
                if cur.rowcount != 1:
                    raise ProtocolError(f"round {rnd} is not open")
                self.db.execute("DELETE FROM pending WHERE task=? AND round=?", (task, rnd))
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise

    def mark_collected(self, task: bytes, rnd: int) -> None:
        """The Leader's record that a round is done (it keeps no pending shares)."""
        self.db.execute(
            "INSERT OR REPLACE INTO rounds (task, round, status) VALUES (?,?,?)",
            (task, rnd, COLLECTED),
        )

    def collected_share(self, task: bytes, rnd: int) -> bytes | None:
        row = self.db.execute(
            "SELECT agg_share_sealed FROM rounds WHERE task=? AND round=? AND status=?",
            (task, rnd, COLLECTED),
        ).fetchone()
        return self._open(row[0]) if row else None
