"""``veil train --vertical a.csv b.csv [c.csv…]``: a vertical federation of your own tables,
one party per file, simulated on this machine (docs/vertical.md, *Your own tables*).

The file holding the ``--target`` column is the label party's; every other file is a host
(named after the file). IDs may be missing from any file: PSI aligns the people they share.
Because this machine holds every file, the report also gives the baselines no real party
could compute: the same model on the joined table, and the label party alone.
"""

from __future__ import annotations

import csv
import json
import re
import time
from pathlib import Path

from rich.console import Console

from veil.errors import ConfigError, DataError
from veil.scenarios.vertical_report import plot, summarise
from veil.vertical.baselines import baselines
from veil.vertical.federation import Federation, HostSpec
from veil.vertical.gbdt import GBDTConfig
from veil.vertical.hetero_lr import HeteroLRConfig
from veil.vertical.tables import read_table
from veil.vertical.training import VerticalSettings, run_guest

MODELS = {"secureboost": "secureboost", "logreg": "hetero_lr"}


def _header(path: Path) -> list[str]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            return next(csv.reader(handle), [])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from exc


def _party_name(path: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9_-]", "_", path.stem)[:64]
    return name or "party"


def train_files(
    files: list[Path],
    id_column: str,
    target: str,
    *,
    model: str = "secureboost",
    out: Path,
    positive: str | None = None,
    processes: bool = False,
    scheme: str = "paillier",
    trees: int = 10,
    depth: int = 3,
    epochs: int = 3,
    seed: int = 0,
) -> dict:
    """Train one vertical model over ``files`` and write ``report.json`` / ``report.png``."""
    if model not in MODELS:
        raise ConfigError(f"--model for --vertical is one of {', '.join(MODELS)}")
    if len(files) < 2:
        raise ConfigError("--vertical needs at least two tables, one per party")
    holders = [f for f in files if target in _header(f)]
    if len(holders) != 1:
        raise DataError(f"the target {target!r} must be a column of exactly one file "
                        f"(found in {len(holders)})")  # fmt: skip
    names = [_party_name(f) for f in files]
    if len(set(names)) != len(names):
        raise ConfigError("each party's file needs a distinct name")
    label_file = holders[0]
    guest_name = _party_name(label_file)
    hosts = [HostSpec(_party_name(f), f, id_column) for f in files if f != label_file]
    if MODELS[model] == "hetero_lr" and len(hosts) != 1:
        raise ConfigError("hetero LR trains two parties: give two files, or --model secureboost")
    guest = read_table(label_file, id_column, label=target, positive=positive)
    settings = VerticalSettings(
        models=(MODELS[model],), scheme=scheme, seed=seed,
        boost=GBDTConfig(n_trees=trees, max_depth=depth),
        lr=HeteroLRConfig(epochs=epochs, seed=seed),
    )  # fmt: skip
    start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    with Federation(out, hosts, processes=processes, guest=guest_name) as fed:
        run = run_guest(fed.channel, guest, settings, out, fed.resilient)
    full = run.report
    full["scenario"] = "train --vertical"
    full["baselines"] = baselines(run, guest, {h.name: h.read() for h in hosts}, settings)
    full["seconds"] = round(time.perf_counter() - start, 1)
    report = _summary_report(full, MODELS[model], guest_name)
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    plot(full, out / "report.png")
    summarise(full, Console())
    return report


def _summary_report(full: dict, key: str, label_party: str) -> dict:
    """The fields a script reads first (issue 16), then everything the run measured."""
    base = full["baselines"][key]
    return {
        "mode": "vertical",
        "model": key,
        "label_party": label_party,
        "intersection": {
            "size": full["alignment"]["rows"],
            "per_party": full["alignment"]["per_host"],
        },
        "test": {"auc": full["models"][key]["auc"], "rows": full["split"]["valid"]},
        "baselines": {
            "pooled": {"auc": base["pooled"]},
            "label_party_alone": {"auc": base["label_party_alone"]},
        },
        "seconds": full["seconds"],
        "bytes_sent": full["traffic"]["bytes_sent"],
        "bytes_received": full["traffic"]["bytes_received"],
        "run": full,
    }
