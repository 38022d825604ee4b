"""Membership inference by loss threshold: how much does the released model leak about
who was in the training data?

The attack (Yeom, Giacomelli, Fredrikson, Jha, "Privacy Risk in Machine Learning:
Analyzing the Connection to Overfitting", CSF 2018, §3.2 / Adversary 2 with a threshold):
an example whose loss under the model is low was probably trained on. The score of an
example is −loss; sweeping the threshold over all scores gives a ROC curve whose AUC is
the attack's success (0.5 = guessing) and whose best point gives the membership
advantage TPR − FPR (Yeom et al., Def. 4), which ε-DP bounds by e^ε − 1. It needs one
forward pass of the released model — no shadow models (Shokri et al., S&P 2017), so it is
cheap enough to run in every demo; it is a lower bound on what a stronger attacker gets.

Members are rows the clients trained on; non-members are rows from the same distribution
the model never saw (the demo's held-out split). Both sets are cut to the same size, so
the AUC and the advantage are those of a balanced prior.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from veil.errors import DataError
from veil.fl.training import _check_xy, predict_proba

if TYPE_CHECKING:
    from veil.fl.models import ModelSpec

ATTACK = "loss-threshold"


@dataclass(frozen=True)
class AttackResult:
    """The attack's success on one model."""

    auc: float
    advantage: float  # max over thresholds of TPR − FPR
    members: int
    non_members: int

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)


def per_example_loss(spec: ModelSpec, vec: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Cross-entropy of each row under the model (one batched forward pass)."""
    x, y = _check_xy(spec, x, y)
    proba = predict_proba(spec, vec, x)
    return -np.log(np.clip(proba[np.arange(len(y)), y], 1e-12, 1.0))


def attack_scores(member_loss: np.ndarray, non_member_loss: np.ndarray) -> AttackResult:
    """AUC and best advantage of the score −loss at telling members from non-members."""
    from sklearn.metrics import (  # lazy: scikit-learn (≈1 s) only for this step
        roc_auc_score,
        roc_curve,
    )

    m = np.asarray(member_loss, dtype=np.float64)
    n = np.asarray(non_member_loss, dtype=np.float64)
    if m.size == 0 or n.size == 0:
        raise DataError("the attack needs members and non-members")
    if not (np.isfinite(m).all() and np.isfinite(n).all()):
        raise DataError("a loss is NaN or infinite")
    labels = np.concatenate([np.ones(m.size), np.zeros(n.size)])
    scores = -np.concatenate([m, n])
    fpr, tpr, _ = roc_curve(labels, scores)
    return AttackResult(
        auc=float(roc_auc_score(labels, scores)),
        advantage=float(np.max(tpr - fpr)),
        members=int(m.size),
        non_members=int(n.size),
    )


def balanced(
    members: tuple[np.ndarray, np.ndarray],
    non_members: tuple[np.ndarray, np.ndarray],
    *,
    seed: int = 0,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Both sets cut (uniformly at random, seeded) to the smaller one's size."""
    k = min(len(members[1]), len(non_members[1]))
    rng = np.random.default_rng(seed)

    def cut(xy):
        x, y = xy
        if len(y) == k:
            return x, y
        idx = np.sort(rng.choice(len(y), size=k, replace=False))
        return x[idx], y[idx]

    return cut(members), cut(non_members)


def loss_threshold_attack(
    spec: ModelSpec,
    vec: np.ndarray,
    members: tuple[np.ndarray, np.ndarray],
    non_members: tuple[np.ndarray, np.ndarray],
    *,
    seed: int = 0,
) -> AttackResult:
    """Run the attack on the model ``vec`` with balanced member / non-member sets."""
    (xm, ym), (xn, yn) = balanced(members, non_members, seed=seed)
    return attack_scores(per_example_loss(spec, vec, xm, ym), per_example_loss(spec, vec, xn, yn))
