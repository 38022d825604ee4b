"""What a run's report and terminal say about privacy (docs/dp.md).

The headline is the guarantee that means something for the run: with record-level DP-SGD,
ε per *customer* (one row), checked against δ ≤ 1/n. A client-level ε (verified
aggregation's noise, hiding one *institution's* whole update) is kept beside it, labelled
plainly when it is too large to mean anything — with five institutions it is ≈ 5·10⁴.
"""

from __future__ import annotations

import math

#: A client-level ε above this is reported, but labelled "not meaningful": at ε = 10 an
#: observer's odds of telling two neighbouring runs apart may already grow e¹⁰ ≈ 22,000×.
MEANINGFUL_EPSILON = 10.0


def label_client_level(privacy: dict, clients: int, unit: str = "institution") -> dict:
    """``privacy`` (client-level) with ``level``, ``meaningful`` and a one-line ``label``."""
    eps = privacy.get("epsilon")
    if eps is None:
        return {**privacy, "level": unit, "meaningful": False,
                "label": f"{unit}-level DP off (no noise)"}  # fmt: skip
    meaningful = math.isfinite(eps) and eps <= MEANINGFUL_EPSILON
    label = f"{unit}-level ε = {eps:.3g} at δ = {privacy['delta']:g}"
    one = privacy.get("epsilon_one_aggregator")
    if one is not None and math.isfinite(one):
        label += f" (ε = {one:.3g} against one curious aggregator)"
    if not meaningful:
        label += f" (not meaningful with {clients} {unit}s; see docs/dp.md)"
    return {**privacy, "level": unit, "meaningful": meaningful, "label": label}


def record_level(
    report: dict, result, record_dp, *, customers: int, clients: int, unit: str = "institution"
) -> dict:
    """Set ``report['privacy']`` to the record-level guarantee (the client-level one, if a
    verified-aggregation run put one there, under ``client_level``, labelled)."""
    client_level = report.get("privacy") if "secure" in report.get("config", {}) else None
    if client_level is not None:
        client_level = label_client_level(client_level, clients, unit)
    p = result.record_ledger.summary(record_dp, client_level)
    p["level"] = "customer (one row)"
    p["customers"] = customers
    p["delta_at_most_1_over_n"] = bool(p["delta"] <= 1.0 / max(customers, 1))
    report["privacy"] = p
    report["config"]["record_dp"] = record_dp.to_dict()
    return p


def headline(report: dict, *, clients: int, unit: str = "institution") -> list[str]:
    """The terminal's privacy lines: per customer first, then the client-level ε labelled."""
    p = report.get("privacy")
    if not p:
        return []
    rounds = len(report.get("rounds", []))
    lines = []
    if "customers" in p:  # record-level DP-SGD
        n = p["customers"]
        rel = "≤" if p["delta_at_most_1_over_n"] else "[red]> (weak: δ should be ≤ 1/n)[/]"
        lines.append(
            f"privacy per customer: ε = {p['epsilon']:.3g} at δ = {p['delta']:g} {rel} 1/n "
            f"(n = {n:,} customers) after {rounds} rounds; record-level DP-SGD, worst "
            f"{unit} (docs/dp.md)"
        )
        client = p.get("client_level")
    else:
        client = p if "label" in p else label_client_level(p, clients, unit)
    if client is not None and client.get("epsilon") is not None:
        lines.append(client["label"])
    return lines
