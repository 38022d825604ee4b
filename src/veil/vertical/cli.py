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
    min_class_rows: int = typer.Option(
        30, "--min-class-rows", help="policy: the label party must prove ≥ N rows per class"
    ),
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
    party = load_host(identity, cards, guest, _session(session), table, state, min_class_rows)
    if stop_with_parent:
        stop_on_stdin_eof()
    uvicorn.run(create_app(party), host=host, port=port, log_level="warning")


@app.command("train")
def train(
    identity: Path = typer.Option(..., "--identity", help="the label party's <name>.identity"),  # noqa: B008
    cards: Path = typer.Option(..., "--cards", help="folder with every host's card"),  # noqa: B008
    session: str = typer.Option(..., "--session", help="the session id the hosts serve (32 hex)"),
    data: Path = typer.Option(..., "--data", help="the label party's table (CSV)"),  # noqa: B008
    id_column: str = typer.Option(..., "--id-column", help="the column holding customer IDs"),
    label: str = typer.Option(..., "--label", help="the label column"),
    positive: str = typer.Option(None, "--positive", help="the label's positive value"),
    host: list[str] = typer.Option(  # noqa: B008
        ..., "--host", help="NAME=http://127.0.0.1:PORT of a host (repeat per host)"
    ),
    models: str = typer.Option("secureboost,hetero_lr", "--models", help="comma-separated"),
    scheme: str = typer.Option(
        "paillier", "--scheme", help="HE: paillier (112-bit) or ou (faster, weaker)"
    ),
    trees: int = typer.Option(10, "--trees"),
    depth: int = typer.Option(3, "--depth"),
    epochs: int = typer.Option(3, "--epochs", help="hetero LR epochs"),
    lr_host: str = typer.Option(None, "--lr-host", help="the host hetero LR trains with"),
    out: Path = typer.Option(Path("runs/vertical"), "--out", help="report and checkpoints"),  # noqa: B008
    wait: float = typer.Option(120.0, "--wait", help="seconds to wait for a crashed host"),
    psi: str = typer.Option("auto", "--psi", help="PSI: spu (RR22), openmined, auto"),
) -> None:
    """As the label party: align by PSI with every host, train, score on held-out rows.

    A host that crashes is waited for (--wait) and the run resumes from the last completed
    tree or epoch; report.json goes to --out."""
    import json  # lazy: with the run's modules below, not for --help

    from veil.errors import ConfigError
    from veil.vertical.channel import Channel
    from veil.vertical.envelope import PartyIdentity, load_cards
    from veil.vertical.federation import resilient
    from veil.vertical.gbdt import GBDTConfig
    from veil.vertical.hetero_lr import HeteroLRConfig
    from veil.vertical.server import HttpTransport
    from veil.vertical.tables import read_table
    from veil.vertical.training import VerticalSettings, run_guest

    urls = dict(_pair(h) for h in host)
    known = load_cards(cards)
    missing = set(urls) - set(known)
    if missing:
        raise ConfigError(f"no card for {', '.join(sorted(missing))} in {cards}")
    me = PartyIdentity.load(identity)
    transport = HttpTransport(urls)
    channel = Channel(me, {n: known[n] for n in urls}, transport, _session(session))
    settings = VerticalSettings(
        models=tuple(m for m in models.split(",") if m), scheme=scheme,
        boost=GBDTConfig(n_trees=trees, max_depth=depth), lr=HeteroLRConfig(epochs=epochs),
        lr_host=lr_host, psi=psi,
    )  # fmt: skip
    guest = read_table(data, id_column, label=label, positive=positive)

    def wait_for_hosts() -> None:
        for name in urls:
            transport.wait_until_up(name, wait)

    out.mkdir(parents=True, exist_ok=True)
    result = run_guest(
        channel, guest, settings, out, lambda run: resilient(run, wait_for_hosts)
    ).report
    (out / "report.json").write_text(json.dumps(result, indent=1) + "\n")
    for name, model in result["models"].items():
        typer.echo(f"{name}: AUC {model['auc']:.4f} on {result['split']['valid']} held-out rows")
    typer.echo(f"report: {out / 'report.json'}")


def _pair(text: str) -> tuple[str, str]:
    from veil.errors import ConfigError  # lazy: tiny, keeps the top to typer

    name, sep, url = text.partition("=")
    if not sep or not url.startswith(("http://127.0.0.1:", "http://localhost:", "http://[::1]:")):
        raise ConfigError(f"--host {text!r}: NAME=http://127.0.0.1:PORT (loopback only)")
    return name, url.rstrip("/")


def _session(text: str) -> bytes:
    from veil.errors import ConfigError  # lazy: tiny, keeps the top to typer

    try:
        value = bytes.fromhex(text)
    except ValueError:
        value = b""
    if len(value) != 16:
        raise ConfigError("--session is 16 bytes in hex (32 hex digits)")
    return value
