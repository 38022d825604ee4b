"""PSI backend ``spu`` (``align(..., backend="spu")``): SecretFlow spu's RR22, KKRT and
ECDH-25519 in worker processes of the PSI venv, exact against a plain set intersection, the
same rows at every party, strict about ``psi.spu_start``, and failing closed on a TLS mismatch.

Tests that run workers are skipped when the PSI venv is absent (make it with
``scripts/psi-venv.sh``); the input checks run either way.
"""

from __future__ import annotations

import ast
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from veil.errors import ConfigError, FormatError, ProtocolError
from veil.vertical import psi_spu
from veil.vertical.align import PsiHost, align
from veil.vertical.channel import HostData
from veil.vertical.ids import id_digest, normalise_id
from veil.vertical.local import in_process

ROLES = {"psi": PsiHost}
HAVE_VENV = psi_spu.available()
needs_venv = pytest.mark.skipif(
    not HAVE_VENV,
    reason="the PSI venv (spu 0.9.5) is absent: run scripts/psi-venv.sh to test backend spu",
)


def _host(name: str, ids: list[str]) -> HostData:
    return HostData(name, ids, np.zeros((len(ids), 1)), ["f"])


def _check(result, guest: list[str], hosts: list[HostData]) -> None:
    """Exactly the plain intersection of the normalised IDs, in one order at every party."""
    expected = {normalise_id(i) for i in guest}
    for h in hosts:
        expected &= {normalise_id(i) for i in h.ids}
    got = [normalise_id(guest[r]) for r in result.guest_rows]
    assert len(got) == result.size == len(expected) == len(set(got))
    assert set(got) == expected
    for h in hosts:
        assert h.aligned is not None and h.aligned.dtype == np.int64
        assert np.array_equal(h.intersection, h.aligned)
        assert [normalise_id(h.ids[r]) for r in h.aligned] == got


@needs_venv
def test_rr22_is_exact_with_two_hosts_and_agrees_with_openmined() -> None:
    rng = random.Random(7)
    universe = [f"cust-{i:05d}" for i in range(3000)]
    guest = rng.sample(universe, 1200)
    bank = _host("bank", [i.upper() for i in rng.sample(universe, 1500)])
    shop = _host("shop", [f"  {i} " for i in rng.sample(universe, 900)])
    channel, _ = in_process([bank, shop], ROLES)
    result = align(channel, guest, backend="spu")
    _check(result, guest, [bank, shop])
    assert result.host_rows == {"bank": 1500, "shop": 900}
    guest_set = {normalise_id(i) for i in guest}
    for h in (bank, shop):
        assert result.per_host[h.name] == len(guest_set & {normalise_id(i) for i in h.ids})
    assert {"spu_start", "spu", "spu_psi", "result"} <= set(result.phases)
    # the same alignment (as a set) as the default backend
    channel2, _ = in_process([_host("bank", bank.ids), _host("shop", shop.ids)], ROLES)
    reference = align(channel2, guest)
    assert set(reference.guest_rows.tolist()) == set(result.guest_rows.tolist())


@needs_venv
@pytest.mark.parametrize("protocol", ["KKRT", "ECDH"])
def test_other_spu_protocols_are_exact(protocol: str) -> None:
    guest = [f"id-{i}" for i in range(0, 600, 2)]
    host = _host("shop", [f"ID-{i}" for i in range(0, 600, 3)])
    channel, _ = in_process([host], ROLES)
    result = align(channel, guest, backend="spu", spu_protocol=protocol)
    _check(result, guest, [host])
    assert result.size == 100  # multiples of 6 below 600


@needs_venv
@pytest.mark.parametrize(
    ("guest", "host"),
    [
        (["a"], ["a"]),  # one ID each
        (["a", "b", "c"], ["x", "y"]),  # nothing shared
        ([f"u{i}" for i in range(64)], [f"u{i}" for i in range(64)]),  # everything shared
    ],
)
def test_edge_sizes(guest: list[str], host: list[str]) -> None:
    data = _host("shop", host)
    channel, _ = in_process([data], ROLES)
    result = align(channel, guest, backend="spu")
    _check(result, guest, [data])


@needs_venv
def test_hosts_receive_nothing_of_the_guests_non_shared_ids_over_the_channel() -> None:
    guest = [f"Cust-{i:04d}@example.com" for i in range(300)]
    shop = _host("shop", [g.upper() for g in guest[100:]] + ["other"])
    channel, parties = in_process([shop], ROLES, record=True)
    result = align(channel, guest, backend="spu")
    assert result.size == 200
    bodies = parties["shop"].received
    assert len(bodies) == 2  # psi.spu_start, psi.result
    for text in guest[:100]:
        digest = id_digest(text)
        for form in (text.encode(), normalise_id(text).encode(), digest, digest.hex().encode()):
            assert not any(form in body for body in bodies)


