"""``veil dev …``: developer commands of the VDAF pillar (conformance vectors)."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(
    name="dev",
    help="Developer tools: run the official conformance vectors.",
    no_args_is_help=True,
)


@app.command("vectors")
def vectors_cmd(
    dirs: list[Path] = typer.Argument(  # noqa: B008
        ..., help="Folders holding Prio3*.json, Pine*.json and Xof*.json vector files."
    ),
) -> None:
    """Run every VDAF vector file in DIRS, byte for byte; one line per file."""
    # lazy: numpy, PyCryptodome and the VDAFs (≈0.2 s), not for `veil --help`
    from veil.vdaf import vectors

    try:
        files = vectors.collect(dirs)
    except FileNotFoundError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    passed = failed = 0
    for path in files:
        res = vectors.run_file(path)
        status = "PASS" if res.ok else "FAIL"
        typer.echo(f"{status}  {path.parent.name}/{path.name}  {res.detail}")
        passed += res.ok
        failed += not res.ok
    typer.echo(f"{passed} passed, {failed} failed")
    if failed or not files:
        raise typer.Exit(1)
