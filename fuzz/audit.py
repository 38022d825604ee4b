"""Fuzz the audit-log verifier (``veil.audit.verify_log``) with fixed aggregator keys.

Only ``AuditError`` (an ``IntegrityError`` naming the first bad record) may come out. A
log that verifies must be a genuine log of :func:`setup` or a prefix of one (dropping the
newest records is the one edit a signature chain cannot detect without an external
anchor; see docs/security.md), never an edited one.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

from fuzz import Finding
from fuzz._keys import fixed_bytes
from veil.audit import AuditError

ALLOWED = (AuditError,)

_STATE: dict = {}


def setup() -> list[bytes]:
    """A genuine four-round log (accepted and rejected reports, ε), and its prefixes."""
    from datetime import UTC, datetime

    from veil.audit import AuditLog, Rejection, helper_countersign
    from veil.crypto.signing import Ed25519Identity

    leader = Ed25519Identity.from_bytes(fixed_bytes("audit leader"))
    helper = Ed25519Identity.from_bytes(fixed_bytes("audit helper"))
    # the runner hands over a scratch folder it removes (libFuzzer exits without atexit)
    scratch = os.environ.get("VEIL_FUZZ_SCRATCH")
    folder = Path(tempfile.mkdtemp(prefix="veil-fuzz-audit-", dir=scratch))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    log = AuditLog(
        folder / "audit.log",
        leader,
        helper.recipient(),
        lambda rec: helper_countersign(helper, rec),
    )
    model = "00" * 32
    for r in range(1, 5):
        after = f"{r:02x}" * 32
        log.append(
            task="credit-risk",
            round=r,
            model_before=model,
            model_after=after,
            accepted=[f"{r:02x}" * 16],
            rejected=[Rejection("ee" * 16, "norm bound")] if r % 2 else [],
            epsilon=0.5 * r,
            now=datetime(2026, 1, 1, 12, r, tzinfo=UTC),
        )
        model = after
    genuine = log.path.read_bytes()
    lines = genuine.splitlines(keepends=True)
    _STATE.update(
        leader=leader.recipient(),
        helper=helper.recipient(),
        genuine=genuine,
        path=folder / "fuzzed.log",
    )
    return [genuine, b"".join(lines[:2])]


def one_input(data: bytes) -> None:
    from veil.audit import verify_log

    path: Path = _STATE["path"]
    path.write_bytes(data)
    verify_log(path, _STATE["leader"], _STATE["helper"])
    if not _STATE["genuine"].startswith(bytes(data)) or (data and not data.endswith(b"\n")):
        raise Finding("an edited audit log verified")
