"""Global checkpoints: safetensors inside a sealed file, written atomically every round.

Layout of the plaintext: a safetensors file whose tensors are ``global`` (the flat float32
model) and the strategy's state arrays, and whose metadata carries ``format``
(``veil-fl-checkpoint/2``), ``run`` (the run/task the checkpoint belongs to), ``round``,
``size`` and ``history`` (the report's round records, JSON) so that ``--resume`` rebuilds the
report exactly. The plaintext is sealed to the consortium's recipients *and signed* with the
run's Ed25519 key (the sealed format's sender signature, docs/format-sealed.md), then written
with a temporary file in the same folder, fsync, then ``os.replace`` — a crash leaves the
previous checkpoint intact, never a torn one.

Sealing alone does not say who wrote a file: anyone who knows the (public) recipient can seal
a model to it. Loading therefore refuses anything that is not exactly what this run wrote: an
unsigned file (including the old ``veil-fl-checkpoint/1``), one signed by another key, one
whose ``run`` is another run's or task's, a tampered or truncated file, a wrong format tag, a
model of another size — all as :class:`CheckpointError`, before anything is overwritten.

Rollback: the signature binds run and round but cannot say which round is the *latest*; a
genuine older checkpoint of the same run still verifies. The caller pins freshness from other
signed state where it has some (``min_round``; the verified-aggregation audit log).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from safetensors.numpy import load, save

import veil
from veil.crypto.seal import atomic_write
from veil.errors import CheckpointError, IntegrityError, NoIdentityError, SignatureError
from veil.fl.engine import RunState

if TYPE_CHECKING:
    from veil.crypto.keys import Ed25519Identity, Ed25519PublicKey, Identity, Recipient

FORMAT = "veil-fl-checkpoint/2"
_UNSIGNED_FORMAT = "veil-fl-checkpoint/1"  # before checkpoints were signed: refused on load
_MAX_HEADER = 1 << 24


def to_bytes(state: RunState, run: str = "") -> bytes:
    """Serialise a run state as safetensors bytes, bound to ``run`` (a run or task id)."""
    tensors = {"global": np.ascontiguousarray(state.vector, dtype=np.float32)}
    for k, v in state.strategy_state.items():
        if k == "global":
            raise CheckpointError("strategy state may not be named 'global'")
        tensors[k] = np.ascontiguousarray(v)
    meta = {
        "format": FORMAT,
        "run": run,
        "round": str(state.round),
        "size": str(state.vector.size),
        "history": json.dumps(state.history, allow_nan=True),
    }
    return save(tensors, metadata=meta)


def from_bytes(data: bytes, run: str | None = None) -> RunState:
    """Parse :func:`to_bytes` output, validating the format tag, shapes and (unless None)
    that it belongs to ``run``."""
    meta = _metadata(data)
    if meta.get("format") == _UNSIGNED_FORMAT:
        raise CheckpointError(
            "an unsigned checkpoint of an older veil (veil-fl-checkpoint/1) cannot be "
            "authenticated; it was left as is — start a new run"
        )
    if meta.get("format") != FORMAT:
        raise CheckpointError("not a veil federated-learning checkpoint")
    if run is not None and meta.get("run") != run:
        raise CheckpointError(
            f"the checkpoint belongs to another run or task ({meta.get('run') or 'none'!r}, "
            f"expected {run or 'none'!r}); it was left as is"
        )
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
    """Save/load the run state as a sealed, signed safetensors file at ``path``.

    ``signer`` is the run's Ed25519 key (it signs every save); ``sender`` the key a loaded
    checkpoint must be signed by (default: the signer's). ``run`` names the run or task the
    checkpoint belongs to; ``min_round`` the oldest round a load accepts (rollback check).
    Without a ``signer`` a save is sealed but unsigned (a write-only export, e.g. Flower's,
    whose key stays off the server); :meth:`load` always needs a sender key.
    """

    def __init__(
        self,
        path: Path,
        recipients: Sequence[Recipient],
        identities: Sequence[Identity] = (),
        *,
        signer: Ed25519Identity | None = None,
        sender: Ed25519PublicKey | None = None,
        run: str = "",
        min_round: int = 0,
    ) -> None:
        self.path = Path(path)
        self.recipients = list(recipients)
        self.identities = list(identities)
        self.signer = signer
        self.sender = sender if sender is not None or signer is None else signer.recipient()
        self.run = run
        self.min_round = min_round

    def save(self, state: RunState) -> None:
        """Seal, sign and write atomically (tmp in the same folder, fsync, rename)."""
        blob = veil.seal(to_bytes(state, self.run), self.recipients, sign_with=self.signer)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, blob)

    def load(self) -> RunState | None:
        """The last checkpoint, None if there is none; CheckpointError if it is damaged, not
        signed by ``sender``, of another run, or older than ``min_round``."""
        if not self.path.exists():
            if self.min_round > 0:
                raise CheckpointError(
                    f"checkpoint {self.path} is missing, but this run already reached round "
                    f"{self.min_round}"
                )
            return None
        state = from_bytes(self._open(), self.run)
        if state.round < self.min_round:
            raise CheckpointError(
                f"checkpoint {self.path} is of round {state.round}, but this run already "
                f"reached round {self.min_round}: an older checkpoint was put back; it was "
                "left as is"
            )
        return state

    def peek(self) -> RunState:
        """Open and parse without checking the signer or run: for inspecting an export
        (e.g. Flower's unsigned checkpoint) — never for taking a run up again."""
        try:
            return from_bytes(veil.open(self.path.read_bytes(), self.identities))
        except (IntegrityError, NoIdentityError) as exc:
            raise CheckpointError(f"checkpoint {self.path} does not open: {exc}") from exc

    def _open(self) -> bytes:
        if self.sender is None:
            raise CheckpointError(
                f"cannot authenticate checkpoint {self.path}: no sender key to verify it with"
            )
        try:
            return veil.open(self.path.read_bytes(), self.identities, verify_sender=self.sender)
        except SignatureError as exc:
            raise CheckpointError(
                f"checkpoint {self.path} is not signed by this run's key ({exc}): a substituted "
                "file, or one written before checkpoints were signed; it was left as is"
            ) from exc
        except IntegrityError as exc:
            raise CheckpointError(
                f"checkpoint {self.path} is corrupted or was tampered with; it was left as is"
            ) from exc
        except NoIdentityError as exc:
            raise CheckpointError(f"no identity given can open checkpoint {self.path}") from exc


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
