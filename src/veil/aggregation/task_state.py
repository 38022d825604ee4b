"""The sealed task state (``aggregation/task.sealed``): what a restarted Leader needs to take
its verified-aggregation task up again — the task id, configuration and every key the
one-machine deployment holds (docs/protocol.md §7.1)."""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from veil.aggregation.config import ConsortiumConfig, DpConfig
from veil.aggregation.process import free_port
from veil.crypto.hpke_keys import X25519Identity
from veil.crypto.keys import parse_identities
from veil.crypto.seal import atomic_write, seal
from veil.crypto.seal import open as open_sealed
from veil.crypto.signing import Ed25519Identity
from veil.errors import CheckpointError, ConfigError, IntegrityError, NoIdentityError, VeilError

if TYPE_CHECKING:
    from veil.aggregation.fl_bridge import SecureOptions

TASK_STATE = "task.sealed"
_TASK_FORMAT = "veil-task-state/1"


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
        cls, client_names: list[str], dimension: int, opts: SecureOptions, z: float
    ) -> TaskKeys:
        leader_hpke, helper_hpke = X25519Identity.generate(), X25519Identity.generate()
        leader_sig, helper_sig = Ed25519Identity.generate(), Ed25519Identity.generate()
        clients = {n: Ed25519Identity.generate() for n in client_names}
        cfg = ConsortiumConfig(
            task_id=os.urandom(32),
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
            dp=DpConfig(noise_multiplier=z, delta=opts.delta, sampling_rate=1.0),
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
                raise ValueError("not a veil task state")
            cfg = ConsortiumConfig.from_dict(tomllib.loads(d["config"]))
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

    def save(self, path: Path, recipients: list) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, seal(self.to_bytes(), recipients))

    @classmethod
    def load(cls, path: Path, identities: list) -> TaskKeys:
        try:
            return cls.from_bytes(open_sealed(Path(path).read_bytes(), identities))
        except (IntegrityError, NoIdentityError) as exc:
            raise CheckpointError(f"{path} does not open: {exc}") from None


def task_keys(
    folder: Path, client_names: list[str], dimension: int, keyring: tuple | None, resume: bool
) -> TaskKeys | None:
    """The task an earlier process left in ``folder`` (resume), or None for a new task."""
    path = Path(folder) / TASK_STATE
    if not resume or not path.exists():
        return None
    if keyring is None:
        raise ConfigError("--resume of verified aggregation needs the consortium's identity")
    keys = TaskKeys.load(path, keyring[1])
    if keys.cfg.dimension != dimension or set(keys.clients) != set(client_names):
        raise CheckpointError("the task state is for another model size or other clients")
    # the old Helper process stopped with the Leader that ran it; the new one gets a free port
    keys.cfg = replace(keys.cfg, helper_endpoint=f"http://127.0.0.1:{free_port()}")
    return keys
