"""``veil demo … --evaluate-privacy``: the loss-threshold membership-inference attack
(:mod:`veil.fl.membership`) on the model the run released, and on the same configuration
trained the other way — without DP when the run had DP, with record-level DP-SGD at the
demo's default ε = 8 when it had none — so the report shows the attack's AUC beside ε.

Members: the admitted institutions' training rows; non-members: the held-out evaluation
rows (never trained on, same distribution), both cut to the same size. The comparison
model is trained in-process from the same seed, rounds, strategy, learning rates and
clients, without sealing, admission proofs or the Helper process (a client-level run's
comparison is plain FedAvg: the no-DP model). Its cost is one more federated training.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from rich.console import Console
from rich.table import Table

from veil.fl.membership import ATTACK, loss_threshold_attack
from veil.fl.record_dp import RecordDP
from veil.fl.runner import ArrayClient, run_federated
from veil.fl.strategies import make_strategy
from veil.fl.training import evaluate as evaluate_model


def evaluate(
    spec, res, cfg, strategy: str | None, admitted, test_df, report: dict, con: Console
) -> dict:
    """Attack the released model and a comparison model; add ``privacy_evaluation``."""
    xm = np.concatenate([c.arrays()[0] for c in admitted])
    ym = np.concatenate([c.arrays()[1] for c in admitted])
    non = res.prep.transform(test_df)
    con.print(f"[bold cyan]Privacy evaluation[/] ({ATTACK} membership inference, Yeom et al. 2018)")
    runs = [_entry(report, res.spec, res.result.vector, (xm, ym), non, cfg.seed)]
    released = report["final"]
    runs[0].update(model_auc=released["auc"], model_accuracy=released["accuracy"])
    runs[0]["released"] = True
    other_dp = None if runs[0]["dp"] != "none" else _default_record_dp(cfg.rounds)
    con.print(
        "  training the comparison model "
        + ("without DP" if other_dp is None else "with record-level DP-SGD (ε = 8)")
    )
    other = _train_comparison(spec, res, cfg, strategy, admitted, other_dp, non)
    runs.append(other)
    runs[-1].update(_attack_dict(res.spec, other.pop("_vec"), (xm, ym), non, cfg.seed))
    out = {
        "attack": ATTACK,
        "members_from": "the admitted institutions' training rows",
        "non_members_from": "the held-out evaluation rows (never trained on)",
        "runs": runs,
    }
    report["privacy_evaluation"] = out
    con.print(_table(runs))
    return out


def _dp_kind(report: dict) -> tuple[str, float | None]:
    cfg = report["config"]
    if "record_dp" in cfg:
        return "record-level", report["privacy"].get("epsilon")
    if "secure" in cfg:
        return "client-level", report.get("privacy", {}).get("epsilon")
    return "none", None


def _attack_dict(mspec, vec, members, non, seed: int) -> dict:
    r = loss_threshold_attack(mspec, vec, members, non, seed=seed)
    return r.to_dict()


def _entry(report: dict, mspec, vec, members, non, seed: int) -> dict:
    dp, eps = _dp_kind(report)
    return {"dp": dp, "epsilon": eps, **_attack_dict(mspec, vec, members, non, seed)}


def _default_record_dp(rounds: int):
    return RecordDP(target_epsilon=8.0, rounds=rounds)


def _train_comparison(spec, res, cfg, strategy, admitted, record_dp, non) -> dict:
    """The same federation, the other DP setting; returns its run entry (+ ``_vec``)."""
    strat = make_strategy(
        strategy or spec.strategy, **(spec.strategy_args if strategy is None else {})
    )
    clients = [ArrayClient(c.name, res.spec, *c.arrays()) for c in admitted]
    ccfg = replace(cfg, record_dp=record_dp)
    result = run_federated(res.spec, clients, strat, ccfg, evaluate=None)
    m = evaluate_model(res.spec, result.vector, *non)
    eps = None if result.record_ledger is None else result.record_ledger.epsilon
    return {
        "dp": "none" if record_dp is None else "record-level",
        "epsilon": eps,
        "model_auc": m.auc,
        "model_accuracy": m.accuracy,
        "released": False,
        "_vec": result.vector,
    }


def _table(runs: list[dict]) -> Table:
    t = Table(
        title=f"membership inference (loss threshold), {runs[0]['members']} members vs "
        f"{runs[0]['non_members']} non-members: attack AUC 0.5 = guessing"
    )
    for col in ("model", "DP", "ε", "attack AUC", "advantage", "model AUC"):
        t.add_column(col, no_wrap=True)
    for r in runs:
        eps = "∞" if r["epsilon"] is None else f"{r['epsilon']:.3g}"
        t.add_row(
            "released" if r["released"] else "comparison",
            r["dp"],
            eps,
            f"{r['auc']:.4f}",
            f"{r['advantage']:.4f}",
            f"{r['model_auc']:.4f}",
        )
    return t
