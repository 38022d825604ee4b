"""Five banks, one credit-risk model (``veil demo finance``, what ``make demo`` runs).

Data: modeldata's ``credit_data`` (4,454 real loan applicants, outcome good/bad; see
docs/datasets.md), 25% held out for evaluation, the rest split across five banks with
Dirichlet label skew — some banks lend mostly to good payers, others see many
defaults. Each bank proves it holds 100-5,000 applicants with a default rate of 5-60%.
The demo splits with Dirichlet(1.0) (bank default rates 11-48% under the default seed);
``--partition dirichlet:0.5`` or ``iid`` give the other settings of docs/fl.md's quality table.
Hyper-parameters (MLP 32-16, SGD momentum 0.9, lr 0.05 decaying 3% a round, 10 local
steps of 32 rows, 40 rounds) are the ones measured in docs/fl.md's quality table. With
``--record-dp`` (what ``make demo`` runs) the banks train logistic regression instead
(``record_dp_model``).
"""

from __future__ import annotations

from veil.fl.data import credit_risk
from veil.fl.models import ModelKind
from veil.fl.training import Optimizer, TrainConfig
from veil.scenarios.claims_step import AdmissionPolicy
from veil.scenarios.consortium import ScenarioSpec


def _load():
    return credit_risk()


SPEC = ScenarioSpec(
    name="finance",
    title="five banks train a credit-risk model without pooling their customers",
    institutions=("bank-a", "bank-b", "bank-c", "bank-d", "bank-e"),
    load=_load,
    positive="bad",
    policy=AdmissionPolicy(rows_min=100, rows_max=5000, rate_min_pct=5, rate_max_pct=60),
    model=ModelKind.MLP,
    hidden=(32, 16),
    train=TrainConfig(
        batch_size=32, lr=0.05, optimizer=Optimizer.SGD, momentum=0.9, local_steps=10
    ),
    rounds=40,
    quick_rounds=20,
    lr_decay=0.97,
    partition="dirichlet:1.0",
    # under DP-SGD (make demo): 66 parameters instead of 1,618 keep the signal above the
    # noise at ε = 8 per customer (docs/dp.md, "The main job")
    record_dp_model=(ModelKind.LOGREG, ()),
)
