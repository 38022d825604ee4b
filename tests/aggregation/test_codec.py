"""Report and message codecs: round trips, bindings, and mutations that must fail cleanly."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from veil.aggregation.config import ConsortiumConfig
from veil.aggregation.messages import (
    CollectRequest,
    Reason,
    VerifyRequest,
    VerifyResult,
    checksum,
    decode_verify_response,
    encode_verify_response,
)
from veil.aggregation.report import (
    ROLE_HELPER,
    ROLE_LEADER,
    Report,
    open_share,
    share_info,
    vdaf_nonce,
)
from veil.aggregation.testing import make_consortium
from veil.errors import ConfigError, FormatError, IntegrityError

CON = make_consortium(n_clients=1, dimension=16)
REPORT = CON.builder("c0").build(5, np.linspace(-0.1, 0.1, 16), 9)
ENCODED = REPORT.encode()


def test_report_round_trip_and_signature():
    r = Report.decode(ENCODED)
    assert r == REPORT
    assert CON.cfg.clients["c0"].verify(r.signature, r.signed_bytes())


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(pos=st.integers(0, len(ENCODED) - 1), bit=st.integers(0, 7))
def test_any_bit_flip_is_caught(pos, bit):
    """A flipped bit either breaks parsing or the signature; never a silently different report."""
    data = bytearray(ENCODED)
    data[pos] ^= 1 << bit
    try:
        r = Report.decode(bytes(data))
    except FormatError:
        return
    assert not CON.cfg.clients["c0"].verify(r.signature, r.signed_bytes())


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_garbage_is_a_format_error(data):
    with pytest.raises(FormatError):
        Report.decode(data)


def test_truncation_and_trailing_bytes():
    for n in (0, 8, 50, len(ENCODED) - 1):
        with pytest.raises(FormatError):
            Report.decode(ENCODED[:n])
    with pytest.raises(FormatError, match="trailing"):
        Report.decode(ENCODED + b"\x00")


def test_share_bound_to_role_and_metadata():
    md = REPORT.metadata
    open_share(CON.leader_hpke, REPORT.leader_share, share_info(md, ROLE_LEADER))
    with pytest.raises(IntegrityError):  # wrong role
        open_share(CON.leader_hpke, REPORT.leader_share, share_info(md, ROLE_HELPER))
    other = dataclasses.replace(md, round=md.round + 1)
    with pytest.raises(IntegrityError):  # share pasted into another round's report
        open_share(CON.leader_hpke, REPORT.leader_share, share_info(other, ROLE_LEADER))
    other = dataclasses.replace(md, client_id="c9")
    with pytest.raises(IntegrityError):
        open_share(CON.leader_hpke, REPORT.leader_share, share_info(other, ROLE_LEADER))
    with pytest.raises(IntegrityError):  # the helper's key cannot open the leader's share
        open_share(CON.helper_hpke, REPORT.leader_share, share_info(md, ROLE_LEADER))


def test_nonce_binds_task_round_and_id():
    md = REPORT.metadata
    n = vdaf_nonce(md.task_id, md.round, md.report_id)
    assert len(n) == 16
    assert n != vdaf_nonce(md.task_id, md.round + 1, md.report_id)
    assert n != vdaf_nonce(bytes(32), md.round, md.report_id)


def test_messages_round_trip():
    req = VerifyRequest(bytes(range(32)), 3, b"k" * 80, [])
    assert VerifyRequest.decode(req.encode()) == req
    res = [VerifyResult(b"i" * 16, None, b"a", b"b"), VerifyResult(b"j" * 16, Reason.REPLAYED)]
    assert decode_verify_response(encode_verify_response(res)) == res
    ids = [b"x" * 16, b"y" * 16]
    c = CollectRequest(bytes(32), 1, ids, checksum(ids))
    assert CollectRequest.decode(c.encode()) == c
    assert checksum(ids) == checksum(ids[::-1]) != checksum(ids[:1])
    for bad in (b"", b"[]", b'{"task": "zz"}', b'{"task": "' + b"00" * 32 + b'", "round": -1}'):
        with pytest.raises(FormatError):
            VerifyRequest.decode(bad)


def test_config_round_trip_and_strictness(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text(CON.cfg.to_toml())
    assert ConsortiumConfig.load(p) == CON.cfg
    p.write_text(CON.cfg.to_toml().replace("min_reports", "min_report"))
    with pytest.raises(ConfigError, match="unknown key"):
        ConsortiumConfig.load(p)
    p.write_text(CON.cfg.to_toml().replace("[helper]", "[helpers]"))
    with pytest.raises(ConfigError):
        ConsortiumConfig.load(p)
    text = CON.cfg.to_toml()
    bad = text.replace(str(CON.cfg.leader_hpke), str(CON.cfg.leader_signing), 1)
    p.write_text(bad)
    with pytest.raises(ConfigError, match="x25519"):
        ConsortiumConfig.load(p)
    with pytest.raises(ConfigError):
        dataclasses.replace(CON.cfg, helper_endpoint="http://10.0.0.1:80")


def test_json_nesting_bomb_is_a_format_error():
    """'[[[…]]]' made json.loads raise RecursionError, a 500 at the Helper (test_helper_abuse)."""
    from veil.errors import FormatError

    bomb = b"[" * 100_000 + b"]" * 100_000
    for decode in (VerifyRequest.decode, CollectRequest.decode, decode_verify_response):
        with pytest.raises(FormatError):
            decode(bomb)
