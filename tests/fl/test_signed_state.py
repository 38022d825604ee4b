"""``--resume`` takes up only state files this run wrote (security review, issue 13, finding 1).

The checkpoint and ``aggregation/task.sealed`` are sealed to the consortium's *public*
recipient: anyone who can write the run folder could seal a model, keys or a noise setting
to it. Each test plays such an attacker against ``consortium.run(..., resume=True)`` and
checks that the file is refused with a typed error and left exactly as it was.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from rich.console import Console

import veil
from veil.aggregation.config import ConsortiumConfig
from veil.aggregation.fl_bridge import SecureOptions
from veil.aggregation.task_state import TaskKeys
from veil.crypto.keys import load_identities
from veil.errors import CheckpointError
from veil.fl.checkpoint import from_bytes, to_bytes
from veil.fl.runner import RunState
from veil.scenarios import consortium, medical
from veil.scenarios.secure_options import demo_options


def _quiet():
    return Console(file=open("/dev/null", "w"), width=120)


def _consortium_key(out):
    return load_identities([out / "keys" / "consortium.identity"])[0]


def _secure():
    return demo_options(noise_multiplier=0.0)


def _run(out, rounds, *, resume=False, secure=None):
    return consortium.run(
        medical.SPEC,
        out=out,
        rounds=rounds,
        resume=resume,
        console=_quiet(),
        secure=secure,
        explain=False,
    )


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("plain") / "run"
    _run(out, 2)
    return out


@pytest.fixture(scope="module")
def secure_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("secure") / "run"
    _run(out, 2, secure=_secure())
    return out


def _copy(src, tmp_path):
    dst = tmp_path / "run"
    shutil.copytree(src, dst)
    return dst


def _attacker_seal(out, plaintext: bytes, how: str) -> bytes:
    """Seal ``plaintext`` to the run's (public) consortium recipient, as anyone can."""
    recipient = _consortium_key(out).recipient()
    signer = veil.generate_identity("ed25519") if how == "attacker_signed" else None
    return veil.seal(plaintext, [recipient], sign_with=signer)


@pytest.mark.parametrize("how", ["unsigned", "attacker_signed"])
def test_resume_refuses_a_substituted_checkpoint(plain_run, tmp_path, how):
    out = _copy(plain_run, tmp_path)
    ck = out / "checkpoint.sealed"
    # the test peeks at the genuine state only to build a well-formed forgery of the same size
    real = from_bytes(veil.open(ck.read_bytes(), [_consortium_key(out)]))
    forged = RunState(real.round, np.full_like(real.vector, 0.5), real.strategy_state, real.history)
    ck.write_bytes(_attacker_seal(out, to_bytes(forged), how))
    before = ck.read_bytes()
    with pytest.raises(CheckpointError, match="not signed by this run's key"):
        _run(out, 3, resume=True)
    assert ck.read_bytes() == before


@pytest.mark.e2e  # starts the Helper process
@pytest.mark.parametrize("how", ["unsigned", "attacker_signed"])
def test_resume_refuses_a_substituted_task_state(secure_run, tmp_path, how):
    out = _copy(secure_run, tmp_path)
    task = out / "aggregation" / "task.sealed"
    public = ConsortiumConfig.load(out / "aggregation" / "consortium.toml")
    # the attacker's own task: their keys for every party, noise off
    theirs = TaskKeys.generate(
        list(public.clients), public.dimension, SecureOptions(clip_norm=100.0), z=0.0
    )
    task.write_bytes(_attacker_seal(out, theirs.to_bytes(), how))
    before = task.read_bytes()
    with pytest.raises(CheckpointError, match="not signed by this run's key"):
        _run(out, 3, resume=True, secure=_secure())
    assert task.read_bytes() == before


@pytest.mark.e2e
def test_resume_refuses_a_genuine_checkpoint_of_another_task(secure_run, tmp_path):
    out = _copy(secure_run, tmp_path)
    # another run with the very same keys (signing key included), hence another task id
    other = tmp_path / "other"
    shutil.copytree(out / "keys", other / "keys")
    _run(other, 2, resume=True, secure=_secure())
    shutil.copyfile(other / "checkpoint.sealed", out / "checkpoint.sealed")
    before = (out / "checkpoint.sealed").read_bytes()
    with pytest.raises(CheckpointError, match="another run or task"):
        _run(out, 3, resume=True, secure=_secure())
    assert (out / "checkpoint.sealed").read_bytes() == before


@pytest.mark.e2e
def test_resume_refuses_an_older_checkpoint_of_the_same_task(tmp_path):
    out = tmp_path / "run"
    _run(out, 1, secure=_secure())
    round_one = (out / "checkpoint.sealed").read_bytes()
    _run(out, 3, resume=True, secure=_secure())  # the audit log now holds rounds 1-3
    (out / "checkpoint.sealed").write_bytes(round_one)  # genuine, signed, but rolled back
    log = (out / "audit.log").read_bytes()
    with pytest.raises(CheckpointError, match="older checkpoint was put back"):
        _run(out, 4, resume=True, secure=_secure())
    assert (out / "checkpoint.sealed").read_bytes() == round_one
    assert (out / "audit.log").read_bytes() == log
