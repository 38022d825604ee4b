"""``veil helper …``: run the Helper service; ``veil consortium init`` makes a demo consortium."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="The verified-aggregation Helper (docs/protocol.md).", no_args_is_help=True)


def load_helper_identity(path: Path):
    from veil.crypto.hpke_keys import X25519Identity
    from veil.crypto.keys import load_identities
    from veil.errors import ConfigError

    ids = [i for i in load_identities([path]) if isinstance(i, X25519Identity)]
    if not ids:
        raise ConfigError(f"{path} holds no x25519 identity")
    return ids[0]


@app.command("serve")
def serve(
    identity: Path = typer.Option(  # noqa: B008
        ..., "--identity", help="identity file with the Helper's x25519 key"
    ),
    config: Path = typer.Option(..., "--config", help="consortium.toml"),  # noqa: B008
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8810, "--port"),
    db: Path = typer.Option(  # noqa: B008
        None, "--db", help="SQLite state (default: helper-<task>.sqlite beside the config)"
    ),
) -> None:
    """Serve the Helper on HOST:PORT (loopback only)."""
    import uvicorn

    from veil.aggregation.aggregator import HelperCore
    from veil.aggregation.config import ConsortiumConfig
    from veil.aggregation.service import create_app
    from veil.aggregation.store import AggregatorStore
    from veil.errors import ConfigError

    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ConfigError("the Helper binds to loopback only in this release")
    cfg = ConsortiumConfig.load(config)
    ident = load_helper_identity(identity)
    db_path = db or config.parent / f"helper-{cfg.task_id.hex()[:16]}.sqlite"
    core = HelperCore(cfg, ident, AggregatorStore(db_path, ident))
    uvicorn.run(create_app(core), host=host, port=port, log_level="warning")
