"""Security review (issue 13) finding 2: the Helper authenticates clients itself.

A malicious Leader that pads a round with made-up (sybil) reports, forges an enrolled
client's, or counts one client twice, to isolate one honest client's update (n−1 attack),
is refused by the Helper: signatures are checked against the Helper's own enrolment list,
one report per client per round, and no aggregate of fewer than ``min_reports`` clients.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from veil.aggregation.aggregator import HelperCore
from veil.aggregation.client import ReportBuilder
from veil.aggregation.leader import VerifiedAggregator
from veil.aggregation.store import SqliteStore
from veil.aggregation.testing import RecordingHelper, make_consortium
from veil.aggregation.transport import InProcessHelper
from veil.crypto.signing import Ed25519Identity
from veil.errors import ProtocolError

DIM = 8


def _helper(con) -> tuple[HelperCore, RecordingHelper]:
    core = HelperCore(con.cfg, con.helper_hpke, SqliteStore(":memory:", con.helper_hpke))
    return core, RecordingHelper(core)


def test_helper_refuses_sybil_and_forged_reports_from_a_malicious_leader() -> None:
    """The Leader enrols two sybils and a forged key for c1 in *its* copy of the consortium
    file and keeps min_reports=1 for itself; the Helper's copy enrols c0, c1, c2 only."""
    from veil.aggregation.messages import decode_verify_response

    con = make_consortium(n_clients=3, dimension=DIM, min_reports=3)
    sybils = {f"s{i}": Ed25519Identity.generate() for i in range(2)}
    forger = Ed25519Identity.generate()
    evil_clients = {**con.cfg.clients, "c1": forger.recipient()}
    evil_clients.update({n: k.recipient() for n, k in sybils.items()})
    evil_cfg = dataclasses.replace(con.cfg, clients=evil_clients, min_reports=1)
    core, helper = _helper(con)
    evil = VerifiedAggregator(evil_cfg, con.leader_hpke, helper)
    target = con.builder("c0").build(1, np.full(DIM, 0.05), 10)
    padding = [ReportBuilder(evil_cfg, n, k).build(1, np.zeros(DIM), 10) for n, k in sybils.items()]
    padding.append(ReportBuilder(evil_cfg, "c1", forger).build(1, np.zeros(DIM), 10))
    with pytest.raises(ProtocolError, match="min_reports"):
        evil.aggregate_round(1, [target, *padding])
    reasons = [r.reason for a in helper.answers for r in decode_verify_response(a)]
    assert [x and x.value for x in reasons] == [None, "unknown_client", "unknown_client",
                                               "bad_signature"]  # fmt: skip
    assert core.store.collected_share(con.cfg.task_id, 1) is None  # nothing released


class _CountsTwice(VerifiedAggregator):
    """A Leader that skips its own one-report-per-client check."""

    def _check(self, item, rnd, clients_seen) -> None:
        super()._check(item, rnd, set())


def test_helper_collects_one_report_per_client_per_round() -> None:
    con = make_consortium(n_clients=3, dimension=DIM, min_reports=3)
    core, helper = _helper(con)
    evil = _CountsTwice(con.cfg, con.leader_hpke, helper)
    reports = [con.builder("c0").build(1, np.full(DIM, 0.05), 10) for _ in range(2)]
    reports.append(con.builder("c1").build(1, np.zeros(DIM), 10))
    with pytest.raises(ProtocolError, match="two reports of one client"):
        evil.aggregate_round(1, reports)
    assert core.store.collected_share(con.cfg.task_id, 1) is None


