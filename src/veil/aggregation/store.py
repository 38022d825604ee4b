"""Aggregator state (docs/protocol.md §7): seen report ids, rounds, pending output shares.

One interface, :class:`StateStore`, with the protocol logic written once in portable SQL; two
backends supply a connection and a transaction: :class:`SqliteStore` (default, one host) and
:class:`veil.aggregation.pg_store.PostgresStore` (several workers behind one Aggregator, as
Janus does). :func:`veil.aggregation.state_url.open_store` picks one from a URL.

Secrets (verify keys, output and aggregate shares) are sealed with ``veil.seal`` to the
Aggregator's own HPKE recipient before they touch the database. Every decision that must not
race runs inside one transaction, and report-id admission is a single
``INSERT … ON CONFLICT DO NOTHING`` against the ``(task, report_id)`` primary key, so two
workers can never both admit the same report id as new.
"""

from __future__ import annotations

import enum
import hmac
import sqlite3
import struct
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from veil.crypto.hpke_keys import X25519Identity
from veil.crypto.seal import open as open_sealed
from veil.crypto.seal import seal
from veil.errors import IntegrityError, ProtocolError

# Portable schema: BLOB/INTEGER are rewritten per dialect (BYTEA/BIGINT on PostgreSQL).
SCHEMA = """
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
CREATE TABLE IF NOT EXISTS round_reports (
    task BLOB NOT NULL, round INTEGER NOT NULL, ids_sealed BLOB NOT NULL,
    PRIMARY KEY (task, round));
CREATE TABLE IF NOT EXISTS collect_jobs (
    task BLOB NOT NULL, round INTEGER NOT NULL, job_sealed BLOB NOT NULL,
    PRIMARY KEY (task, round));
CREATE TABLE IF NOT EXISTS audit_head (
    task BLOB NOT NULL PRIMARY KEY, seq INTEGER NOT NULL, round INTEGER NOT NULL,
    record_hash TEXT NOT NULL);
"""

OPEN, COLLECTED = "open", "collected"

# What a sealed blob is for: prefixed to the plaintext before sealing, checked on opening
_CTX_LABEL = b"veil/v1/agg/state\x00"
_VK, _JOB, _OUT, _AGG, _IDS = b"verify-key", b"collect-job", b"out-share", b"agg-share", b"ids"


def _ctx(kind: bytes, task: bytes, rnd: int, report_id: bytes = b"") -> bytes:
    """The binding of one stored blob: its kind, task, round and (for a share) report id."""
    return (
        _CTX_LABEL + kind + b"\x00" + struct.pack(">H", len(task)) + task
        + struct.pack(">Q", rnd) + struct.pack(">H", len(report_id)) + report_id
    )  # fmt: skip


Query = Callable[[str, tuple], Any]  # runs one statement with ``?`` placeholders, returns a cursor


class Admission(enum.Enum):
    """The outcome of offering a report id: first sight, a Leader retry, or a replay."""

    NEW = "new"
    RETRY = "retry"  # same id, same round, round still open: the Leader resent a batch
    REPLAY = "replay"


