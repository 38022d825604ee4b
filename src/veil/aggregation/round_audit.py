"""A verified round's audit record (veil.audit), the same for every Leader front end: the
embedded runner (:mod:`veil.aggregation.fl_bridge`) and the Flower ServerApp
(:mod:`veil.fl.flower_verified`)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from veil.aggregation.config import ConsortiumConfig
from veil.aggregation.leader import RoundResult
from veil.aggregation.transport import HttpHelper
from veil.audit import KEYS_SUFFIX, PENDING_SUFFIX, AuditLog, Rejection, load_keys, model_hash
from veil.crypto.signing import Ed25519Identity
from veil.errors import ConfigError, FormatError


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
