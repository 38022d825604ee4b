"""Terminal display for the demos and ``veil train``: progress bar and tables (rich)."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from rich.table import Table

from veil.fl.round_record import RoundRecord


class Progress:
    """A rich progress bar advanced by the runner's per-round callback."""

    def __init__(self, con: Console, total: int) -> None:
        from rich.progress import (  # lazy: rich.progress only while a run is drawn
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

    def __enter__(self) -> Callable[[RoundRecord], None]:
        self.p.__enter__()

        def on_round(rec: RoundRecord) -> None:
            m = rec.metrics
            self.p.update(
                self.task,
                completed=rec.round,
                last=f"acc {m['accuracy']:.3f} auc {m['auc']:.3f}",
            )

        return on_round

    def __exit__(self, *exc: object) -> None:
        self.p.__exit__(*exc)


def _rejection_notes(rounds: list[dict]) -> str:
    """Each (who, why) once, with the rounds it happened in: the table's caption, so the
    table keeps a count column and fits 80 columns however many reasons there are."""
    seen: dict[tuple[str, str], list[int]] = {}
    for r in rounds:
        for x in r["rejected"]:
            seen.setdefault((x["client"], x["reason"]), []).append(r["round"])
        if r.get("failure"):
            seen.setdefault(("round", r["failure"]), []).append(r["round"])
    if not seen:
        return ""
    lines = [
        f"{who}: {why} ({_round_list(ns, len(rounds))})" for (who, why), ns in sorted(seen.items())
    ]
    return "✗ rejected — " + "; ".join(lines)


def _round_list(ns: list[int], total: int) -> str:
    if len(ns) == total:
        return "every round"
    if len(ns) > 4:
        return f"{len(ns)} rounds"
    return (
        "round " + ", ".join(map(str, ns)) if len(ns) == 1 else "rounds " + ", ".join(map(str, ns))
    )


def _epsilon_header(rounds: list[dict]) -> str | None:
    """The ε column: per customer (record-level DP-SGD) when on, else the client-level one."""
    if any("record_dp" in r for r in rounds):
        return "ε cust"
    if any(r.get("epsilon") is not None for r in rounds):
        return "ε inst"
    return None


def round_table(rounds: list[dict]) -> Table:
    """The per-round table: quality, reports accepted (ok) and rejected (✗, reasons in the
    caption), ε so far, time and bytes."""
    eps = _epsilon_header(rounds)
    caption = _rejection_notes(rounds)
    if eps == "ε cust":
        caption += ("\n" if caption else "") + "ε cust: per customer (record-level DP-SGD), so far"
    elif eps == "ε inst":
        caption += ("\n" if caption else "") + "ε inst: per institution (client-level), so far"
    t = Table(title="rounds", caption=caption or None, caption_justify="left")
    cols = ["round", "acc", "AUC", "loss", "ok", "✗", *([eps] if eps else []), "s", "bytes up"]
    for col in cols:
        t.add_column(col, justify="right")
    for r in rounds:
        m = r["metrics"]
        row = [
            str(r["round"]),
            f"{m['accuracy']:.4f}",
            f"{m['auc']:.4f}",
            f"{m['log_loss']:.4f}",
            str(len(r["accepted"])),
            str(len(r["rejected"])),
        ]
        if eps:
            e = r.get("epsilon")
            row.append("—" if e is None else f"{e:.3g}")
        t.add_row(*row, f"{r['seconds']:.2f}", f"{r['bytes_up']:,}")
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
