"""Leader ↔ Helper messages (docs/protocol.md §5): JSON with base64url bytes, bounded sizes.

Both the in-process transport and HTTP carry exactly these bytes, so one codec is tested.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum

from veil.errors import FormatError


class Reason(StrEnum):
    """Why a report was rejected (docs/protocol.md §5.1). Never carries report contents."""

    MALFORMED = "malformed"
    WRONG_TASK = "wrong_task"
    WRONG_ROUND = "wrong_round"
    UNKNOWN_CLIENT = "unknown_client"
    BAD_SIGNATURE = "bad_signature"
    DUPLICATE = "duplicate"
    REPLAYED = "replayed"
    LEADER_SHARE_INVALID = "leader_share_invalid"
    HELPER_SHARE_INVALID = "helper_share_invalid"
    UPDATE_INVALID = "update_invalid"
    WEIGHT_INVALID = "weight_invalid"


ITEM_FIELDS = 6  # metadata, helper share, 2 verifier shares, leader-share hash, signature


def b64e(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


def b64d(s: object, what: str) -> bytes:
    if not isinstance(s, str) or len(s) > 1 << 26:
        raise FormatError(f"{what} must be a base64url string")
    try:
        return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
    except ValueError as exc:
        raise FormatError(f"{what} is not base64url") from exc


def checksum(report_ids: list[bytes]) -> bytes:
    """DAP's report-id checksum: XOR of SHA-256 of every id (order-independent)."""
    acc = bytearray(32)
    for rid in report_ids:
        for i, b in enumerate(hashlib.sha256(rid).digest()):
            acc[i] ^= b
    return bytes(acc)


def _load(body: bytes) -> dict:
    try:
        obj = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # RecursionError: "[[[…"
        raise FormatError("message is not JSON") from exc
    if not isinstance(obj, dict):
        raise FormatError("message must be a JSON object")
    return obj


def _int(obj: dict, key: str) -> int:
    v = obj.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2**32:
        raise FormatError(f"{key} must be a uint32")
    return v


@dataclass(frozen=True)
class VerifyItem:
    """One report as the Leader forwards it: with the client's signature and the hash of the
    Leader's sealed share, so the Helper checks the client's signature itself."""

    metadata: bytes
    helper_share: bytes
    leader_pine_vs: bytes
    leader_weight_vs: bytes
    leader_share_hash: bytes = b""
    signature: bytes = b""


@dataclass(frozen=True)
class VerifyRequest:
    task_id: bytes
    round: int
    verify_key_sealed: bytes
    items: list[VerifyItem]

    def encode(self) -> bytes:
        return json.dumps(
            {
                "task": self.task_id.hex(),
                "round": self.round,
                "verify_key": b64e(self.verify_key_sealed),
                "reports": [
                    [
                        b64e(i.metadata),
                        b64e(i.helper_share),
                        b64e(i.leader_pine_vs),
                        b64e(i.leader_weight_vs),
                        b64e(i.leader_share_hash),
                        b64e(i.signature),
                    ]
                    for i in self.items
                ],
            }
        ).encode()

    @classmethod
    def decode(cls, body: bytes) -> VerifyRequest:
        o = _load(body)
        reports = o.get("reports")
        if not isinstance(reports, list) or not all(
            isinstance(r, list) and len(r) == ITEM_FIELDS for r in reports
        ):
            raise FormatError(f"reports must be a list of {ITEM_FIELDS}-element lists")
        return cls(
            _task(o),
            _int(o, "round"),
            b64d(o.get("verify_key"), "verify_key"),
            [VerifyItem(*(b64d(x, "report field") for x in r)) for r in reports],
        )


@dataclass(frozen=True)
class VerifyResult:
    """Per report: the Helper's verifier shares, or the reason it rejected."""

    report_id: bytes
    reason: Reason | None
    pine_vs: bytes = b""
    weight_vs: bytes = b""


def encode_verify_response(results: list[VerifyResult]) -> bytes:
    return json.dumps(
        [
            [
                b64e(r.report_id),
                r.reason.value if r.reason else None,
                b64e(r.pine_vs),
                b64e(r.weight_vs),
            ]
            for r in results
        ]
    ).encode()


def decode_verify_response(body: bytes) -> list[VerifyResult]:
    try:
        rows = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise FormatError("verify response is not JSON") from exc
    if not isinstance(rows, list):
        raise FormatError("verify response must be a list")
    out = []
    for row in rows:
        if not isinstance(row, list) or len(row) != 4:
            raise FormatError("bad verify response row")
        try:
            reason = None if row[1] is None else Reason(row[1])
        except ValueError as exc:
            raise FormatError("unknown reject reason") from exc
        out.append(VerifyResult(b64d(row[0], "id"), reason, b64d(row[2], "vs"), b64d(row[3], "vs")))
    return out


@dataclass(frozen=True)
class CollectRequest:
    task_id: bytes
    round: int
    report_ids: list[bytes]
    checksum: bytes

    def encode(self) -> bytes:
        return json.dumps(
            {
                "task": self.task_id.hex(),
                "round": self.round,
                "report_ids": [b64e(r) for r in self.report_ids],
                "checksum": self.checksum.hex(),
            }
        ).encode()

    @classmethod
    def decode(cls, body: bytes) -> CollectRequest:
        o = _load(body)
        ids = o.get("report_ids")
        if not isinstance(ids, list):
            raise FormatError("report_ids must be a list")
        try:
            cs = bytes.fromhex(o.get("checksum", ""))
        except (TypeError, ValueError) as exc:
            raise FormatError("checksum must be hex") from exc
        return cls(_task(o), _int(o, "round"), [b64d(r, "report id") for r in ids], cs)


def _task(o: dict) -> bytes:
    try:
        t = bytes.fromhex(o.get("task", ""))
    except (TypeError, ValueError) as exc:
        raise FormatError("task must be hex") from exc
    if len(t) != 32:
        raise FormatError("task id must be 32 bytes")
    return t