class StateStore(ABC):
    """The Aggregator's state; backends provide :meth:`_tx` (one transaction) and ``close``."""

    #: appended to a SELECT of the ``rounds`` row that a decision depends on (row lock on PG)
    _share_lock = ""

    def __init__(self, identity: X25519Identity) -> None:
        self.identity = identity
        self._recipient = identity.recipient()

    @abstractmethod
    def _tx(self) -> Any:
        """Context manager: one transaction, yielding a :data:`Query`; rolls back on error."""

    @abstractmethod
    def close(self) -> None: ...

    def _seal(self, data: bytes, ctx: bytes) -> bytes:
        return seal(ctx + data, [self._recipient])

    def _open(self, blob: bytes, ctx: bytes) -> bytes:
        """Open a sealed blob and check it was sealed for this row (task, round, kind, id):
        a blob copied from another task's or round's row is refused, not used."""
        plain = open_sealed(bytes(blob), [self.identity])
        if not hmac.compare_digest(plain[: len(ctx)], ctx):
            raise IntegrityError("stored state was sealed for another task, round or report")
        return plain[len(ctx) :]

    def _status(self, q: Query, task: bytes, rnd: int) -> str | None:
        sql = "SELECT status FROM rounds WHERE task=? AND round=?" + self._share_lock  # noqa: S608 - class constant
        row = q(sql, (task, rnd)).fetchone()
        return row[0] if row else None

    # ----- rounds -----------------------------------------------------------------------------
    def round_status(self, task: bytes, rnd: int) -> str | None:
        with self._tx() as q:
            return self._status(q, task, rnd)

    def bind_verify_key(self, task: bytes, rnd: int, verify_key: bytes) -> None:
        """Store the round's verify key on first use; a different one later is refused."""
        with self._tx() as q:
            q(
                "INSERT INTO rounds (task, round, status, verify_key_sealed) VALUES (?,?,?,?) "
                "ON CONFLICT (task, round) DO NOTHING",
                (task, rnd, OPEN, self._seal(verify_key, _ctx(_VK, task, rnd))),
            )
            status, sealed = q(
                "SELECT status, verify_key_sealed FROM rounds WHERE task=? AND round=?",
                (task, rnd),
            ).fetchone()
        if status != OPEN:
            raise ProtocolError(f"round {rnd} is already {status}")
        if sealed is None or not hmac.compare_digest(
            self._open(sealed, _ctx(_VK, task, rnd)), verify_key
        ):
            raise ProtocolError(f"round {rnd} was started with a different verify key")

    def verify_key_for(self, task: bytes, rnd: int, fresh: bytes) -> bytes:
        """The Leader's verify key for a round: the stored one, or ``fresh`` stored now.

        Durable, so a restarted Leader redoing a round offers the Helper the key the Helper
        already bound to it (a new key would be refused)."""
        with self._tx() as q:
            q(
                "INSERT INTO rounds (task, round, status, verify_key_sealed) VALUES (?,?,?,?) "
                "ON CONFLICT (task, round) DO NOTHING",
                (task, rnd, OPEN, self._seal(fresh, _ctx(_VK, task, rnd))),
            )
            (sealed,) = q(
                "SELECT verify_key_sealed FROM rounds WHERE task=? AND round=?", (task, rnd)
            ).fetchone()
        if sealed is None:
            raise ProtocolError(f"round {rnd} has no verify key")
        return self._open(sealed, _ctx(_VK, task, rnd))

    # ----- the Leader's collect jobs ----------------------------------------------------------
    def save_job(self, task: bytes, rnd: int, job: bytes) -> None:
        """Keep a round's collect job (sealed) before the Helper is asked to release its share;
        the first one stays: a retry must collect exactly what the first attempt named."""
        with self._tx() as q:
            q(
                "INSERT INTO collect_jobs (task, round, job_sealed) VALUES (?,?,?) "
                "ON CONFLICT (task, round) DO NOTHING",
                (task, rnd, self._seal(job, _ctx(_JOB, task, rnd))),
            )

    def load_job(self, task: bytes, rnd: int) -> bytes | None:
        with self._tx() as q:
            row = q(
                "SELECT job_sealed FROM collect_jobs WHERE task=? AND round=?", (task, rnd)
            ).fetchone()
        return self._open(row[0], _ctx(_JOB, task, rnd)) if row else None

    # ----- replay -----------------------------------------------------------------------------
    def offer(self, task: bytes, report_id: bytes, rnd: int, client: str) -> Admission:
        """Record a report id atomically and say whether it is new, a retry or a replay."""
        with self._tx() as q:
            cur = q(
                "INSERT INTO seen_reports (task, report_id, round, client) VALUES (?,?,?,?) "
                "ON CONFLICT (task, report_id) DO NOTHING",
                (task, report_id, rnd, client),
            )
            if cur.rowcount == 1:
                return Admission.NEW
            (seen_round,) = q(
                "SELECT round FROM seen_reports WHERE task=? AND report_id=?", (task, report_id)
            ).fetchone()
            if seen_round == rnd and self._status(q, task, rnd) in (None, OPEN):
                return Admission.RETRY
            return Admission.REPLAY

    def admit(self, task: bytes, report_id: bytes, rnd: int, client: str) -> bool:
        """False if the report id is a replay; a Leader retry in the same open round is fine."""
        return self.offer(task, report_id, rnd, client) is not Admission.REPLAY

    # ----- pending output shares and collection -----------------------------------------------
    def put_pending(self, task: bytes, rnd: int, report_id: bytes, out_share: bytes) -> None:
        """Keep a verified output share (sealed) for an open round; refused once collected."""
        sealed = self._seal(out_share, _ctx(_OUT, task, rnd, report_id))
        with self._tx() as q:
            if self._status(q, task, rnd) != OPEN:
                raise ProtocolError(f"round {rnd} is not open")
            q(
                "INSERT INTO pending (task, round, report_id, out_share_sealed) VALUES (?,?,?,?) "
                "ON CONFLICT (task, round, report_id) "
                "DO UPDATE SET out_share_sealed=excluded.out_share_sealed",
                (task, rnd, report_id, sealed),
            )

    def drop_pending(self, task: bytes, rnd: int, report_id: bytes) -> None:
        with self._tx() as q:
            q(
                "DELETE FROM pending WHERE task=? AND round=? AND report_id=?",
                (task, rnd, report_id),
            )

    def pending_ids(self, task: bytes, rnd: int) -> set[bytes]:
        with self._tx() as q:
            rows = q(
                "SELECT report_id FROM pending WHERE task=? AND round=?", (task, rnd)
            ).fetchall()
        return {bytes(r[0]) for r in rows}

    def clients_of(self, task: bytes, rnd: int, report_ids: Sequence[bytes]) -> list[str]:
        """The (signature-checked) client of each report id admitted in round ``rnd``."""
        out = []
        with self._tx() as q:
            for rid in report_ids:
                row = q(
                    "SELECT client FROM seen_reports WHERE task=? AND report_id=? AND round=?",
                    (task, rid, rnd),
                ).fetchone()
                if row is None:
                    raise ProtocolError("a report of the collect was not admitted in this round")
                out.append(str(row[0]))
        return out

    def load_pending(self, task: bytes, rnd: int, report_id: bytes) -> bytes:
        with self._tx() as q:
            row = q(
                "SELECT out_share_sealed FROM pending WHERE task=? AND round=? AND report_id=?",
                (task, rnd, report_id),
            ).fetchone()
        if row is None:
            raise ProtocolError("no pending output share for that report")
        return self._open(row[0], _ctx(_OUT, task, rnd, report_id))

    def finish_round(
        self,
        task: bytes,
        rnd: int,
        agg_share: bytes,
        count: int,
        report_ids: Sequence[bytes] = (),
    ) -> None:
        """Mark the round collected, keep its aggregate share and the ids of the reports it
        aggregated (both sealed; the ids are what the audit countersignature checks), drop
        pending shares.

        One transaction; the conditional UPDATE makes exactly one concurrent caller win.
        """
        sealed = self._seal(agg_share, _ctx(_AGG, task, rnd))
        ids_sealed = self._seal(b"".join(sorted(report_ids)), _ctx(_IDS, task, rnd))
        with self._tx() as q:
            cur = q(
                "UPDATE rounds SET status=?, agg_share_sealed=?, report_count=? "
                "WHERE task=? AND round=? AND status=?",
                (COLLECTED, sealed, count, task, rnd, OPEN),
            )
            if cur.rowcount != 1:
                raise ProtocolError(f"round {rnd} is not open")
            q("DELETE FROM pending WHERE task=? AND round=?", (task, rnd))
            q(
                "INSERT INTO round_reports (task, round, ids_sealed) VALUES (?,?,?)",
                (task, rnd, ids_sealed),
            )

    def collected_ids(self, task: bytes, rnd: int, id_len: int) -> list[bytes] | None:
        """The sorted ids of the reports aggregated in a collected round (None: not collected)."""
        with self._tx() as q:
            row = q(
                "SELECT ids_sealed FROM round_reports WHERE task=? AND round=?", (task, rnd)
            ).fetchone()
        if row is None:
            return None
        data = self._open(row[0], _ctx(_IDS, task, rnd))
        if len(data) % id_len:
            raise ProtocolError("stored report ids have the wrong length")
        return [data[i : i + id_len] for i in range(0, len(data), id_len)]

    def advance_audit(self, task: bytes, prev: str, seq: int, rnd: int, record_hash: str) -> None:
        """Move the audit head to ``record_hash`` iff the record extends the last one this
        Aggregator countersigned (compare-and-set in one transaction: no fork, even racing)
        and no round this Aggregator collected between the two is left out of the log.

        Re-offering the current head (a retried request) is accepted unchanged.
        """
        with self._tx() as q:
            row = q(
                "SELECT seq, round, record_hash FROM audit_head WHERE task=?", (task,)
            ).fetchone()
            if row is not None and hmac.compare_digest(row[2], record_hash):
                return
            head_seq, head_round, head_hash = row if row is not None else (-1, -1, "0" * 64)
            if not hmac.compare_digest(prev, head_hash) or seq != head_seq + 1:
                raise ProtocolError(
                    "the record does not extend the last record this Helper countersigned "
                    f"(seq {head_seq})"
                )
            if rnd <= head_round:
                raise ProtocolError(f"round {rnd} does not follow round {head_round}")
            omitted = q(
                "SELECT round FROM rounds WHERE task=? AND status=? AND round>? AND round<? "
                "ORDER BY round",
                (task, COLLECTED, head_round, rnd),
            ).fetchall()
            if omitted:  # released rounds must all be logged, in order
                shown = ", ".join(str(r[0]) for r in omitted[:10])
                raise ProtocolError(f"round {shown} was collected but not logged before {rnd}")
            if row is None:
                cur = q(
                    "INSERT INTO audit_head (task, seq, round, record_hash) VALUES (?,?,?,?) "
                    "ON CONFLICT (task) DO NOTHING",
                    (task, seq, rnd, record_hash),
                )
            else:
                cur = q(
                    "UPDATE audit_head SET seq=?, round=?, record_hash=? "
                    "WHERE task=? AND record_hash=?",
                    (seq, rnd, record_hash, task, head_hash),
                )
            if cur.rowcount != 1:  # another worker moved the head first
                raise ProtocolError("the audit log moved on concurrently; not countersigned")

    def mark_collected(self, task: bytes, rnd: int) -> None:
        """The Leader's record that a round is done (it keeps no pending shares)."""
        with self._tx() as q:
            q(
                "INSERT INTO rounds (task, round, status) VALUES (?,?,?) "
                "ON CONFLICT (task, round) DO UPDATE SET status=excluded.status",
                (task, rnd, COLLECTED),
            )

    def collected_rounds(self, task: bytes, below: int) -> int:
        """How many rounds before ``below`` were collected (released: the DP ledger's count)."""
        with self._tx() as q:
            (n,) = q(
                "SELECT COUNT(*) FROM rounds WHERE task=? AND round<? AND status=?",
                (task, below, COLLECTED),
            ).fetchone()
        return int(n)

    def collected_share(self, task: bytes, rnd: int) -> bytes | None:
        with self._tx() as q:
            row = q(
                "SELECT agg_share_sealed FROM rounds WHERE task=? AND round=? AND status=?",
                (task, rnd, COLLECTED),
            ).fetchone()
        return self._open(row[0], _ctx(_AGG, task, rnd)) if row and row[0] is not None else None


class SqliteStore(StateStore):
    """SQLite state (WAL); ``path=":memory:"`` for an in-process Aggregator.

    Transactions are ``BEGIN IMMEDIATE``: writers on the same file, in this process or
    another, are serialised by SQLite's own lock (busy timeout 30 s).
    """

    def __init__(self, path: str | Path, identity: X25519Identity) -> None:
        super().__init__(identity)
        self._lock = threading.Lock()
        self.db = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=30
        )
        if str(path) != ":memory:":
            self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def _tx(self) -> Iterator[Query]:
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db.execute
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")


AggregatorStore = SqliteStore  # the historical name, kept for existing callers
