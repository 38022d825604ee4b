"""``veil helper init`` writes a loadable consortium; ``serve`` refuses non-loopback hosts."""

from __future__ import annotations

from typer.testing import CliRunner

from veil.aggregation.config import ConsortiumConfig
from veil.cli import app
from veil.crypto.keys import load_identities


def test_init_writes_consortium(tmp_path):
    r = CliRunner().invoke(
        app, ["helper", "init", "--out", str(tmp_path), "--clients", "a,b", "--dimension", "10"]
    )
    assert r.exit_code == 0, r.output
    cfg = ConsortiumConfig.load(tmp_path / "consortium.toml")
    assert sorted(cfg.clients) == ["a", "b"] and cfg.dimension == 10
    helper = load_identities([tmp_path / "helper.identity"])[0]
    assert helper.recipient() == cfg.helper_hpke
    assert (tmp_path / "client-a.identity").stat().st_mode & 0o077 == 0


def test_serve_refuses_public_host(tmp_path):
    CliRunner().invoke(
        app, ["helper", "init", "--out", str(tmp_path), "--clients", "a", "--dimension", "4"]
    )
    r = CliRunner().invoke(
        app,
        ["helper", "serve", "--identity", str(tmp_path / "helper.identity"), "--config",
         str(tmp_path / "consortium.toml"), "--host", "0.0.0.0"],
    )  # fmt: skip
    assert r.exit_code != 0
