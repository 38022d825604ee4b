"""Three hospitals, one tumour classifier (``veil demo medical``).

Data: the Wisconsin Diagnostic Breast Cancer table bundled with scikit-learn (569 tumours,
30 cell-nucleus features, malignant/benign), 25% held out, the rest split across three
hospitals with Dirichlet(1.0) label skew. Each hospital proves it holds 30-1,000 cases
with a malignant rate of 5-95%.
"""

from __future__ import annotations

from veil.fl.data import breast_cancer
from veil.fl.models import ModelKind
from veil.fl.training import Optimizer, TrainConfig
from veil.scenarios.claims_step import AdmissionPolicy
from veil.scenarios.consortium import ScenarioSpec


def _load():
    return breast_cancer()


SPEC = ScenarioSpec(
    name="medical",
    title="three hospitals train a tumour classifier without sharing patient records",
    institutions=("hospital-a", "hospital-b", "hospital-c"),
    load=_load,
    positive="malignant",
    policy=AdmissionPolicy(rows_min=30, rows_max=1000, rate_min_pct=5, rate_max_pct=95),
    model=ModelKind.LOGREG,
    hidden=(),
    train=TrainConfig(batch_size=16, lr=0.05, optimizer=Optimizer.SGD, momentum=0.9, local_steps=5),
    rounds=30,
    quick_rounds=15,
    lr_decay=0.97,
    partition="dirichlet:1.0",
)
