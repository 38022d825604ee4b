"""The loss-threshold membership-inference attack, and the demo's --evaluate-privacy."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from rich.console import Console

from veil.errors import DataError
from veil.fl.membership import attack_scores, balanced, loss_threshold_attack
from veil.fl.models import ModelKind, ModelSpec
from veil.fl.runner import ArrayClient, RunConfig, run_federated
from veil.fl.strategies import FedAvg
from veil.fl.training import Optimizer, TrainConfig, local_update


def _data(n: int, d: int, seed: int, flip: float = 0.25):
    """Noisy labels (a share ``flip`` flipped; 0.5 = pure noise): beyond the signal, a
    model can only fit members by memorising them."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    flipped = rng.random(n) < flip
    y[flipped] = 1 - y[flipped]
    return x, y


def _train(spec: ModelSpec, x, y, epochs: int):
    import torch

    from veil.fl.models import build_model
    from veil.fl.params import get_vector

    torch.set_num_threads(1)
    cfg = TrainConfig(epochs=epochs, batch_size=20, lr=0.01, optimizer=Optimizer.ADAM)
    vec = get_vector(build_model(spec, seed=0))
    return local_update(spec, vec, x, y, cfg, seed=1).vector


def test_attack_scores_known_values():
    # members' losses all below non-members': perfect attack
    r = attack_scores(np.array([0.1, 0.2, 0.3]), np.array([0.5, 0.9, 2.0]))
    assert r.auc == 1.0 and r.advantage == 1.0 and (r.members, r.non_members) == (3, 3)
    # reversed: the attack is always wrong
    r = attack_scores(np.array([1.0, 2.0]), np.array([0.1, 0.2]))
    assert r.auc == 0.0 and r.advantage == 0.0
    with pytest.raises(DataError):
        attack_scores(np.array([]), np.array([0.1]))
    with pytest.raises(DataError):
        attack_scores(np.array([np.nan]), np.array([0.1]))


def test_balanced_cuts_to_the_smaller_set():
    a = (np.arange(20, dtype=np.float32).reshape(10, 2), np.arange(10))
    b = (np.zeros((4, 2), np.float32), np.zeros(4, np.int64))
    (xa, ya), (_, yb) = balanced(a, b, seed=3)
    assert len(ya) == len(yb) == 4 and len(set(ya.tolist())) == 4
    assert (xa[:, 0] == 2 * ya).all()  # rows stay with their labels


def test_overfitted_model_leaks_and_unseen_data_does_not():
    spec = ModelSpec(ModelKind.MLP, 10, 2, (128, 128))
    members = _data(60, 10, seed=1, flip=0.5)
    non_members = _data(60, 10, seed=2, flip=0.5)
    vec = _train(spec, *members, epochs=200)
    leak = loss_threshold_attack(spec, vec, members, non_members)
    assert leak.auc > 0.75 and leak.advantage > 0.5
    # control: the same model, both sets unseen (same distribution) -> guessing
    fresh = _data(2000, 10, seed=3, flip=0.5)
    control = loss_threshold_attack(
        spec, vec, (fresh[0][:1000], fresh[1][:1000]), (fresh[0][1000:], fresh[1][1000:])
    )
    assert abs(control.auc - 0.5) < 0.06 and control.advantage < 0.12


def test_a_well_regularised_model_leaks_little():
    """Many rows, a small model, one pass: the loss gap (and the AUC) nearly vanish."""
    spec = ModelSpec(ModelKind.LOGREG, 10, 2)
    members = _data(3000, 10, seed=4)
    non_members = _data(3000, 10, seed=5)
    cfg = RunConfig(rounds=2, train=TrainConfig(batch_size=64, lr=0.05))
    res = run_federated(
        spec,
        [ArrayClient(f"c{i}", spec, members[0][i::3], members[1][i::3]) for i in range(3)],
        FedAvg(),
        cfg,
        evaluate=None,
    )
    r = loss_threshold_attack(spec, res.vector, members, non_members)
    assert abs(r.auc - 0.5) < 0.05


@pytest.mark.parametrize("record_dp", [True, False])
def test_demo_writes_privacy_evaluation(tmp_path, record_dp):
    """The released model's row first, then the same run the other way round."""
    from veil.scenarios import consortium, medical
    from veil.scenarios.cli import _privacy_options

    args = (medical.SPEC, False, 2, False, record_dp, 0, 8.0 if record_dp else None, 1e-5)
    _, rdp = _privacy_options(*args, None, None, None)
    out = tmp_path / "run"
    consortium.run(
        medical.SPEC,
        out=out,
        rounds=2,
        record_dp=rdp,
        evaluate_privacy=True,
        console=Console(file=io.StringIO(), width=120),
        explain=False,
    )
    ev = json.loads((out / "report.json").read_text())["privacy_evaluation"]
    assert ev["attack"] == "loss-threshold"
    released, other = ev["runs"] if record_dp else ev["runs"][::-1]
    assert released["dp"] == "record-level" and 0 < released["epsilon"] <= 8.0
    assert other["dp"] == "none" and other["epsilon"] is None
    assert ev["runs"][0]["released"] and not ev["runs"][1]["released"]
    for r in ev["runs"]:
        assert 0 <= r["auc"] <= 1 and 0 <= r["advantage"] <= 1
        assert r["members"] == r["non_members"] > 50
        assert r["model_auc"] > 0.8
