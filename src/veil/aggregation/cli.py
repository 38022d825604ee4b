"""``veil helper …``: run the Helper service; ``veil consortium init`` makes a demo consortium."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

import typer

from veil.errors import ConfigError

app = typer.Typer(help="The verified-aggregation Helper (docs/protocol.md).", no_args_is_help=True)


def load_helper_identity(path: Path):
    # lazy: cryptography (≈50 ms), not for `veil --help`
    from veil.crypto.hpke_keys import X25519Identity
    from veil.crypto.keys import load_identities

    ids = [i for i in load_identities([path]) if isinstance(i, X25519Identity)]
    if not ids:
        raise ConfigError(f"{path} holds no x25519 identity")
    return ids[0]


def load_helper_signing(path: Path):
    """The Helper's Ed25519 audit countersigning key from the same file, if it holds one."""
    # lazy: cryptography (≈50 ms), not for `veil --help`
    from veil.crypto.keys import load_identities
    from veil.crypto.signing import Ed25519Identity

    ids = [i for i in load_identities([path]) if isinstance(i, Ed25519Identity)]
    return ids[0] if ids else None


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
    state: str = typer.Option(
        None,
        "--state",
        envvar="VEIL_HELPER_STATE",
        help="state URL: sqlite:///path or postgresql://user@127.0.0.1:PORT/db (overrides --db)",
    ),
    stop_with_parent: bool = typer.Option(
        False,
        "--stop-with-parent",
        help="stop when standard input closes (a supervising process died or let go)",
    ),
    workers: int = typer.Option(
        None,
        "--workers",
        envvar="VEIL_VERIFY_WORKERS",
        help="processes that verify reports in parallel (default 1: in the server's thread)",
    ),
) -> None:
    """Serve the Helper on HOST:PORT (loopback only)."""
    # lazy: uvicorn, starlette, numpy and PINE (≈0.3 s) only to serve, not for `veil --help`
    import uvicorn

    from veil.aggregation.aggregator import HelperCore
    from veil.aggregation.config import ConsortiumConfig
    from veil.aggregation.service import create_app
    from veil.aggregation.state_url import open_store

    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ConfigError("the Helper binds to loopback only in this release")
    cfg = ConsortiumConfig.load(config)
    ident = load_helper_identity(identity)
    db_path = db or config.parent / f"helper-{cfg.task_id.hex()[:16]}.sqlite"
    signing = load_helper_signing(identity)
    if cfg.helper_signing is None:
        signing = None  # the consortium has no countersigned audit log
    elif signing is None:  # serve, but refuse to countersign (400 ConfigError on request)
        typer.echo(f"warning: {identity} holds no ed25519 key: no audit countersigning", err=True)
    core = HelperCore(cfg, ident, open_store(state or db_path, ident), signing, workers)
    core.pool.start()
    if stop_with_parent:
        stop_on_stdin_eof()
    try:
        uvicorn.run(create_app(core), host=host, port=port, log_level="warning")
    finally:
        core.close()


def stop_on_stdin_eof() -> None:
    """SIGTERM this process (uvicorn's graceful shutdown) once standard input closes."""

    def watch() -> None:
        while sys.stdin.buffer.read(4096):
            pass
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="stop-with-parent", daemon=True).start()


@app.command("init")
def init(
    out: Path = typer.Option(..., "--out", help="folder for the keys and consortium.toml"),  # noqa: B008
    clients: str = typer.Option(..., "--clients", help="comma-separated client ids"),
    dimension: int = typer.Option(..., "--dimension", help="model parameters d"),
    clip_norm: float = typer.Option(1.0, "--clip-norm"),
    max_weight: int = typer.Option(1000, "--max-weight"),
    denominator: float | None = typer.Option(
        None,
        "--denominator",
        help="D, the fixed public denominator: the expected Σ of the weights (sample counts "
        "capped at --max-weight) of a round's reports; default clients × max-weight "
        "(docs/dp.md)",
    ),
    min_reports: int = typer.Option(3, "--min-reports", help="at least 3 unless --allow-unsafe"),
    noise_multiplier: float = typer.Option(
        1.0, "--noise-multiplier", help="z: total noise σ = z·C; 0 needs --allow-unsafe"
    ),
    delta: float = typer.Option(1e-5, "--delta"),
    port: int = typer.Option(8810, "--port", help="the Helper's loopback port"),
    allow_unsafe: bool = typer.Option(
        False,
        "--allow-unsafe",
        help="accept min_reports < 3 or no noise (recorded in consortium.toml and the audit log)",
    ),
) -> None:
    """Create a consortium: Leader, Helper and client keys plus consortium.toml."""
    # lazy: cryptography (≈50 ms), not for `veil --help`
    from veil.aggregation.config import SAFE_MIN_REPORTS, ConsortiumConfig, DpConfig
    from veil.aggregation.process import write_private
    from veil.crypto.hpke_keys import X25519Identity
    from veil.crypto.keys import identity_file_text
    from veil.crypto.signing import Ed25519Identity

    names = [c.strip() for c in clients.split(",") if c.strip()]
    lh, hh, ls = X25519Identity.generate(), X25519Identity.generate(), Ed25519Identity.generate()
    hs = Ed25519Identity.generate()  # the Helper's audit countersigning key
    keys = {n: Ed25519Identity.generate() for n in names}
    cfg = ConsortiumConfig(
        task_id=os.urandom(32),
        dimension=dimension,
        clip_norm=clip_norm,
        max_weight=max_weight,
        denominator=denominator,
        leader_hpke=lh.recipient(),
        leader_signing=ls.recipient(),
        helper_hpke=hh.recipient(),
        helper_endpoint=f"http://127.0.0.1:{port}",
        helper_signing=hs.recipient(),
        clients={n: k.recipient() for n, k in keys.items()},
        min_reports=min_reports,
        dp=DpConfig(noise_multiplier=noise_multiplier, delta=delta),
        allow_unsafe=allow_unsafe and bool(min_reports < SAFE_MIN_REPORTS or noise_multiplier == 0),
    )
    if cfg.allow_unsafe:
        typer.echo(f"warning: unsafe settings {cfg.unsafe_settings()} allowed", err=True)
    out.mkdir(parents=True, exist_ok=True)
    write_private(out / "leader.identity", identity_file_text(lh) + ls.to_string() + "\n")
    write_private(out / "helper.identity", identity_file_text(hh) + hs.to_string() + "\n")
    for n, k in keys.items():
        write_private(out / f"client-{n}.identity", identity_file_text(k))
    (out / "consortium.toml").write_text(cfg.to_toml())
    typer.echo(f"wrote {out / 'consortium.toml'} and {len(names) + 2} identity files in {out}")
    typer.echo(
        f"start the Helper: veil helper serve --identity {out / 'helper.identity'} "
        f"--config {out / 'consortium.toml'} --port {port}"
    )