def test_helper_refuses_a_report_whose_shares_the_leader_changed() -> None:
    """The signature covers the Helper's share and the hash of the Leader's: a Leader that
    swaps in another report's Helper share or misstates its own share's hash is refused."""
    from veil.aggregation.messages import VerifyItem, VerifyRequest, decode_verify_response
    from veil.aggregation.report import leader_share_hash, seal_share, verify_key_info

    con = make_consortium(n_clients=3, dimension=DIM, min_reports=3)
    core, _ = _helper(con)
    a, b = (con.builder(c).build(1, np.zeros(DIM), 10) for c in ("c0", "c1"))
    vk = bytes(48)
    sealed = seal_share(con.cfg.helper_hpke, vk, verify_key_info(con.cfg.task_id, 1))
    items = [
        VerifyItem(a.metadata.encode(), b.helper_share, b"", b"",
                   leader_share_hash(a.leader_share), a.signature),
        VerifyItem(a.metadata.encode(), a.helper_share, b"", b"",
                   leader_share_hash(b.leader_share), a.signature),
        VerifyItem(a.metadata.encode(), a.helper_share, b"", b"", b"", a.signature),
        VerifyItem(a.metadata.encode(), a.helper_share, b"", b"",
                   leader_share_hash(a.leader_share), b.signature),
    ]  # fmt: skip
    out = core.handle_verify(VerifyRequest(con.cfg.task_id, 1, sealed, items).encode())
    assert [r.reason.value for r in decode_verify_response(out)] == ["bad_signature"] * 4


def test_helper_init_has_safe_defaults_and_unsafe_needs_a_flag(tmp_path) -> None:
    """``veil helper init`` defaults to min_reports = 3 and noise on; min_reports = 1 or no
    noise needs --allow-unsafe, which consortium.toml keeps; a file that asks for unsafe
    settings without it does not load (so ``veil helper serve`` refuses it)."""
    from typer.testing import CliRunner

    from veil.aggregation.config import ConsortiumConfig
    from veil.cli import app
    from veil.errors import ConfigError

    def init(out, *extra: str):
        args = ["helper", "init", "--out", str(out), "--clients", "a,b,c", "--dimension", "8"]
        return CliRunner().invoke(app, [*args, *extra])

    assert init(tmp_path / "safe").exit_code == 0
    cfg = ConsortiumConfig.load(tmp_path / "safe" / "consortium.toml")
    assert cfg.min_reports >= 3 and cfg.dp.noise_multiplier > 0 and not cfg.allow_unsafe
    assert cfg.unsafe_settings() == []
    for extra in (["--min-reports", "1"], ["--noise-multiplier", "0"]):
        r = init(tmp_path / "no", *extra)
        assert r.exit_code != 0 and isinstance(r.exception, ConfigError), r.output
        assert init(tmp_path / "yes", *extra, "--allow-unsafe").exit_code == 0
    unsafe = ConsortiumConfig.load(tmp_path / "yes" / "consortium.toml")
    assert unsafe.allow_unsafe and unsafe.unsafe_settings() == ["noise_multiplier=0"]
    text = (tmp_path / "yes" / "consortium.toml").read_text()
    (tmp_path / "yes" / "consortium.toml").write_text(text.replace("allow_unsafe = true\n", ""))
    with pytest.raises(ConfigError, match="unsafe"):
        ConsortiumConfig.load(tmp_path / "yes" / "consortium.toml")


def test_the_audit_record_must_state_the_unsafe_settings() -> None:
    """The Helper countersigns only a record that states the task's unsafe settings."""
    from veil.audit import GENESIS, AuditRecord

    con = make_consortium(n_clients=2, dimension=DIM)  # min_reports=1, no noise: allowed
    hs = Ed25519Identity.generate()
    con.cfg = dataclasses.replace(con.cfg, helper_signing=hs.recipient())
    core = HelperCore(con.cfg, con.helper_hpke, SqliteStore(":memory:", con.helper_hpke), hs)
    leader = VerifiedAggregator(con.cfg, con.leader_hpke, InProcessHelper(core))
    res = leader.aggregate_round(
        1, [con.builder(c).build(1, np.zeros(DIM), 5) for c in con.cfg.clients]
    )
    rec = AuditRecord(0, con.cfg.task_id.hex(), 1, "00" * 32, "11" * 32,
                      sorted(res.accepted_ids), [], None, "2026-01-01T00:00:00+00:00", GENESIS)  # fmt: skip
    with pytest.raises(ProtocolError, match="unsafe"):
        core.handle_countersign(rec.to_line().encode())
    stated = dataclasses.replace(rec, unsafe=["min_reports=1", "noise_multiplier=0"])
    assert len(core.handle_countersign(stated.to_line().encode())) == 64
