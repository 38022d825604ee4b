"""The ``veil`` command line (typer + rich).

Sub-command groups live beside the code they drive (``veil.zk.cli``, ``veil.vdaf.cli``,
``veil.fl.cli``…) and are attached here. Heavy imports (torch, flwr) stay inside the
commands, so ``veil --help`` is fast.

Exit codes: 0 success; 1 integrity failure (tampered, truncated, bad signature, proof
rejected); 2 usage or configuration error; 3 no matching identity / wrong passphrase;
4 malformed input (file format, key format).
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from veil.errors import VeilError
from veil.vdaf.cli import app as vdaf_dev_app

app = typer.Typer(
    name="veil",
    help="Privacy-preserving AI infrastructure: seal data, prove claims, train federated.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err_console = Console(stderr=True)


@app.command()
def version() -> None:
    """Print veil's version."""
    from veil import __version__

    typer.echo(__version__)


app.add_typer(vdaf_dev_app, name="dev")


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


if __name__ == "__main__":
    main()
