"""The sealed task state a resumed Leader takes up again (``aggregation/task.sealed``)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from veil.aggregation.fl_bridge import SecureOptions
from veil.aggregation.task_state import TASK_STATE, StateKeys, TaskKeys, task_keys
from veil.crypto.hpke_keys import X25519Identity
from veil.crypto.seal import seal
from veil.crypto.signing import Ed25519Identity
from veil.errors import CheckpointError

NAMES = ["bank-a", "bank-b"]


@pytest.fixture
def saved(tmp_path):
    x = X25519Identity.generate()
    owner = StateKeys([x.recipient()], [x], Ed25519Identity.generate())
    keys = TaskKeys.generate(NAMES, 40, SecureOptions(clip_norm=0.5), z=0.1)
    keys.save(tmp_path / TASK_STATE, owner)
    return tmp_path, owner, keys


def test_round_trip_keeps_the_task_and_every_key(saved):
    folder, owner, keys = saved
    back = TaskKeys.load(folder / TASK_STATE, owner)
    assert back.cfg == keys.cfg
    assert back.leader_hpke.recipient() == keys.leader_hpke.recipient()
    assert back.helper_sig.recipient() == keys.helper_sig.recipient()
    assert {n: k.recipient() for n, k in back.clients.items()} == {
        n: k.recipient() for n, k in keys.clients.items()
    }
    blob = (folder / TASK_STATE).read_bytes()
    assert keys.cfg.task_id.hex().encode() not in blob  # sealed, not plain JSON
    assert oct((folder / TASK_STATE).stat().st_mode & 0o777) == "0o600"


def test_another_identity_or_a_flipped_bit_does_not_open(saved):
    folder, owner, _ = saved
    with pytest.raises(CheckpointError):
        other = X25519Identity.generate()
        TaskKeys.load(folder / TASK_STATE, replace(owner, identities=[other]))
    path = folder / TASK_STATE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError):
        TaskKeys.load(path, owner)


def test_keys_of_another_task_are_refused(saved):
    keys = saved[2]
    other = TaskKeys.generate(NAMES, 40, SecureOptions(), z=0.0)
    with pytest.raises(CheckpointError, match="do not match"):
        TaskKeys.from_bytes(replace(keys, leader_sig=other.leader_sig).to_bytes())


def test_resume_refuses_another_model_size_or_other_clients(saved):
    folder, ring, _ = saved
    assert task_keys(folder, NAMES, 40, ring, resume=True) is not None
    assert task_keys(folder, NAMES, 40, ring, resume=False) is None
    with pytest.raises(CheckpointError):
        task_keys(folder, NAMES, 41, ring, resume=True)
    with pytest.raises(CheckpointError):
        task_keys(folder, [*NAMES, "bank-c"], 40, ring, resume=True)


@pytest.mark.parametrize("how", ["unsigned", "attacker_signed"])
def test_a_task_state_not_signed_by_the_run_is_refused(saved, how):
    """Anyone can seal a task (their keys, noise off) to the public recipient: refused."""
    folder, ring, _ = saved
    theirs = TaskKeys.generate(NAMES, 40, SecureOptions(clip_norm=100.0), z=0.0)
    signer = Ed25519Identity.generate() if how == "attacker_signed" else None
    path = folder / TASK_STATE
    path.write_bytes(seal(theirs.to_bytes(), ring.recipients, sign_with=signer))
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match="not signed by this run's key"):
        task_keys(folder, NAMES, 40, ring, resume=True)
    assert path.read_bytes() == before


def test_a_signed_task_state_of_another_task_is_refused_when_a_task_is_expected(saved):
    folder, ring, keys = saved
    assert TaskKeys.load(folder / TASK_STATE, ring, keys.cfg.task_id).cfg == keys.cfg
    with pytest.raises(CheckpointError, match="another task"):
        TaskKeys.load(folder / TASK_STATE, ring, bytes(32))
