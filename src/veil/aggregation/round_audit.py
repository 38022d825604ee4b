"""A verified round's audit record (veil.audit), the same for every Leader front end: the
embedded runner (:mod:`veil.aggregation.fl_bridge`) and the Flower ServerApp
(:mod:`veil.fl.flower_verified`): what a record holds, appending it once per round (also
across a resume), and how far a task's log got."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from veil.aggregation.config import ConsortiumConfig
from veil.aggregation.leader import RoundResult
from veil.aggregation.transport import HttpHelper
from veil.audit import (
    KEYS_SUFFIX,
    PENDING_SUFFIX,
    AuditLog,
    AuditRecord,
    Rejection,
    load_keys,
    model_hash,
    verify_log,
)
from veil.crypto.signing import Ed25519Identity
from veil.errors import ConfigError, FormatError, IntegrityError, VeilError
from veil.faults import failpoint


def vec_hash(vec: np.ndarray) -> str:
    """audit.model_hash over the model's float32 parameter bytes."""
    return model_hash(np.ascontiguousarray(vec, dtype=np.float32).tobytes())


def round_fields(
    rnd: int, model_before: np.ndarray, res: RoundResult, epsilon, cfg: ConsortiumConfig
) -> dict:
    """A record's fields known once the round is aggregated (``model_after`` comes later:
    the server step may transform the verified aggregate, e.g. FedAdam); the task's unsafe
    settings are stated (the Helper countersigns only a record that states them)."""
    return {
        "unsafe": cfg.unsafe_settings(),
        "round": rnd,
        "model_before": vec_hash(model_before),
        "accepted": res.accepted_ids,
        "rejected": [Rejection(rid, why) for rid, why in res.rejected_ids],
        "epsilon": epsilon,
    }


def append_round(
    audit: AuditLog,
    cfg: ConsortiumConfig,
    fields: dict,
    after: np.ndarray,
    call: Callable[[Callable[[], AuditRecord]], AuditRecord] = lambda f: f(),
) -> int:
    """Append a round's record (``fields`` from :func:`round_fields`, ``after`` the model as
    it now is) and return the log's length. A round the log already holds (the process this
    one resumed logged it before it died) is not appended again, but must be what this run
    computed (IntegrityError otherwise). ``call`` wraps the countersigning round trip (e.g.
    to restart a dead Helper once)."""
    after_hash = vec_hash(after)
    logged = audit.records()
    if logged and logged[-1].round >= fields["round"]:
        _check_logged(logged[-1], fields, after_hash)
        return len(logged)
    task = cfg.task_id.hex()
    rec = call(lambda: audit.append(task=task, model_after=after_hash, existing=logged, **fields))
    failpoint("leader.audited", fields["round"])
    return rec.seq + 1


def log_verified_round(
    audit: AuditLog | None,
    cfg: ConsortiumConfig,
    round_: tuple[int, np.ndarray, RoundResult, float | None],
    after: np.ndarray,
    call: Callable[[Callable[[], AuditRecord]], AuditRecord] = lambda f: f(),
) -> int | None:
    """A verified backend's ``log_round``: round ``(rnd, model before, result, ε)``
    appended with :func:`append_round`; None without an audit log."""
    if audit is None:
        return None
    return append_round(audit, cfg, round_fields(*round_, cfg), after, call)


def _check_logged(last: AuditRecord, fields: dict, model_after: str) -> None:
    same = (
        last.round == fields["round"]
        and last.model_before == fields["model_before"]
        and last.model_after == model_after
        and last.accepted == sorted(fields["accepted"])
    )
    if not same:
        raise IntegrityError(
            f"the audit log already holds round {last.round}, which this run's round "
            f"{fields['round']} does not reproduce"
        )


def audited_round(path: Path | None, cfg: ConsortiumConfig) -> int:
    """The last round of this task in the log at ``path`` (0 if none, or if the log is not
    this task's): signed by the Leader and countersigned by the Helper, it pins how far the
    run got, so an older checkpoint put back is noticed (rollback)."""
    if path is None or not Path(path).exists() or cfg.helper_signing is None:
        return 0
    try:
        records = verify_log(path, cfg.leader_signing, cfg.helper_signing)
    except VeilError:
        return 0  # another task's or a damaged log: open_log moves it aside
    return max((r.round for r in records if r.task == cfg.task_id.hex()), default=0)


def open_log(
    path: Path, leader: Ed25519Identity, cfg: ConsortiumConfig, http: HttpHelper
) -> AuditLog:
    """The task's log at ``path``: records signed with ``leader`` and countersigned by the
    Helper over ``http``; the aggregators' public keys are written beside it.

    One log per task: a log of this task (a resumed or restarted Leader) is continued; a log
    left by another task is moved aside with its keys, not overwritten, so that it still
    verifies on its own."""
    if cfg.helper_signing is None:
        raise ConfigError("an audit log needs helper.signing in consortium.toml")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not _of_task(path, cfg.task_id.hex(), (leader.recipient(), cfg.helper_signing)):
        _move_aside(path)
    return AuditLog(
        path, leader, cfg.helper_signing, lambda rec: http.countersign(rec.to_line().encode())
    )


def _siblings(path: Path) -> list[Path]:
    return [path, *(path.with_name(path.name + s) for s in (KEYS_SUFFIX, PENDING_SUFFIX))]


def _of_task(path: Path, task: str, keys: tuple) -> bool:
    """True if nothing is there, or what is there is this task's (by its first record, or,
    with no record yet, by the keys written beside it)."""
    if not any(p.exists() for p in _siblings(path)):
        return True
    try:
        first = b""
        if path.exists():
            with path.open("rb") as fh:
                first = fh.readline().rstrip(b"\n")
        if first:
            return json.loads(first).get("task") == task
        return load_keys(path) == keys
    except (OSError, ValueError, AttributeError, FormatError):
        return False


def _move_aside(path: Path) -> None:
    existing = [p for p in _siblings(path) if p.exists()]
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(min(p.stat().st_mtime for p in existing)))
    for f in existing:
        f.rename(f.with_name(f.name.replace(path.name, f"{path.name}.{stamp}", 1)))
