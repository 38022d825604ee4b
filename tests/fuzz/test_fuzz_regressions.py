"""Inputs the fuzzers (or their review) found, kept as regression tests: each must now
raise the typed error of its parser."""

from __future__ import annotations

import pytest

from veil import jwe
from veil.audit import AuditError, verify_log
from veil.crypto.encoding import b64url_encode
from veil.errors import IntegrityError

NESTING_BOMB = b"[" * 100_000 + b"]" * 100_000


def test_jwe_header_nesting_bomb_is_integrity_error(identities) -> None:
    """Was a RecursionError out of json.loads (fixed in veil.jwe)."""
    token = b64url_encode(NESTING_BOMB) + ".AAAA.AAAA.AAAA.AAAA"
    with pytest.raises(IntegrityError):
        jwe.decrypt(token, identities["rsa-3072"])


def test_jwe_control_whitespace_is_stripped_not_a_second_token(identities) -> None:
    """The fuzzer's first report: ``\\x1d`` around a token. str.strip() removes it (it is
    Unicode whitespace), so the token still decrypts: lax, but the same authentic token."""
    token = jwe.encrypt(b"m", identities["rsa-3072"].recipient())
    assert jwe.decrypt("\x1d\x1d" + token, identities["rsa-3072"]) == b"m"


def test_audit_line_nesting_bomb_names_the_record(tmp_path, signer) -> None:
    """Was a RecursionError out of json.loads (fixed in veil.audit)."""
    log = tmp_path / "audit.log"
    log.write_bytes(NESTING_BOMB + b"\n")
    with pytest.raises(AuditError) as err:
        verify_log(log, signer.recipient(), signer.recipient())
    assert err.value.index == 0


@pytest.mark.parametrize("sep", [b"\x0b", b"\x0c", b"\r\n", b"\x1c", b"\r"])
def test_audit_records_are_separated_by_lf_only(tmp_path, sep: bytes) -> None:
    """Found by the audit fuzzer: with str.splitlines(), a log whose LF between two records
    became \\v (or \\f, \\x1c, CR LF…) still verified — the same records under other bytes."""
    from veil.audit import AuditLog, Rejection, helper_countersign
    from veil.crypto.keys import generate_identity

    leader, helper = generate_identity("ed25519"), generate_identity("ed25519")
    log = AuditLog(
        tmp_path / "audit.log", leader, helper.recipient(), lambda r: helper_countersign(helper, r)
    )
    for r in (1, 2):
        log.append(
            task="t",
            round=r,
            model_before=f"{r - 1:02x}" * 32,
            model_after=f"{r:02x}" * 32,
            accepted=["aa" * 16],
            rejected=[Rejection("bb" * 16, "norm bound")],
            epsilon=None,
        )
    genuine = log.path.read_bytes()
    assert len(verify_log(log.path, leader.recipient(), helper.recipient())) == 2
    log.path.write_bytes(genuine.replace(b"\n", sep, 1))
    with pytest.raises(AuditError) as err:
        verify_log(log.path, leader.recipient(), helper.recipient())
    assert err.value.index == 0
