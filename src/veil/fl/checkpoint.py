"""Global checkpoints: safetensors inside a sealed file, written atomically every round.

Layout of the plaintext: a safetensors file whose tensors are ``global`` (the flat float32
model) and the strategy's state arrays, and whose metadata carries ``format``
(``veil-fl-checkpoint/1``), ``round``, ``size`` and ``history`` (the report's round
records, JSON) so that ``--resume`` rebuilds the report exactly. The plaintext is sealed to
the consortium's recipients and written with a temporary file in the same folder, fsync,
then ``os.replace`` — a crash leaves the previous checkpoint intact, never a torn one.

Loading refuses anything that is not exactly that: a tampered or truncated file
(:class:`IntegrityError` from the sealed format), a wrong format tag, a model of another
size — all as :class:`CheckpointError`, before anything is overwritten.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from veil.errors import CheckpointError, IntegrityError, NoIdentityError
from veil.fl.runner import RunState

if TYPE_CHECKING:
    from veil.crypto.keys import Identity, Recipient

FORMAT = "veil-fl-checkpoint/1"
_MAX_HEADER = 1 << 24


def to_bytes(state: RunState) -> bytes:
    """Serialise a run state as safetensors bytes."""
    from safetensors.numpy import save

    tensors = {"global": np.ascontiguousarray(state.vector, dtype=np.float32)}
    for k, v in state.strategy_state.items():
        if k == "global":
            raise CheckpointError("strategy state may not be named 'global'")
        tensors[k] = np.ascontiguousarray(v)
    meta = {
        "format": FORMAT,
        "round": str(state.round),
        "size": str(state.vector.size),
        "history": json.dumps(state.history, allow_nan=True),
    }
    return save(tensors, metadata=meta)


def from_bytes(data: bytes) -> RunState:
    """Parse :func:`to_bytes` output, validating the format tag and shapes."""
    from safetensors.numpy import load

    meta = _metadata(data)
    if meta.get("format") != FORMAT:
        raise CheckpointError("not a veil federated-learning checkpoint")
    try:
        tensors = load(data)
        rnd, size = int(meta["round"]), int(meta["size"])
        history = json.loads(meta["history"])
    except Exception as exc:  # safetensors, json and int() each raise their own type
        raise CheckpointError(f"checkpoint is malformed: {exc}") from exc
    vec = tensors.pop("global", None)
    if vec is None or vec.dtype != np.float32 or vec.shape != (size,) or rnd < 1:
        raise CheckpointError("checkpoint model tensor is missing or inconsistent")
    if not np.isfinite(vec).all():
        raise CheckpointError("checkpoint model holds non-finite values")
    if not isinstance(history, list) or len(history) != rnd:
        raise CheckpointError("checkpoint history does not match its round")
    return RunState(rnd, vec, tensors, history)


class SealedCheckpointer:
    """Save/load the run state as a sealed safetensors file at ``path``."""

    def __init__(
        self,
        path: Path,
        recipients: Sequence[Recipient],
        identities: Sequence[Identity] = (),
    ) -> None:
        self.path = Path(path)
        self.recipients = list(recipients)
        self.identities = list(identities)

    def save(self, state: RunState) -> None:
        """Seal and write atomically (tmp in the same folder, fsync, rename)."""
        import veil
        from veil.crypto.seal import atomic_write

        blob = veil.seal(to_bytes(state), self.recipients)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, blob)

    def load(self) -> RunState | None:
        """The last checkpoint, None if there is none; CheckpointError if it is damaged."""
        import veil

        if not self.path.exists():
            return None
        try:
            data = veil.open(self.path.read_bytes(), self.identities)
        except IntegrityError as exc:
            raise CheckpointError(
                f"checkpoint {self.path} is corrupted or was tampered with; it was left as is"
            ) from exc
        except NoIdentityError as exc:
            raise CheckpointError(f"no identity given can open checkpoint {self.path}") from exc
        return from_bytes(data)


def _metadata(data: bytes) -> dict[str, str]:
    if len(data) < 8:
        raise CheckpointError("checkpoint is truncated")
    (n,) = struct.unpack("<Q", data[:8])
    if n > _MAX_HEADER or 8 + n > len(data):
        raise CheckpointError("checkpoint header is malformed")
    try:
        header = json.loads(data[8 : 8 + n])
        meta = header.get("__metadata__", {})
    except (ValueError, AttributeError) as exc:
        raise CheckpointError("checkpoint header is not JSON") from exc
    if not isinstance(meta, dict):
        raise CheckpointError("checkpoint metadata is malformed")
    return {str(k): str(v) for k, v in meta.items()}
