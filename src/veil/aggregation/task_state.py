"""The sealed task state (``aggregation/task.sealed``): what a restarted Leader needs to take
its verified-aggregation task up again — the task id, configuration and every key the
one-machine deployment holds (docs/protocol.md §7.1).

It is sealed to the consortium's key *and signed* with the run's Ed25519 key
(:class:`StateKeys`): sealing says who can read it, not who wrote it, and a task state anyone
could seal to the public recipient would hand a resumed Leader their keys and noise setting.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from veil.aggregation.config import SAFE_MIN_REPORTS, ConsortiumConfig, DpConfig
from veil.aggregation.process import free_port
from veil.crypto.hpke_keys import X25519Identity
from veil.crypto.keys import Identity, Recipient, parse_identities
from veil.crypto.seal import atomic_write, seal
from veil.crypto.seal import open as open_sealed
from veil.crypto.signing import Ed25519Identity, Ed25519PublicKey
from veil.errors import (
    CheckpointError,
    ConfigError,
    IntegrityError,
    NoIdentityError,
    SignatureError,
    VeilError,
)


class TaskOptions(Protocol):
    """What a new task takes from the caller's options (``fl_bridge.SecureOptions`` has it);
    a protocol, so that this module does not import the bridge that imports it."""

    clip_norm: float
    max_weight: int
    denominator: float | None
    min_reports: int
    delta: float
    sampling_rate: float


TASK_STATE = "task.sealed"
_TASK_FORMAT = "veil-task-state/2"  # /1 was sealed but unsigned: refused


@dataclass(frozen=True)
class StateKeys:
    """Who a run's state files are sealed to, opened with and signed by (the consortium).

    ``signer`` is the run's Ed25519 key, kept beside the consortium's identity
    (``keys/consortium-signing.identity``): a state file is taken up only if it carries
    that key's signature.
    """

    recipients: Sequence[Recipient]
    identities: Sequence[Identity]
    signer: Ed25519Identity = field(repr=False)

    @property
    def sender(self) -> Ed25519PublicKey:
        return self.signer.recipient()


@dataclass
class TaskKeys:
    """A task's configuration and every key the one-machine deployment holds for it.

    Sealed to the consortium's key in ``task.sealed`` (written atomically), so that a Leader
    restarted with ``--resume`` takes up the same task — same task id, same keys, same audit
    log — instead of starting another one.
    """

    cfg: ConsortiumConfig
    leader_hpke: X25519Identity
    helper_hpke: X25519Identity
    leader_sig: Ed25519Identity
    helper_sig: Ed25519Identity
    clients: dict[str, Ed25519Identity]

    @classmethod
    def generate(
        cls,
        client_names: list[str],
        dimension: int,
        opts: TaskOptions,
        z: float,
        task_id: bytes | None = None,
    ) -> TaskKeys:
        leader_hpke, helper_hpke = X25519Identity.generate(), X25519Identity.generate()
        leader_sig, helper_sig = Ed25519Identity.generate(), Ed25519Identity.generate()
        clients = {n: Ed25519Identity.generate() for n in client_names}
        cfg = ConsortiumConfig(
            task_id=os.urandom(32) if task_id is None else task_id,
            dimension=dimension,
            clip_norm=opts.clip_norm,
            max_weight=opts.max_weight,
            denominator=opts.denominator,
            leader_hpke=leader_hpke.recipient(),
            leader_signing=leader_sig.recipient(),
            helper_hpke=helper_hpke.recipient(),
            helper_endpoint=f"http://127.0.0.1:{free_port()}",
            helper_signing=helper_sig.recipient(),
            clients={n: k.recipient() for n, k in clients.items()},
            min_reports=opts.min_reports,
            max_batch=32,
            dp=DpConfig(noise_multiplier=z, delta=opts.delta, sampling_rate=opts.sampling_rate),
            # the one-machine demo plays every party; its unsafe settings (if any) are
            # stated in every audit record
            allow_unsafe=opts.min_reports < SAFE_MIN_REPORTS or z == 0,
        )
        return cls(cfg, leader_hpke, helper_hpke, leader_sig, helper_sig, clients)

    def to_bytes(self) -> bytes:
        keys = {
            "leader": self.leader_hpke,
            "helper": self.helper_hpke,
            "leader_signing": self.leader_sig,
            "helper_signing": self.helper_sig,
        }
        return json.dumps(
            {
                "format": _TASK_FORMAT,
                "task": self.cfg.task_id.hex(),
                "config": self.cfg.to_toml(),
                **{k: v.to_string() for k, v in keys.items()},
                "clients": {n: k.to_string() for n, k in self.clients.items()},
            },
            sort_keys=True,
        ).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> TaskKeys:
        try:
            d = json.loads(data)
            if d.pop("format") != _TASK_FORMAT:
                raise ValueError("not a veil task state of this version")
            cfg = ConsortiumConfig.from_dict(tomllib.loads(d["config"]))
            if d["task"] != cfg.task_id.hex():
                raise ValueError("its task id and its configuration's differ")
            one = {k: parse_identities(d[k])[0] for k in
                   ("leader", "helper", "leader_signing", "helper_signing")}  # fmt: skip
            clients = {str(n): parse_identities(t)[0] for n, t in d["clients"].items()}
            keys = cls(cfg, one["leader"], one["helper"], one["leader_signing"],
                       one["helper_signing"], clients)  # fmt: skip
        except (ValueError, KeyError, TypeError, AttributeError, VeilError) as exc:
            raise CheckpointError(f"the task state is malformed: {exc}") from None
        keys.check()
        return keys

    def check(self) -> None:
        """Every key matches the configuration (a state pieced together from two tasks fails)."""
        c = self.cfg
        pairs = [
            (self.leader_hpke.recipient(), c.leader_hpke),
            (self.helper_hpke.recipient(), c.helper_hpke),
            (self.leader_sig.recipient(), c.leader_signing),
            (self.helper_sig.recipient(), c.helper_signing),
            *((k.recipient(), c.clients.get(n)) for n, k in self.clients.items()),
        ]
        if set(self.clients) != set(c.clients) or any(a != b for a, b in pairs):
            raise CheckpointError("the task state's keys do not match its configuration")

    def save(self, path: Path, ring: StateKeys) -> None:
        """Seal to ``ring``'s recipients, signed with its key; written atomically."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, seal(self.to_bytes(), ring.recipients, sign_with=ring.signer))

    @classmethod
    def load(cls, path: Path, ring: StateKeys, task_id: bytes | None = None) -> TaskKeys:
        """The task state at ``path`` if it is signed by ``ring``'s key (and, if given, of
        task ``task_id``); else CheckpointError, the file left as is."""
        try:
            data = open_sealed(Path(path).read_bytes(), ring.identities, verify_sender=ring.sender)
        except SignatureError as exc:
            raise CheckpointError(
                f"{path} is not signed by this run's key ({exc}): a substituted task state, or "
                "one written before task states were signed; it was left as is"
            ) from None
        except (IntegrityError, NoIdentityError) as exc:
            raise CheckpointError(f"{path} does not open: {exc}") from None
        keys = cls.from_bytes(data)
        if task_id is not None and keys.cfg.task_id != task_id:
            raise CheckpointError(f"{path} is the state of another task; it was left as is")
        return keys


def task_keys(
    folder: Path,
    client_names: list[str],
    dimension: int,
    keyring: StateKeys | None,
    resume: bool,
) -> TaskKeys | None:
    """The task an earlier process left in ``folder`` (resume), or None for a new task."""
    path = Path(folder) / TASK_STATE
    if not resume or not path.exists():
        return None
    if keyring is None:
        raise ConfigError("--resume of verified aggregation needs the consortium's identity")
    keys = TaskKeys.load(path, keyring)
    if keys.cfg.dimension != dimension or set(keys.clients) != set(client_names):
        raise CheckpointError("the task state is for another model size or other clients")
    # the old Helper process stopped with the Leader that ran it; the new one gets a free port
    keys.cfg = replace(keys.cfg, helper_endpoint=f"http://127.0.0.1:{free_port()}")
    return keys
