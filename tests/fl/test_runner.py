"""The embedded runner: bad clients left out with a reason, resume == uninterrupted."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pytest

import veil
from veil.errors import CheckpointError
from veil.fl.checkpoint import SealedCheckpointer, from_bytes, to_bytes
from veil.fl.models import ModelKind, ModelSpec
from veil.fl.runner import ArrayClient, RunConfig, RunState, run_federated
from veil.fl.strategies import FedAdam, FedAvg
from veil.fl.training import ClientUpdate, TrainConfig, evaluate

SPEC = ModelSpec(ModelKind.LOGREG, 4, 2)


def _shards(k=3, n=90, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(k):
        y = rng.integers(0, 2, n)
        x = (rng.normal(size=(n, 4)) + (2 * y[:, None] - 1)).astype(np.float32)
        out.append(ArrayClient(f"c{i}", SPEC, x, y))
    return out


def _ev(clients):
    x = np.vstack([c.x for c in clients])
    y = np.concatenate([c.y for c in clients])
    return lambda v: evaluate(SPEC, v, x, y)


@dataclass
class Bad:
    name: str
    mode: str

    def fit(self, vec, cfg, *, seed):
        if self.mode == "crash":
            raise RuntimeError("disk on fire")
        if self.mode == "slow":
            time.sleep(1.0)
            return ClientUpdate(vec, 10, 0.0)
        if self.mode == "nan":
            v = vec.copy()
            v[0] = np.nan
            return ClientUpdate(v, 10, 0.0)
        if self.mode == "shape":
            return ClientUpdate(np.zeros(3, np.float32), 10, 0.0)
        if self.mode == "count":
            return ClientUpdate(vec, 0, 0.0)
        return "not an update"


def test_bad_clients_are_left_out_with_reasons():
    good = _shards()
    bad = [Bad(f"b-{m}", m) for m in ("crash", "slow", "nan", "shape", "count", "junk")]
    cfg = RunConfig(rounds=2, client_timeout=0.3, train=TrainConfig(lr=0.05))
    res = run_federated(SPEC, [*good, *bad], FedAvg(), cfg, evaluate=_ev(good))
    clean = run_federated(
        SPEC, good, FedAvg(), RunConfig(rounds=2, train=TrainConfig(lr=0.05)), evaluate=_ev(good)
    )
    for rec in res.rounds:
        assert rec["accepted"] == ["c0", "c1", "c2"], rec["rejected"]
        reasons = {r["client"]: r["reason"] for r in rec["rejected"]}
        assert set(reasons) == {b.name for b in bad}
        assert "crashed: RuntimeError" in reasons["b-crash"]
        assert "timed out" in reasons["b-slow"]
        assert "NaN" in reasons["b-nan"]
        assert "wrong shape" in reasons["b-shape"]
        assert "sample count" in reasons["b-count"]
    # the bad clients changed nothing: same model as a run without them
    np.testing.assert_array_equal(res.vector, clean.vector)


def test_all_rejected_keeps_the_model():
    bad = [Bad("x", "crash")]
    res = run_federated(SPEC, bad, FedAvg(), RunConfig(rounds=1), evaluate=_ev(_shards()))
    assert res.rounds[0]["accepted"] == []
    assert res.rounds[0]["failure"] == "fewer than 1 valid updates; model unchanged"
    assert [r["client"] for r in res.rounds[0]["rejected"]] == ["x"]


@pytest.mark.parametrize("strategy", [FedAvg, FedAdam])
def test_resume_equals_uninterrupted(tmp_path, strategy):
    ident = veil.generate_identity("x25519")
    clients = _shards()
    ev = _ev(clients)
    cfg = RunConfig(rounds=4, seed=3, train=TrainConfig(lr=0.05), lr_decay=0.9)
    full = run_federated(SPEC, clients, strategy(), cfg, evaluate=ev)

    signer = veil.generate_identity("ed25519")
    ck = SealedCheckpointer(tmp_path / "ck.sealed", [ident.recipient()], [ident], signer=signer)
    run_federated(
        SPEC,
        clients,
        strategy(),
        RunConfig(**{**cfg.__dict__, "rounds": 2}),
        evaluate=ev,
        checkpointer=ck,
    )
    assert ck.load().round == 2
    resumed = run_federated(
        SPEC, clients, strategy(), cfg, evaluate=ev, checkpointer=ck, resume=True
    )
    np.testing.assert_array_equal(resumed.vector, full.vector)
    assert [r["round"] for r in resumed.rounds] == [1, 2, 3, 4]
    assert [r["metrics"] for r in resumed.rounds] == [r["metrics"] for r in full.rounds]


def test_corrupted_checkpoint_is_refused_and_left_alone(tmp_path):
    ident = veil.generate_identity("x25519")
    path = tmp_path / "ck.sealed"
    signer = veil.generate_identity("ed25519")
    ck = SealedCheckpointer(path, [ident.recipient()], [ident], signer=signer)
    clients = _shards()
    run_federated(
        SPEC, clients, FedAvg(), RunConfig(rounds=1), evaluate=_ev(clients), checkpointer=ck
    )
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 1
    path.write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match="corrupted"):
        run_federated(
            SPEC,
            clients,
            FedAvg(),
            RunConfig(rounds=3),
            evaluate=_ev(clients),
            checkpointer=ck,
            resume=True,
        )
    assert path.read_bytes() == bytes(blob)
    other = veil.generate_identity("x25519")
    with pytest.raises(CheckpointError, match="no identity"):
        SealedCheckpointer(path, [], [other], signer=signer).load()


def test_checkpoint_bytes_validation():
    st = RunState(1, np.ones(18, np.float32), {}, [{"round": 1}])
    back = from_bytes(to_bytes(st))
    np.testing.assert_array_equal(back.vector, st.vector)
    with pytest.raises(CheckpointError):
        from_bytes(b"\x00" * 4)
    with pytest.raises(CheckpointError):
        from_bytes(to_bytes(RunState(2, np.ones(18, np.float32), {}, [{"round": 1}])))
    from safetensors.numpy import save

    with pytest.raises(CheckpointError, match="not a veil"):
        from_bytes(save({"global": np.ones(2, np.float32)}))


def test_cnn_learns_digits_federated():
    from veil.fl import partition
    from veil.fl.data import digits
    from veil.fl.training import Optimizer

    x, y = digits()
    spec = ModelSpec(ModelKind.CNN, 64, 10, (4, 8))
    parts = partition.dirichlet(y[:1200], 3, 1.0, rng=np.random.default_rng(0))
    clients = [ArrayClient(f"c{k}", spec, x[p], y[p]) for k, p in enumerate(parts)]
    cfg = RunConfig(
        rounds=6, train=TrainConfig(epochs=2, lr=0.05, optimizer=Optimizer.SGD, momentum=0.9)
    )
    res = run_federated(
        spec, clients, FedAvg(), cfg, evaluate=lambda v: evaluate(spec, v, x[1200:], y[1200:])
    )
    assert res.rounds[-1]["metrics"]["accuracy"] > 0.85


def _saved_checkpoint(tmp_path, **kw):
    ident, signer = veil.generate_identity("x25519"), veil.generate_identity("ed25519")
    ck = SealedCheckpointer(
        tmp_path / "ck.sealed", [ident.recipient()], [ident], signer=signer, **kw
    )
    ck.save(RunState(1, np.ones(4, np.float32), {}, [{"round": 1}]))
    return ck, ident, signer


def test_checkpoint_of_another_run_or_signer_is_refused(tmp_path):
    """Signed by the run's key and bound to its run/task id: nothing else is taken up."""
    ck, ident, signer = _saved_checkpoint(tmp_path, run="task:aa")
    assert ck.load().round == 1
    same_key_other_task = SealedCheckpointer(ck.path, [], [ident], signer=signer, run="task:bb")
    with pytest.raises(CheckpointError, match="another run or task"):
        same_key_other_task.load()
    other_key = veil.generate_identity("ed25519")
    with pytest.raises(CheckpointError, match="not signed by this run's key"):
        SealedCheckpointer(ck.path, [], [ident], signer=other_key, run="task:aa").load()
    with pytest.raises(CheckpointError, match="no sender key"):
        SealedCheckpointer(ck.path, [], [ident], run="task:aa").load()
    with pytest.raises(CheckpointError, match="older checkpoint was put back"):
        SealedCheckpointer(ck.path, [], [ident], signer=signer, run="task:aa", min_round=2).load()
    ck.path.unlink()
    with pytest.raises(CheckpointError, match="missing"):
        SealedCheckpointer(ck.path, [], [ident], signer=signer, run="task:aa", min_round=1).load()


def test_old_unsigned_checkpoint_is_refused_with_a_clear_message(tmp_path):
    """A checkpoint of an older veil (format /1, sealed but unsigned) is not taken up."""
    ident, signer = veil.generate_identity("x25519"), veil.generate_identity("ed25519")
    old = to_bytes(RunState(1, np.ones(4, np.float32), {}, [{}])).replace(
        b"veil-fl-checkpoint/2", b"veil-fl-checkpoint/1"
    )
    path = tmp_path / "ck.sealed"
    path.write_bytes(veil.seal(old, [ident.recipient()]))
    ck = SealedCheckpointer(path, [], [ident], signer=signer)
    with pytest.raises(CheckpointError, match="not signed"):
        ck.load()
    path.write_bytes(veil.seal(old, [ident.recipient()], sign_with=signer))
    with pytest.raises(CheckpointError, match="older veil"):  # even if it were signed
        ck.load()
