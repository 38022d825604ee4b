"""State-store contract, run against SQLite and a real PostgreSQL server on 127.0.0.1.

Sealed secrets, replay memory and open rounds survive a restart; admission and round
finishing stay exactly-once when several workers (own connections, own threads) race.
"""

from __future__ import annotations

import os
import random
import threading
from collections import Counter

import pytest

from veil.aggregation.state_url import open_store
from veil.aggregation.store import Admission, SqliteStore, StateStore
from veil.crypto.hpke_keys import X25519Identity
from veil.errors import ConfigError, ProtocolError, VeilError

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.e2e)]


@pytest.fixture(params=BACKENDS)
def state_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'h.sqlite'}"
    return request.getfixturevalue("postgres_url")


def raw_bytes(url: str) -> bytes:
    """Everything the database holds at rest, as the operator of the database would see it."""
    if url.startswith("sqlite://"):
        path = url[len("sqlite://") :]
        return b"".join(open(p, "rb").read() for p in (path, path + "-wal") if os.path.exists(p))
    import psycopg

    out = []
    with psycopg.connect(url) as conn:
        for table, cols in (
            ("seen_reports", "task, report_id"),
            ("rounds", "task, verify_key_sealed, agg_share_sealed"),
            ("pending", "task, report_id, out_share_sealed"),
            ("collect_jobs", "task, job_sealed"),
        ):
            for row in conn.execute(f"SELECT {cols} FROM {table}"):
                out.extend(bytes(v) for v in row if v is not None)
    return b"|".join(out)


def test_restart_resumes_sealed_state(state_url):
    task = os.urandom(32)
    ident = X25519Identity.generate()
    s = open_store(state_url, ident)
    vk = os.urandom(48)
    secret = b"OUT-SHARE-" * 50
    rid = os.urandom(16)
    s.bind_verify_key(task, 1, vk)
    assert s.offer(task, rid, 1, "alice") is Admission.NEW
    s.put_pending(task, 1, rid, secret)
    s.close()
    raw = raw_bytes(state_url)
    assert task in raw  # the dump did see this task's rows
    assert b"OUT-SHARE-" not in raw and vk not in raw  # secrets are sealed at rest

    s = open_store(state_url, ident)
    assert s.load_pending(task, 1, rid) == secret
    assert s.offer(task, rid, 1, "alice") is Admission.RETRY  # a retry, same open round
    assert not s.admit(task, rid, 2, "alice")  # the same id in another round: replay
    with pytest.raises(ProtocolError, match="different verify key"):
        s.bind_verify_key(task, 1, os.urandom(48))
    s.finish_round(task, 1, b"AGG", 1)
    assert s.collected_share(task, 1) == b"AGG"
    assert b"AGG" not in raw_bytes(state_url).replace(task, b"")
    assert s.pending_ids(task, 1) == set()
    assert not s.admit(task, rid, 1, "alice")  # round collected: now a replay
    with pytest.raises(ProtocolError, match="already collected"):
        s.bind_verify_key(task, 1, vk)
    with pytest.raises(ProtocolError):
        s.finish_round(task, 1, b"AGG", 1)
    with pytest.raises(ProtocolError, match="not open"):
        s.put_pending(task, 1, rid, secret)  # no share slips into a collected round
    s.mark_collected(task, 7)
    assert s.round_status(task, 7) == "collected"
    s.close()


def test_another_identity_cannot_read_the_state(state_url):
    task = os.urandom(32)
    s = open_store(state_url, X25519Identity.generate())
    s.bind_verify_key(task, 1, b"k" * 48)
    s.close()
    s = open_store(state_url, X25519Identity.generate())
    with pytest.raises(VeilError):
        s.bind_verify_key(task, 1, b"k" * 48)
    s.close()


def _race(stores: list[StateStore], work) -> list:
    """Run ``work(store)`` on every store at once (one thread each); return the results."""
    barrier = threading.Barrier(len(stores))
    results: list = [None] * len(stores)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(stores[i], i)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return results


