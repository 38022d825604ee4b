"""SQLite state: sealed secrets, replay memory and open rounds survive a restart."""

from __future__ import annotations

import os

import pytest

from veil.aggregation.store import AggregatorStore
from veil.crypto.hpke_keys import X25519Identity
from veil.errors import ProtocolError, VeilError

TASK = os.urandom(32)


def test_restart_resumes_sealed_state(tmp_path):
    ident = X25519Identity.generate()
    db = tmp_path / "h.sqlite"
    s = AggregatorStore(db, ident)
    vk = os.urandom(48)
    secret = b"OUT-SHARE-" * 50
    s.bind_verify_key(TASK, 1, vk)
    assert s.admit(TASK, b"r" * 16, 1, "alice")
    s.put_pending(TASK, 1, b"r" * 16, secret)
    s.close()
    raw = db.read_bytes() + (
        db.with_suffix(".sqlite-wal").read_bytes()
        if db.with_suffix(".sqlite-wal").exists()
        else b""
    )
    assert b"OUT-SHARE-" not in raw and vk not in raw  # secrets are sealed at rest

    s = AggregatorStore(db, ident)
    assert s.load_pending(TASK, 1, b"r" * 16) == secret
    assert s.admit(TASK, b"r" * 16, 1, "alice")  # a retry in the same open round
    assert not s.admit(TASK, b"r" * 16, 2, "alice")  # the same id in another round: replay
    with pytest.raises(ProtocolError, match="different verify key"):
        s.bind_verify_key(TASK, 1, os.urandom(48))
    s.finish_round(TASK, 1, b"AGG", 1)
    assert s.collected_share(TASK, 1) == b"AGG"
    assert s.pending_ids(TASK, 1) == set()
    assert not s.admit(TASK, b"r" * 16, 1, "alice")  # round collected: now a replay
    with pytest.raises(ProtocolError, match="already collected"):
        s.bind_verify_key(TASK, 1, vk)
    with pytest.raises(ProtocolError):
        s.finish_round(TASK, 1, b"AGG", 1)
    s.close()


def test_another_identity_cannot_read_the_state(tmp_path):
    db = tmp_path / "h.sqlite"
    s = AggregatorStore(db, X25519Identity.generate())
    s.bind_verify_key(TASK, 1, b"k" * 48)
    s.close()
    s = AggregatorStore(db, X25519Identity.generate())
    with pytest.raises(VeilError):
        s.bind_verify_key(TASK, 1, b"k" * 48)
