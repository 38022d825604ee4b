"""Vertical federations on real data: parties hold different columns of the same people
(``veil demo retail``, ``veil demo government``; docs/vertical.md).

The label party drives; every other party runs ``veil party serve`` on 127.0.0.1
(``--in-process`` keeps them in this process). PSI aligns the lists; SecureBoost trains with
every party and hetero logistic regression with the label party and one other; one party's
process is killed (SIGKILL) in the middle of SecureBoost and the run resumes from the last
completed tree. The report compares each model with the same model on the joined table in
one place (which no party could build: the simulation's yardstick) and with the label party
alone, and says what the model learned from whom.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console

from veil.scenarios.vertical_data import GOVERNMENT, ID, RETAIL, DataPlan, write_parties
from veil.scenarios.vertical_report import plot, summarise
from veil.vertical.baselines import baselines
from veil.vertical.federation import Federation, HostSpec
from veil.vertical.gbdt import GBDTConfig
from veil.vertical.hetero_lr import HeteroLRConfig
from veil.vertical.server import HostUnreachable
from veil.vertical.tables import read_table
from veil.vertical.training import VerticalSettings, run_guest

console = Console()


@dataclass(frozen=True)
class VerticalDemo:
    plan: DataPlan
    title: str
    lr_host: str  # the party hetero LR trains with (two parties)
    crash: str  # the party killed mid-SecureBoost


DEMOS = {
    "retail": VerticalDemo(RETAIL, "a bank and an e-commerce platform", "platform", "platform"),
    "government": VerticalDemo(
        GOVERNMENT, "the health, tax and census departments", "census", "tax"
    ),
}


def settings_for(demo: VerticalDemo, quick: bool, seed: int, scheme: str) -> VerticalSettings:
    boost = GBDTConfig(n_trees=4 if quick else 10, max_depth=3, learning_rate=0.3)
    lr = HeteroLRConfig(epochs=1 if quick else 3, batch_size=64, learning_rate=0.15, l2=0.001,
                        seed=seed)  # fmt: skip
    return VerticalSettings(scheme=scheme, seed=seed, boost=boost, lr=lr, lr_host=demo.lr_host,
                            label_minimum=100)  # fmt: skip


def crash_once(fed: Federation, party: str, kind: str, nth: int):
    """Kill ``party`` just before the label party's ``nth`` ``kind`` message to it."""
    seen = {"count": 0, "done": False}

    def hook(to: str, what: str) -> None:
        if seen["done"] or to != party or what != kind:
            return
        seen["count"] += 1
        if seen["count"] == nth:
            seen["done"] = True
            how = "killed (SIGKILL)" if fed.processes else "lost its memory"
            console.print(f"  [red]✗ {party} {how}[/] before tree {nth}; resuming")
            fed.crash(party)
            if not fed.processes:  # in process the next call would reach a fresh host
                raise HostUnreachable(f"{party} crashed")

    return hook


def run(
    demo: VerticalDemo | str,
    out: Path,
    *,
    quick: bool = False,
    seed: int = 0,
    processes: bool = True,
    crash: bool = True,
    scheme: str = "paillier",
) -> dict:
    demo = DEMOS[demo] if isinstance(demo, str) else demo
    plan = demo.plan
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    paths = write_parties(plan, out / "data", seed)
    guest = read_table(paths[plan.label_party], ID, label=plan.label, positive=plan.positive)
    hosts = [p.name for p in plan.parties[1:]]
    settings = settings_for(demo, quick, seed, scheme)
    where = "processes" if processes else "in process"
    console.rule(f"[bold]veil demo {plan.name}[/] — {demo.title}, {where}, HE {scheme}")
    specs = [HostSpec(name, paths[name], ID) for name in hosts]
    with Federation(out, specs, processes=processes, guest=plan.label_party) as fed:
        if crash:
            fed.channel.before_call = crash_once(fed, demo.crash, "sb.tree", nth=3)
        guest_run = run_guest(fed.channel, guest, settings, out, fed.resilient)
    report = guest_run.report
    report["scenario"] = plan.name
    tables = {name: read_table(paths[name], ID) for name in hosts}
    report["baselines"] = baselines(guest_run, guest, tables, settings)
    report["seconds"] = round(time.perf_counter() - start, 1)
    report["processes"] = processes
    (out / "report.json").write_text(json.dumps(report, indent=1, default=_plain) + "\n")
    plot(report, out / "report.png")
    summarise(report, console)
    return report


def _plain(value: object) -> object:
    if isinstance(value, np.integer | np.floating):
        return value.item()
    raise TypeError(type(value).__name__)
