"""Terminal display for the demos and ``veil train``: progress bar and tables (rich)."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from rich.table import Table


class Progress:
    """A rich progress bar advanced by the runner's per-round callback."""

    def __init__(self, con: Console, total: int) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.p = Progress(
            TextColumn("  rounds"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[last]}"),
            console=con,
            transient=True,
        )
        self.task = self.p.add_task("train", total=total, last="")

    def __enter__(self) -> Callable[[dict], None]:
        self.p.__enter__()

        def on_round(rec: dict) -> None:
            m = rec["metrics"]
            self.p.update(
                self.task,
                completed=rec["round"],
                last=f"acc {m['accuracy']:.3f} auc {m['auc']:.3f}",
            )

        return on_round

    def __exit__(self, *exc: object) -> None:
        self.p.__exit__(*exc)


def _rejections(rejected: list[dict]) -> str:
    """Compact 'client: reason' cell; reasons are shortened so the table fits 80 columns."""
    if not rejected:
        return "0"
    return ", ".join(f"{x['client']}:{x['reason'].replace('_invalid', '')}" for x in rejected)


def round_table(rounds: list[dict]) -> Table:
    """The per-round table."""
    t = Table(title="rounds", show_lines=False)
    for col in ("round", "acc", "AUC", "loss", "ok", "rejected", "s", "bytes up"):
        t.add_column(col, justify="right")
    for r in rounds:
        m = r["metrics"]
        t.add_row(
            str(r["round"]),
            f"{m['accuracy']:.4f}",
            f"{m['auc']:.4f}",
            f"{m['log_loss']:.4f}",
            str(len(r["accepted"])),
            _rejections(r["rejected"]),
            f"{r['seconds']:.2f}",
            f"{r['bytes_up']:,}",
        )
    return t


def comparison_table(report: dict) -> Table:
    """Federated vs centralised vs each institution alone."""
    t = Table(title="final model on the held-out set")
    t.add_column("model")
    t.add_column("accuracy", justify="right")
    t.add_column("AUC", justify="right")
    f, c = report["final"], report["baselines"]["centralized"]
    t.add_row("[bold]federated[/]", f"{f['accuracy']:.4f}", f"{f['auc']:.4f}")
    t.add_row("centralised (pooled)", f"{c['accuracy']:.4f}", f"{c['auc']:.4f}")
    for name, m in report["baselines"]["local_only"].items():
        auc = m["auc"]
        t.add_row(f"{name} alone", f"{m['accuracy']:.4f}", "n/a" if auc != auc else f"{auc:.4f}")
    return t