def test_concurrent_workers_admit_each_report_exactly_once(state_url):
    """Four workers, each with its own connection, offer the same 150 ids in different orders."""
    task, ident = os.urandom(32), X25519Identity.generate()
    workers = [open_store(state_url, ident) for _ in range(4)]
    ids = [os.urandom(16) for _ in range(150)]
    workers[0].bind_verify_key(task, 1, b"v" * 48)

    def offer_all(store: StateStore, i: int) -> list[tuple[bytes, Admission]]:
        order = ids[:]
        random.Random(i).shuffle(order)
        return [(rid, store.offer(task, rid, 1, f"c{i}")) for rid in order]

    results = [x for r in _race(workers, offer_all) for x in r]
    new = Counter(rid for rid, a in results if a is Admission.NEW)
    assert set(new) == set(ids) and set(new.values()) == {1}  # exactly one admission each
    assert Counter(a for _, a in results)[Admission.RETRY] == 3 * len(ids)

    # the same ids as a replay into the next round: every worker refuses every one
    replays = _race(workers, lambda s, i: [s.offer(task, rid, 2, "x") for rid in ids])
    assert {a for r in replays for a in r} == {Admission.REPLAY}

    # collection: exactly one worker finishes the round, the others find it collected
    for rid in ids[:10]:
        workers[0].put_pending(task, 1, rid, b"share")

    def finish(store: StateStore, i: int) -> bool:
        try:
            store.finish_round(task, 1, b"AGG%d" % i, 10)
            return True
        except ProtocolError:
            return False

    won = _race(workers, finish)
    assert won.count(True) == 1
    assert workers[3].collected_share(task, 1) == b"AGG%d" % won.index(True)
    assert workers[2].pending_ids(task, 1) == set()
    after = _race(workers, lambda s, i: [s.offer(task, rid, 1, "x") for rid in ids[:20]])
    assert {a for r in after for a in r} == {Admission.REPLAY}
    for w in workers:
        w.close()


def test_state_urls(tmp_path):
    ident = X25519Identity.generate()
    assert isinstance(open_store("sqlite://:memory:", ident), SqliteStore)
    s = open_store(f"sqlite://{tmp_path / 'a.sqlite'}", ident)
    assert (tmp_path / "a.sqlite").exists()
    s.close()
    assert isinstance(open_store(tmp_path / "b.sqlite", ident), SqliteStore)
    for bad in ("mysql://x@127.0.0.1/db", "sqlite://"):
        with pytest.raises(ConfigError):
            open_store(bad, ident)