@needs_venv
def test_a_tls_certificate_mismatch_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The host answers with a certificate that is not its worker's: no link, no result."""
    monkeypatch.setattr(psi_spu, "CONNECT_SECONDS", 4.0)
    shop = _host("shop", ["a", "b", "c"])
    channel, _ = in_process([shop], ROLES)
    real_call = channel.call

    def swap_cert(party: str, kind: str, fields=None):
        reply = real_call(party, kind, fields)
        if kind == "psi.spu_start":
            other = psi_spu.Worker(None)  # a fresh, unrelated certificate
            reply = {**reply, "cert": other.cert}
            other.stop()
        return reply

    monkeypatch.setattr(channel, "call", swap_cert)
    with pytest.raises(ProtocolError, match="PSI worker failed"):
        align(channel, ["a", "b"], backend="spu")
    assert shop.aligned is None


# --- input checks (no worker runs) ---------------------------------------------------------


def _host_role() -> PsiHost:
    return PsiHost(_host("shop", ["a", "b"]))


@pytest.mark.parametrize(
    "fields",
    [
        {"port": 80, "protocol": "RR22", "link_id": "0" * 32},
        {"port": True, "protocol": "RR22", "link_id": "0" * 32},
        {"port": 40000, "protocol": "PROTOCOL_RR22", "link_id": "0" * 32},
        {"port": 40000, "protocol": "RR22", "link_id": "../etc"},
        {"port": 40000, "protocol": "RR22", "link_id": "0" * 32, "cert": b"not a certificate"},
        {"port": 40000, "protocol": "RR22", "link_id": "0" * 32, "cert": "text"},
        {"port": 40000, "protocol": "RR22", "link_id": "0" * 32},  # no certificate: no TLS
    ],
)
def test_spu_start_refuses_bad_fields(fields: dict) -> None:
    with pytest.raises(FormatError):
        _host_role().handle("psi.spu_start", fields)


def test_unknown_backend_and_protocol_are_refused() -> None:
    channel, _ = in_process([_host("shop", ["a"])], ROLES)
    with pytest.raises(ConfigError):
        align(channel, ["a"], backend="fast")
    with pytest.raises(FormatError):
        align(channel, ["a"], backend="spu", spu_protocol="DP")


def test_a_missing_psi_venv_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VEIL_PSI_PYTHON", "/nonexistent/python")
    assert psi_spu.psi_python() is None and not psi_spu.available()
    channel, _ = in_process([_host("shop", ["a"])], ROLES)
    with pytest.raises(ConfigError, match=r"psi-venv\.sh"):
        align(channel, ["a"], backend="spu")


def test_the_worker_imports_nothing_of_veil() -> None:
    """It runs in the PSI venv, which has no veil (and an older numpy): stdlib and spu only."""
    tree = ast.parse(psi_spu.WORKER.read_text())
    modules = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    modules |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    roots = {m.split(".")[0] for m in modules}
    assert roots - {"spu"} <= set(sys.stdlib_module_names), roots


def test_the_worker_refuses_bad_input(tmp_path: Path) -> None:
    """Checked before any link (run with this interpreter: the check needs no spu)."""
    sys.path.insert(0, str(psi_spu.WORKER.parent))
    try:
        import psi_worker  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    good = tmp_path / "good.txt"
    good.write_text("".join(f"{i:064x}\n" for i in range(3)))
    assert len(psi_worker.read_items(str(good))) == 3
    for text in ["", "ab\n", f"{0:064x}", f"{0xABC:064X}\n", f"{0:064x}\n{0:064x}\n", "x" * 65]:
        bad = tmp_path / "bad.txt"
        bad.write_text(text)
        with pytest.raises(ValueError):
            psi_worker.read_items(str(bad))


@needs_venv
def test_the_worker_exits_2_on_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("not hex\n")
    python = psi_spu.psi_python()
    assert python is not None
    done = subprocess.run(
        [
            str(python),
            str(psi_spu.WORKER),
            "--rank",
            "1",
            "--receiver",
            "0",
            "--parties",
            *(f"127.0.0.1:{psi_spu.free_port()}" for _ in range(2)),
            "--input",
            str(bad),
            "--connect-seconds",
            "2",
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2 and b"bad input" in done.stderr
