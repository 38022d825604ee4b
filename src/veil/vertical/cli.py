"""``veil party``: a non-label party's keys and its server (``keygen``, ``serve``).

Typer and the standard library only at the top: what a command drives (HEU, PSI,
uvicorn) is imported in its body, so ``veil --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path

import typer

from veil.aggregation.cli import stop_on_stdin_eof

app = typer.Typer(help="Vertical federation: a party's keys and its server.", no_args_is_help=True)


@app.command("keygen")
def keygen(
    name: str = typer.Option(..., "--name", help="the party's name (letters, digits, - and _)"),
    out: Path = typer.Option(..., "--out", help="folder for <name>.identity and <name>.card.json"),  # noqa: B008
) -> None:
    """A party's X25519 (sealing) and Ed25519 (signing) keys; share the card, keep the identity."""
    from veil.vertical.envelope import PartyIdentity  # lazy: cryptography, not for --help

    secret, card = PartyIdentity.generate(name).save(out)
    typer.echo(f"identity (secret, 0600): {secret}\ncard (share it): {card}")


@app.command("serve")
def serve(
    identity: Path = typer.Option(..., "--identity", help="this party's <name>.identity"),  # noqa: B008
    cards: Path = typer.Option(..., "--cards", help="folder with the label party's card"),  # noqa: B008
    guest: str = typer.Option(..., "--guest", help="the label party's name"),
    session: str = typer.Option(..., "--session", help="the federation's session id (32 hex)"),
    data: Path = typer.Option(..., "--data", help="this party's table (CSV)"),  # noqa: B008
    id_column: str = typer.Option(..., "--id-column", help="the column holding customer IDs"),
    columns: str = typer.Option("", "--columns", help="feature columns, comma-separated (all)"),
    state: Path = typer.Option(None, "--state", help="folder for resumable state"),  # noqa: B008
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8830, "--port"),
    stop_with_parent: bool = typer.Option(
        False, "--stop-with-parent", help="stop when standard input closes (demo, tests)"
    ),
) -> None:
    """Answer the label party's PSI, SecureBoost and hetero-LR messages over HTTP."""
    # lazy: uvicorn, starlette, HEU and PSI (≈0.5 s) only to serve
    import uvicorn

    from veil.vertical.party import load_host
    from veil.vertical.server import check_loopback, create_app
    from veil.vertical.tables import read_table

    check_loopback(host)
    chosen = [c for c in columns.split(",") if c] or None
    table = read_table(data, id_column, columns=chosen)
    party = load_host(identity, cards, guest, session, table, state)
    if stop_with_parent:
        stop_on_stdin_eof()
    uvicorn.run(create_app(party), host=host, port=port, log_level="warning")