def test_audit_view_contract(state_url):
    """Collected report ids (sealed) and the audit head: a compare-and-set that exactly one of
    several racing workers wins; the view survives a restart."""
    ident = X25519Identity.generate()
    task, ids = os.urandom(32), sorted(os.urandom(16) for _ in range(3))
    s = open_store(state_url, ident)
    s.bind_verify_key(task, 1, b"k" * 48)
    s.finish_round(task, 1, b"share", 3, list(reversed(ids)))
    assert s.collected_ids(task, 1, 16) == ids and s.collected_ids(task, 2, 16) is None
    s.close()
    workers = [open_store(state_url, ident) for _ in range(4)]
    wins: list[str] = []

    def advance(k: int) -> None:
        try:
            workers[k].advance_audit(task, "0" * 64, 0, 1, f"{k:064x}")
            wins.append(f"{k:064x}")
        except ProtocolError:
            pass

    threads = [threading.Thread(target=advance, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    s = open_store(state_url, ident)
    s.advance_audit(task, "0" * 64, 0, 1, wins[0])  # the same record again: accepted
    with pytest.raises(ProtocolError, match="does not extend"):
        s.advance_audit(task, "0" * 64, 0, 1, "e" * 64)  # a fork of record 0
    with pytest.raises(ProtocolError, match="does not follow"):
        s.advance_audit(task, wins[0], 1, 1, "f" * 64)
    s.advance_audit(task, wins[0], 1, 2, "f" * 64)
    assert s.collected_ids(task, 1, 16) == ids
    for w in [*workers, s]:
        w.close()


def test_leader_round_key_and_collect_job_survive_a_restart_sealed(state_url):
    """What a restarted Leader needs to redo a round: the verify key the Helper bound and
    the collect job it may already have answered; the first of each stays."""
    task, ident = os.urandom(32), X25519Identity.generate()
    s = open_store(state_url, ident)
    vk, job = os.urandom(48), b"COLLECT-JOB-" * 20
    assert s.verify_key_for(task, 2, vk) == vk
    assert s.verify_key_for(task, 2, os.urandom(48)) == vk
    s.save_job(task, 2, job)
    s.save_job(task, 2, b"another job")
    s.close()
    raw = raw_bytes(state_url)
    assert vk not in raw and b"COLLECT-JOB-" not in raw  # sealed at rest
    s = open_store(state_url, ident)
    assert s.verify_key_for(task, 2, os.urandom(48)) == vk
    assert s.load_job(task, 2) == job
    assert s.load_job(task, 3) is None
    s.close()


def test_collected_rounds_counts_released_rounds_before_a_round(state_url):
    task, ident = os.urandom(32), X25519Identity.generate()
    s = open_store(state_url, ident)
    for rnd in (1, 2, 4):
        s.mark_collected(task, rnd)
    s.verify_key_for(task, 3, os.urandom(48))  # open, not released
    s.mark_collected(os.urandom(32), 1)  # another task
    assert [s.collected_rounds(task, r) for r in (1, 2, 3, 4, 5)] == [0, 1, 2, 2, 3]
    s.close()


def test_a_blob_copied_to_another_task_or_round_is_refused(tmp_path):
    """Finding 10(d): every sealed blob is bound to its task, round (and report id); a
    database operator who copies one row's blob into another's gets an error, not a replay."""
    import sqlite3

    from veil.errors import IntegrityError

    ident = X25519Identity.generate()
    db = tmp_path / "h.sqlite"
    store = SqliteStore(db, ident)
    task, other = os.urandom(32), os.urandom(32)
    rid, rid2 = os.urandom(16), os.urandom(16)
    for t in (task, other):
        for rnd in (1, 2):
            store.bind_verify_key(t, rnd, bytes(48))
    store.put_pending(task, 1, rid, b"share of round 1")
    store.put_pending(task, 2, rid2, b"share of round 2")
    store.finish_round(task, 1, b"aggregate of round 1", 1, [rid])
    raw = sqlite3.connect(db, isolation_level=None)
    # round 1's released aggregate replayed as round 2's; round 1's share as round 2's report
    raw.execute(
        "UPDATE rounds SET status='collected', agg_share_sealed=(SELECT agg_share_sealed FROM "
        "rounds WHERE task=? AND round=1) WHERE task=? AND round=2",
        (task, task),
    )
    raw.execute(
        "INSERT INTO round_reports SELECT ?, 2, ids_sealed FROM round_reports WHERE task=?",
        (task, task),
    )
    raw.execute(
        "INSERT INTO pending SELECT ?, 2, ?, out_share_sealed FROM pending WHERE round=2",
        (other, rid2),
    )
    raw.execute(
        "UPDATE pending SET out_share_sealed=(SELECT out_share_sealed FROM pending WHERE "
        "task=? AND round=2 AND report_id=?) WHERE task=? AND round=2",
        (task, rid2, other),
    )
    raw.execute("UPDATE pending SET report_id=? WHERE task=? AND round=2", (rid, task))
    raw.execute(
        "UPDATE rounds SET verify_key_sealed=(SELECT verify_key_sealed FROM rounds WHERE "
        "task=? AND round=1) WHERE task=? AND round=1",
        (task, other),
    )
    raw.close()
    assert store.collected_share(task, 1) == b"aggregate of round 1"
    with pytest.raises(IntegrityError):
        store.collected_share(task, 2)
    with pytest.raises(IntegrityError):
        store.collected_ids(task, 2, 16)
    with pytest.raises(IntegrityError):
        store.load_pending(task, 2, rid)  # round 2's share under another report id
    with pytest.raises(IntegrityError):
        store.load_pending(other, 2, rid2)  # another task's share
    with pytest.raises(IntegrityError):
        store.verify_key_for(other, 1, bytes(48))  # another task's verify key
    store.close()
