"""Admission claims: each institution proves facts about its shard in zero knowledge.

Per institution, with ``n`` its row count and ``d`` its positive-class count (defaults in
finance, malignant tumours in medicine), the statements are:

* ``rows in [n_min, n_max]`` — the consortium's admission range (Bulletproofs range proof);
* ``60·n − 100·d − s_hi = 0`` and ``s_hi in [0, 2^32)`` — i.e. ``d/n ≤ rate_max``;
* ``100·d − 5·n − s_lo = 0`` and ``s_lo in [0, 2^32)`` — i.e. ``d/n ≥ rate_min``

(with the percentages from the scenario). ``Linear`` holds modulo the group order; the
range claims on ``n``, ``d`` and both slacks keep every term far below it, so the integer
inequalities follow. The verifier (the consortium) checks each bundle against the
statements it expects and learns nothing else about ``n`` or ``d``.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.util import find_spec

from veil.errors import FormatError, ProofError


@dataclass(frozen=True)
class AdmissionPolicy:
    """The consortium's admission rules (integer percentages)."""

    rows_min: int
    rows_max: int
    rate_min_pct: int
    rate_max_pct: int


def statements(policy: AdmissionPolicy) -> list:
    """The public statements every institution must prove."""
    # lazy: the zk pillar may be left out of a build (see available()); rbcl ≈0.2 s
    from veil.zk import claims

    p = policy
    return [
        claims.Range("rows", p.rows_min, p.rows_max, name="sample count within admission range"),
        claims.Range("positives", 0, p.rows_max, name="positive count is a count"),
        claims.Linear(
            {"rows": p.rate_max_pct, "positives": -100, "slack_hi": -1},
            0,
            name=f"positive rate <= {p.rate_max_pct}%",
        ),
        claims.Range("slack_hi", 0, (1 << 32) - 1, name="upper slack non-negative"),
        claims.Linear(
            {"positives": 100, "rows": -p.rate_min_pct, "slack_lo": -1},
            0,
            name=f"positive rate >= {p.rate_min_pct}%",
        ),
        claims.Range("slack_lo", 0, (1 << 32) - 1, name="lower slack non-negative"),
    ]


def prove(policy: AdmissionPolicy, rows: int, positives: int, context: bytes) -> bytes:
    """An institution's proof bundle (bytes), made on its own side from its own counts."""
    # lazy: the zk pillar may be left out of a build (see available()); rbcl ≈0.2 s
    from veil.zk import claims

    secrets = {
        "rows": rows,
        "positives": positives,
        "slack_hi": policy.rate_max_pct * rows - 100 * positives,
        "slack_lo": 100 * positives - policy.rate_min_pct * rows,
    }
    return claims.prove(secrets, statements(policy), context=context).to_bytes()


def verify(policy: AdmissionPolicy, bundle: bytes, context: bytes) -> tuple[bool, str]:
    """The consortium's check: (True, "") or (False, the failing claim)."""
    # lazy: the zk pillar may be left out of a build (see available()); rbcl ≈0.2 s
    from veil.zk import claims

    try:
        claims.verify(
            claims.ProofBundle.from_bytes(bundle), context=context, expected=statements(policy)
        )
    except ProofError as exc:
        return False, str(exc)
    except FormatError as exc:
        return False, f"malformed bundle: {exc}"
    return True, ""


def available() -> bool:
    """Whether the zero-knowledge claims pillar is installed in this build."""
    return find_spec("veil.zk.claims") is not None
