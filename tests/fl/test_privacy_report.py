"""The privacy headline and the per-round table: what a reader sees first must mean something."""

from __future__ import annotations

import io

from rich.console import Console

from veil.fl.display import round_table
from veil.fl.privacy_report import MEANINGFUL_EPSILON, headline, label_client_level


def test_client_level_epsilon_is_labelled_by_whether_it_means_anything():
    huge = label_client_level({"epsilon": 5.5e4, "delta": 1e-5}, 5)
    assert huge["meaningful"] is False and huge["level"] == "institution"
    assert huge["label"] == (
        "institution-level ε = 5.5e+04 at δ = 1e-05 (not meaningful with 5 institutions; "
        "see docs/dp.md)"
    )
    small = label_client_level({"epsilon": 4.0, "delta": 1e-6}, 2000, unit="device")
    assert small["meaningful"] is True and "not meaningful" not in small["label"]
    assert small["label"].startswith("device-level ε = 4")
    edge = label_client_level({"epsilon": MEANINGFUL_EPSILON * 1.01, "delta": 1e-5}, 5)
    assert edge["meaningful"] is False
    assert label_client_level({"epsilon": None, "delta": None}, 5)["meaningful"] is False


def test_headline_puts_the_per_customer_guarantee_first():
    inst = label_client_level({"epsilon": 5.5e4, "delta": 1e-5}, 5)
    rep = {
        "rounds": [{}] * 40,
        "privacy": {"epsilon": 7.998, "delta": 1e-5, "customers": 3340,
                    "delta_at_most_1_over_n": True, "client_level": inst},
    }  # fmt: skip
    first, second = headline(rep, clients=5)
    assert first.startswith("privacy per customer: ε = 8 at δ = 1e-05 ≤ 1/n")
    assert "n = 3,340 customers" in first and "after 40 rounds" in first
    assert second == inst["label"]
    rep["privacy"]["delta_at_most_1_over_n"] = False
    assert "δ should be ≤ 1/n" in headline(rep, clients=5)[0]
    assert headline({"privacy": inst, "rounds": []}, clients=5) == [inst["label"]]


def _round(r: int, rejected: list[dict], eps: float | None) -> dict:
    rec = {
        "round": r,
        "metrics": {"accuracy": 0.8, "auc": 0.84, "log_loss": 0.43},
        "accepted": ["bank-a", "bank-b", "bank-c"],
        "rejected": rejected,
        "seconds": 0.12,
        "bytes_up": 207_655,
        "epsilon": eps,
    }
    if eps is not None:
        rec["record_dp"] = {}
    return rec


def test_round_table_fits_80_columns_and_lists_each_reason_once():
    bad = [{"client": "bank-d", "reason": "update_invalid"},
           {"client": "bank-e", "reason": "bad_signature"}]  # fmt: skip
    rounds = [_round(r, bad if r < 40 else bad[:1], 0.2 * r) for r in range(1, 41)]
    rounds[4]["failure"] = "no verified aggregate"
    buf = io.StringIO()
    Console(file=buf, width=80).print(round_table(rounds))
    lines = buf.getvalue().splitlines()
    assert max(len(ln) for ln in lines) <= 80
    rows = [ln for ln in lines if ln.startswith("│")]
    assert len(rows) == 40  # no row wraps
    assert rows[0].split("│")[6].strip() == "2" and rows[39].split("│")[6].strip() == "1"
    text = " ".join(lines)
    assert text.count("update_invalid") == 1 and text.count("bad_signature") == 1
    assert "bank-e: bad_signature (39 rounds)" in text
    assert "bank-d: update_invalid (every round)" in text
    assert "round: no verified aggregate (round 5)" in text
    assert "ε cust" in text


def test_round_table_without_dp_or_rejections_has_no_epsilon_column():
    buf = io.StringIO()
    Console(file=buf, width=80).print(round_table([_round(1, [], None)]))
    assert "ε" not in buf.getvalue() and "rejected" not in buf.getvalue()
