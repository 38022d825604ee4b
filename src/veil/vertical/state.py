"""A host's resumable state: one snapshot per (protocol, step), written atomically.

The label party asks a host to checkpoint after each completed tree or epoch; after a
crash both sides restore the same step, so the run resumes from there (docs/vertical.md,
*Failures*). Snapshots are :mod:`veil.vertical.wire` bodies (no pickle).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from veil.crypto.seal import atomic_write
from veil.errors import CheckpointError, FormatError
from veil.vertical import wire
from veil.vertical.wire import Fields

_SEQ = "last-seq"
_PROTOCOL = re.compile(r"^[a-z][a-z0-9]{0,15}$")


class RoleStore:
    """Snapshots on disk under ``state_dir`` (or in memory when it is None)."""

    def __init__(self, state_dir: os.PathLike[str] | None) -> None:
        self.dir = Path(state_dir) if state_dir is not None else None
        self._memory: dict[tuple[str, int], bytes] = {}
        self._seq = -1
        self.outputs: dict[str, dict] = {}

    def write_output(self, protocol: str, output: dict) -> None:
        """A role's report for its own party (``<protocol>-output.json``; never sent)."""
        self.outputs[protocol] = output
        if self.dir is not None:
            self.dir.mkdir(parents=True, exist_ok=True)
            text = json.dumps(output, indent=1, ensure_ascii=False) + "\n"
            atomic_write(self.dir / f"{protocol}-output.json", text.encode())

    def last_seq(self) -> int:
        """The sequence number of the last message this host accepted (-1: none)."""
        if self.dir is None or not (self.dir / _SEQ).exists():
            return self._seq
        text = (self.dir / _SEQ).read_text().strip()
        if not (text.isascii() and text.isdigit() and len(text) < 40):
            raise CheckpointError("the host's sequence file is corrupted")
        return int(text)

    def set_last_seq(self, seq: int) -> None:
        self._seq = seq
        if self.dir is not None:
            self.dir.mkdir(parents=True, exist_ok=True)
            atomic_write(self.dir / _SEQ, str(seq).encode())

    def _path(self, protocol: str, step: int) -> Path:
        assert self.dir is not None
        return self.dir / f"{protocol}-{step:06d}.state"

    def save(
        self,
        protocol: str,
        step: int,
        snapshot: Fields,
        aligned: np.ndarray | None,
        intersection: np.ndarray | None,
    ) -> None:
        if not _PROTOCOL.match(protocol) or step < 0:
            raise FormatError("bad checkpoint name")
        fields = dict(snapshot)
        for name, rows in (("__aligned__", aligned), ("__intersection__", intersection)):
            if rows is not None:
                fields[name] = rows.astype(np.int64)
        blob = wire.encode(f"state.{protocol}", fields)
        if self.dir is None:
            self._memory[(protocol, step)] = blob
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        atomic_write(self._path(protocol, step), blob)

    def load(self, protocol: str, step: int) -> tuple[Fields, np.ndarray | None, np.ndarray | None]:
        """(the role's snapshot, the aligned rows, the PSI intersection) of that step."""
        if not _PROTOCOL.match(protocol) or step < 0:
            raise FormatError("bad checkpoint name")
        if self.dir is None:
            blob = self._memory.get((protocol, step))
        else:
            path = self._path(protocol, step)
            blob = path.read_bytes() if path.exists() else None
        if blob is None:
            raise CheckpointError(f"no {protocol} checkpoint at step {step}")
        kind, fields = wire.decode(blob)
        if kind != f"state.{protocol}":
            raise CheckpointError("checkpoint is for another protocol")
        rows = [fields.pop(name, None) for name in ("__aligned__", "__intersection__")]
        aligned, intersection = (r if isinstance(r, np.ndarray) else None for r in rows)
        return fields, aligned, intersection
