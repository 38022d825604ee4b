"""The vertical demo's three parties, cut from one real table by columns (``veil demo vertical``).

modeldata's ``credit_data`` (4,454 real loan applicants; docs/datasets.md) split the way a
bank, a shop and an employment agency would hold facts about the same people:

* **bank** (the label party): whether the loan went bad (``Status``), its own records of the
  applicant (``Records``, ``Debt``, ``Assets``) and of the loan (``Amount``, ``Price``, ``Time``);
* **shop** (an e-commerce platform): ``Age``, ``Marital``, ``Home``, ``Expenses``;
* **agency** (employment): ``Job``, ``Seniority``, ``Income``.

Each party holds its own customer list: the shop and the agency know only some of the bank's
applicants and also people the bank never saw (rows re-keyed from other applicants), and they
write the IDs their own way (lower case and spaces; full-width characters), which ID
normalisation absorbs. The bank never
learns who the others' other customers are; PSI finds the shared ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from veil.fl.data import credit_risk
from veil.vertical.tables import write_table

BANK = ("Records", "Debt", "Assets", "Amount", "Price", "Time")
SHOP = ("Age", "Marital", "Home", "Expenses")
AGENCY = ("Job", "Seniority", "Income")
LABEL, POSITIVE, ID = "Status", "bad", "customer_id"


@dataclass(frozen=True)
class PartyFile:
    name: str
    path: Path
    columns: tuple[str, ...]
    rows: int


@dataclass(frozen=True)
class Membership:
    """Who holds which applicant: a share of the bank's applicants plus outsiders."""

    shop_share: float = 0.85
    shop_outsiders: int = 500
    agency_share: float = 0.90
    agency_outsiders: int = 300


def write_parties(
    folder: Path, seed: int = 0, members: Membership | None = None
) -> dict[str, PartyFile]:
    """Write ``bank.csv``, ``shop.csv``, ``agency.csv`` into ``folder``; returns them by name."""
    members = members or Membership()
    frame = credit_risk().frame
    rng = np.random.default_rng(seed)
    n = len(frame)
    ids = [f"CUST-{i:06d}" for i in rng.permutation(np.arange(100_000, 100_000 + n))]
    out = {"bank": _write(folder, "bank", frame, list(range(n)), ids, (LABEL, *BANK), str)}
    spellings = {"shop": lambda s: f" {s.lower()} ", "agency": _fullwidth}
    plans = {
        "shop": (members.shop_share, members.shop_outsiders, SHOP),
        "agency": (members.agency_share, members.agency_outsiders, AGENCY),
    }
    for name, (share, outsiders, columns) in plans.items():
        shared = np.sort(rng.choice(n, size=round(share * n), replace=False))
        donors = rng.choice(n, size=outsiders, replace=True)  # other people's facts, new IDs
        rows = [*shared.tolist(), *donors.tolist()]
        keys = [ids[i] for i in shared] + [f"CUST-{900_000 + k:06d}" for k in range(outsiders)]
        order = rng.permutation(len(rows))
        spell = spellings[name]
        out[name] = _write(
            folder, name, frame, [rows[i] for i in order], [keys[i] for i in order], columns, spell
        )
    return out


def _write(folder, name, frame, rows, keys, columns, spell) -> PartyFile:
    sub = frame.iloc[rows][list(columns)]
    records = [
        [spell(key), *("" if _missing(v) else v for v in values)]
        for key, values in zip(keys, sub.itertuples(index=False), strict=True)
    ]
    path = folder / f"{name}.csv"
    write_table(path, [ID, *columns], records)
    return PartyFile(name, path, tuple(columns), len(records))


def _fullwidth(text: str) -> str:
    """The agency's system writes IDs in full-width forms (ＣＵＳＴ－…); NFKC folds them back."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))
