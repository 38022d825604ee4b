"""A signed, hash-chained log of training rounds, and its verifier.

Each round appends one record: task, round, the hashes of the global model before and after,
the ids of accepted reports, the ids and reasons of rejected ones, ε spent so far, and the
time. A record is chained to the one before it by hash, signed by the leader and
countersigned by the helper (Ed25519, RFC 8032), so that neither aggregator alone can
rewrite history, and any edit, deletion, reordering or insertion is found by
:func:`verify_log`, which names the first bad record.

Encoding (one JSON object per line, UTF-8)::

    body        = the record without "leader_sig" / "helper_sig", as canonical JSON
                  (sorted keys, no spaces, ASCII)
    record hash = SHA-256("veil/v1/audit/record" || 0x00 || body)
    prev        = record hash of the previous record (64 zero hex digits for the first)
    leader_sig  = Ed25519(leader key, "veil/v1/audit/leader" || 0x00 || record hash)
    helper_sig  = Ed25519(helper key, "veil/v1/audit/helper" || 0x00 || record hash)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from veil.crypto.encoding import b64decode, b64encode
from veil.crypto.keys import Ed25519Identity, Ed25519PublicKey, parse_recipient
from veil.crypto.seal import atomic_write
from veil.errors import FormatError, IntegrityError
from veil.faults import failpoint

GENESIS = "0" * 64
KEYS_SUFFIX = ".keys.json"
PENDING_SUFFIX = ".pending"  # the record being countersigned (two-phase append)
_RECORD_LABEL = b"veil/v1/audit/record\x00"
_LEADER_LABEL = b"veil/v1/audit/leader\x00"
_HELPER_LABEL = b"veil/v1/audit/helper\x00"
_FIELDS = (
    "seq",
    "task",
    "round",
    "model_before",
    "model_after",
    "accepted",
    "rejected",
    "epsilon",
    "time",
    "prev",
)


class AuditError(IntegrityError):
    """The audit log fails verification; ``index`` is the first bad record (0-based)."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(f"record {index}: {reason}")
        self.index = index
        self.reason = reason


@dataclass(frozen=True)
class Rejection:
    """A rejected report: its id (hex) and why (never its data)."""

    report: str
    reason: str


