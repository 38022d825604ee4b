"""A bank, a shop and an employment agency train one credit-risk model on the same people
without showing each other their columns (``veil demo vertical``; docs/vertical.md).

The bank is the label party. The shop and the agency each run ``veil party serve`` on
127.0.0.1 (``--in-process`` keeps them in this process). PSI aligns the three customer lists;
SecureBoost trains with all three parties and hetero logistic regression with the bank and
the agency; the shop's process is killed in the middle of SecureBoost and the run resumes
from the last completed tree. The report compares each model with the same model trained on
the joined table in one place (which no party could do: it is the simulation's yardstick)
and with the bank alone.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from rich.console import Console

from veil.scenarios.vertical_data import ID, LABEL, POSITIVE, write_parties
from veil.scenarios.vertical_report import HOSTS, baselines, plot, summarise
from veil.vertical.federation import Federation, HostSpec
from veil.vertical.gbdt import GBDTConfig
from veil.vertical.hetero_lr import HeteroLRConfig
from veil.vertical.server import HostUnreachable
from veil.vertical.tables import read_table
from veil.vertical.training import VerticalSettings, run_guest

console = Console()


def settings_for(quick: bool, seed: int, scheme: str) -> VerticalSettings:
    boost = GBDTConfig(n_trees=4 if quick else 10, max_depth=3, learning_rate=0.3)
    lr = HeteroLRConfig(epochs=1 if quick else 3, batch_size=64, learning_rate=0.15, l2=0.001,
                        seed=seed)  # fmt: skip
    return VerticalSettings(scheme=scheme, seed=seed, boost=boost, lr=lr, lr_host="agency")


def crash_once(fed: Federation, party: str, kind: str, nth: int):
    """Kill ``party`` just before the label party's ``nth`` ``kind`` message to it."""
    seen = {"count": 0, "done": False}

    def hook(to: str, what: str) -> None:
        if seen["done"] or to != party or what != kind:
            return
        seen["count"] += 1
        if seen["count"] == nth:
            seen["done"] = True
            console.print(f"  [red]✗ {party} crashed[/] (SIGKILL) before tree {nth}; resuming")
            fed.crash(party)
            if not fed.processes:  # in process the next call would reach a fresh host
                raise HostUnreachable(f"{party} crashed")

    return hook


def run(
    out: Path,
    *,
    quick: bool = False,
    seed: int = 0,
    processes: bool = True,
    crash: bool = True,
    scheme: str = "ou",
) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    files = write_parties(out / "data", seed)
    bank = read_table(files["bank"].path, ID, label=LABEL, positive=POSITIVE)
    specs = [HostSpec(name, files[name].path, ID) for name in HOSTS]
    settings = settings_for(quick, seed, scheme)
    console.print(f"[bold]veil demo vertical[/]: bank (labels) + shop + agency, "
                  f"{'processes' if processes else 'in process'}, HE {scheme}")  # fmt: skip
    with Federation(out, specs, processes=processes, guest="bank") as fed:
        if crash:
            fed.channel.before_call = crash_once(fed, "shop", "sb.tree", nth=3)
        guest_run = run_guest(fed.channel, bank, settings, out, fed.resilient)
    report = guest_run.report
    report["baselines"] = baselines(guest_run, bank, files, settings)
    report["seconds"] = round(time.perf_counter() - start, 1)
    report["processes"] = processes
    (out / "report.json").write_text(json.dumps(report, indent=1, default=_plain) + "\n")
    plot(report, out / "report.png")
    summarise(report)
    return report


def _plain(value: object) -> object:
    if isinstance(value, np.integer | np.floating):
        return value.item()
    raise TypeError(type(value).__name__)