@dataclass(frozen=True)
class AuditRecord:
    """One round's entry; ``body()`` is what the hash and both signatures cover."""

    seq: int
    task: str
    round: int
    model_before: str
    model_after: str
    accepted: list[str]
    rejected: list[Rejection]
    epsilon: float | None
    time: str
    prev: str
    leader_sig: str = ""
    helper_sig: str = ""
    #: the task's unsafe settings (e.g. "min_reports=1"); absent from the line when none, so
    #: records of safe tasks (and every earlier record) keep their encoding and hash
    unsafe: list[str] = field(default_factory=list)

    def body(self) -> bytes:
        data = {k: v for k, v in self._fields().items() if k in (*_FIELDS, "unsafe")}
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()

    def _fields(self) -> dict:
        data = asdict(self)
        if not self.unsafe:
            del data["unsafe"]
        return data

    def digest(self) -> bytes:
        return hashlib.sha256(_RECORD_LABEL + self.body()).digest()

    def to_line(self) -> str:
        return json.dumps(self._fields(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def model_hash(parameters: bytes) -> str:
    """The hash a record uses for a model: SHA-256 of its serialised parameters, in hex."""
    return hashlib.sha256(parameters).hexdigest()


def parse_record(line: str) -> AuditRecord:
    """One record from its canonical line (what the helper's countersign endpoint receives)."""
    try:
        return _parse_line(0, line)
    except AuditError as exc:
        raise FormatError(f"audit record: {exc.reason}") from None


def _parse_line(index: int, line: str) -> AuditRecord:
    try:
        data = json.loads(line)
        base = {*_FIELDS, "leader_sig", "helper_sig"}
        if not isinstance(data, dict) or set(data) - {"unsafe"} != base:
            raise ValueError("unexpected fields")
        unsafe = data.get("unsafe", [])
        if not isinstance(unsafe, list) or not all(isinstance(u, str) for u in unsafe):
            raise ValueError("unsafe must be a list of strings")
        rejected = [Rejection(**r) for r in data.pop("rejected")]
        record = AuditRecord(rejected=rejected, **data)
        if not isinstance(record.seq, int) or not isinstance(record.round, int):
            raise ValueError("seq and round must be integers")
    except (ValueError, TypeError, RecursionError) as exc:  # Recursion: deeply nested JSON
        raise AuditError(index, f"malformed record ({exc})") from None
    if record.to_line() != line:
        raise AuditError(index, "record is not in canonical form")
    return record


class AuditLog:
    """The leader's side: append signed, countersigned records to a log file, atomically.

    ``countersign`` asks the helper to sign a record hash (over the network in a deployment);
    the helper checks the record itself before signing (see :func:`helper_countersign`).
    """

    def __init__(
        self,
        path: str | Path,
        leader: Ed25519Identity,
        helper: Ed25519PublicKey,
        countersign: Callable[[AuditRecord], bytes],
    ) -> None:
        self.path = Path(path)
        self.leader = leader
        self.helper = helper
        self.countersign = countersign
        self.pending = self.path.with_name(self.path.name + PENDING_SUFFIX)
        keys = self.path.with_name(self.path.name + KEYS_SUFFIX)
        if not keys.exists():
            atomic_write(
                keys,
                json.dumps(
                    {"leader": str(leader.recipient()), "helper": str(helper)}, indent=1
                ).encode(),
            )
        elif load_keys(self.path) != (leader.recipient(), helper):
            raise IntegrityError(f"{keys} names other aggregators' keys than this task's")

    def records(self) -> list[AuditRecord]:
        if not self.path.exists():
            return []
        return verify_log(self.path, self.leader.recipient(), self.helper)

    def append(
        self,
        *,
        task: str,
        round: int,
        model_before: str,
        model_after: str,
        accepted: Sequence[str],
        rejected: Sequence[Rejection],
        epsilon: float | None,
        now: datetime | None = None,
        existing: Sequence[AuditRecord] | None = None,
        unsafe: Sequence[str] = (),
    ) -> AuditRecord:
        """Append one round's record, verifying the existing chain first (``existing``: the
        records the caller has just read with :meth:`records`, to spare a second pass)."""
        existing = list(self.records() if existing is None else existing)
        prev = existing[-1].digest().hex() if existing else GENESIS
        record = AuditRecord(
            seq=len(existing),
            task=task,
            round=round,
            model_before=model_before,
            model_after=model_after,
            accepted=sorted(accepted),
            rejected=sorted(rejected, key=lambda r: r.report),
            epsilon=epsilon,
            time=(now or datetime.now(UTC)).isoformat(timespec="seconds"),
            prev=prev,
            unsafe=list(unsafe),
        )
        record = self._staged(record)
        leader_sig = b64encode(self.leader.sign(_LEADER_LABEL + record.digest()))
        # staged before the helper sees it: a leader that dies after the helper countersigned
        # offers the helper the very same record again (same time, same hash) when it resumes
        atomic_write(self.pending, (replace(record, leader_sig=leader_sig).to_line()).encode())
        helper_sig = self.countersign(record)
        if not self.helper.verify(helper_sig, _HELPER_LABEL + record.digest()):
            raise IntegrityError("the helper's countersignature does not verify")
        failpoint("leader.countersigned", round)
        signed = replace(record, leader_sig=leader_sig, helper_sig=b64encode(helper_sig))
        text = "".join(r.to_line() + "\n" for r in [*existing, signed])
        atomic_write(self.path, text.encode())
        self.pending.unlink(missing_ok=True)
        return signed

    def _staged(self, record: AuditRecord) -> AuditRecord:
        """``record`` with the time of the record staged by an interrupted append, if that
        one holds exactly the same round (anything else staged is stale and replaced)."""
        try:
            staged = parse_record(self.pending.read_text("ascii"))
        except (OSError, UnicodeDecodeError, FormatError):
            return record
        if replace(staged, time=record.time, leader_sig="", helper_sig="") == record:
            return replace(record, time=staged.time)
        return record


def helper_countersign(
    helper: Ed25519Identity, record: AuditRecord, expected_prev: str | None = None
) -> bytes:
    """The helper's countersignature over a record it has checked against its own view.

    ``expected_prev`` is the hash of the last record the helper countersigned, so that a
    leader cannot fork the log behind the helper's back.
    """
    if expected_prev is not None and record.prev != expected_prev:
        raise IntegrityError("the record does not extend the log the helper countersigned")
    return helper.sign(_HELPER_LABEL + record.digest())


def load_keys(log_path: str | Path) -> tuple[Ed25519PublicKey, Ed25519PublicKey]:
    """The leader's and helper's keys written beside the log (``<log>.keys.json``)."""
    keys = Path(str(log_path) + KEYS_SUFFIX)
    try:
        data = json.loads(keys.read_text())
        leader, helper = parse_recipient(data["leader"]), parse_recipient(data["helper"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FormatError(f"cannot read the aggregators' keys from {keys}: {exc}") from None
    if not isinstance(leader, Ed25519PublicKey) or not isinstance(helper, Ed25519PublicKey):
        raise FormatError(f"{keys} must name two ed25519 keys")
    return leader, helper


def round_gaps(records: Sequence[AuditRecord]) -> list[int]:
    """Round numbers between the first and the last record that have no record.

    A gap is either a round that was never released (it failed before collection) or one the
    log omits; the Helper refuses to countersign past a round it collected but that was not
    logged, so with an honest Helper a gap is a round neither aggregator released. Compare
    with report.json."""
    logged = {r.round for r in records}
    if not logged:
        return []
    return [n for n in range(min(logged), max(logged) + 1) if n not in logged]


def verify_log(
    path: str | Path, leader: Ed25519PublicKey, helper: Ed25519PublicKey
) -> list[AuditRecord]:
    """Check the whole chain; raise :class:`AuditError` naming the first bad record."""
    # bytes, then decode: read_text() would translate CR and CR LF into LF (universal newlines)
    text = Path(path).read_bytes().decode("ascii", errors="replace")
    if text and not text.endswith("\n"):
        raise AuditError(text.count("\n"), "truncated record (no end of line)")
    records: list[AuditRecord] = []
    prev = GENESIS
    # records end with LF only: str.splitlines() would also split on \v, \f, \r, \x1c-\x1e…
    # and let a re-spelt file (same records, other bytes) verify
    for index, line in enumerate(text.split("\n")[:-1]):
        record = _parse_line(index, line)
        if record.seq != index:
            raise AuditError(index, f"sequence number {record.seq}, expected {index}")
        if record.prev != prev:
            raise AuditError(index, "hash chain broken (a record was edited, removed or inserted)")
        digest = record.digest()
        try:
            leader_ok = leader.verify(b64decode(record.leader_sig), _LEADER_LABEL + digest)
            helper_ok = helper.verify(b64decode(record.helper_sig), _HELPER_LABEL + digest)
        except ValueError:
            leader_ok = helper_ok = False
        if not leader_ok:
            raise AuditError(index, "leader signature does not verify")
        if not helper_ok:
            raise AuditError(index, "helper countersignature does not verify")
        if records:
            last = records[-1]
            if record.task != last.task:
                raise AuditError(index, "task changed within one log")
            if record.round <= last.round:
                raise AuditError(index, f"round {record.round} does not follow round {last.round}")
            if record.model_before != last.model_after:
                raise AuditError(index, "model_before differs from the previous model_after")
        records.append(record)
        prev = digest.hex()
    return records
