"""The consortium file (docs/protocol.md §2): task, aggregators, enrolled clients, PINE and DP.

One TOML file, identical at both Aggregators, is the enrolment record (DAP's task
provisioning). Unknown keys are a :class:`ConfigError`: a misspelt option must not fall back to
a default silently.
"""

from __future__ import annotations

import ipaddress
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from veil.crypto.hpke_keys import X25519Recipient
from veil.crypto.keys import parse_recipient
from veil.crypto.signing import Ed25519PublicKey
from veil.errors import ConfigError, VeilError

_CLIENT_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
#: fewer clients per round than this and the aggregate is close to one client's update
SAFE_MIN_REPORTS = 3

_SECTIONS = {
    "task": {
        "id",
        "dimension",
        "clip_norm",
        "num_frac_bits",
        "max_weight",
        "denominator",
        "min_reports",
        "max_batch",
        "allow_unsafe",
    },
    "dp": {"noise_multiplier", "delta", "sampling_rate"},
    "leader": {"hpke", "signing"},
    "helper": {"hpke", "endpoint", "signing"},
    "clients": None,  # any client id
}


@dataclass(frozen=True)
class DpConfig:
    """Distributed DP: total noise σ = noise_multiplier · clip_norm (docs/dp.md)."""

    noise_multiplier: float = 0.0
    delta: float = 1e-5
    sampling_rate: float = 1.0


@dataclass(frozen=True)
class ConsortiumConfig:
    task_id: bytes
    dimension: int
    clip_norm: float
    max_weight: int
    leader_hpke: X25519Recipient
    leader_signing: Ed25519PublicKey
    helper_hpke: X25519Recipient
    helper_endpoint: str
    clients: dict[str, Ed25519PublicKey]
    num_frac_bits: int = 0  # 0: choose (veil.aggregation.vdafs.choose_num_frac_bits)
    min_reports: int = SAFE_MIN_REPORTS
    max_batch: int = 32
    dp: DpConfig = field(default_factory=DpConfig)
    #: the Helper's audit countersigning key (veil.audit); None: no countersigned audit log
    helper_signing: Ed25519PublicKey | None = None
    #: run with settings that expose single clients (see :meth:`unsafe_settings`); recorded
    #: in every audit record, which the Helper countersigns only if it says so
    allow_unsafe: bool = False
    #: D, the fixed public denominator of the aggregate Σu·W/D (DP-FedAvg's fixed-denominator
    #: estimator): the expected Σw of a round's reports. None: q·N·W, every enrolled client
    #: at the maximum weight (docs/dp.md, *Calibration*)
    denominator: float | None = None

    def __post_init__(self) -> None:
        if len(self.task_id) != 32:
            raise ConfigError("task id must be 32 bytes (64 hex characters)")
        if not isinstance(self.dimension, int) or self.dimension < 1:
            raise ConfigError("task.dimension must be a positive integer")
        if not (isinstance(self.clip_norm, int | float) and math.isfinite(self.clip_norm)):
            raise ConfigError("task.clip_norm must be a finite number")
        if self.clip_norm <= 0:
            raise ConfigError("task.clip_norm must be positive")
        if not isinstance(self.max_weight, int) or not 1 <= self.max_weight < 2**32:
            raise ConfigError("task.max_weight must be an integer in [1, 2^32)")
        d = self.denominator
        if d is not None and not (
            isinstance(d, int | float) and not isinstance(d, bool) and math.isfinite(d) and d > 0
        ):
            raise ConfigError("task.denominator must be a positive finite number")
        if not isinstance(self.num_frac_bits, int) or not 0 <= self.num_frac_bits <= 40:
            raise ConfigError("task.num_frac_bits must be an integer in [0, 40]")
        if not isinstance(self.min_reports, int) or self.min_reports < 1:
            raise ConfigError("task.min_reports must be a positive integer")
        if not isinstance(self.max_batch, int) or not 1 <= self.max_batch <= 4096:
            raise ConfigError("task.max_batch must be an integer in [1, 4096]")
        dp = self.dp
        if not (math.isfinite(dp.noise_multiplier) and dp.noise_multiplier >= 0):
            raise ConfigError("dp.noise_multiplier must be ≥ 0")
        if not 0 < dp.delta < 1:
            raise ConfigError("dp.delta must be in (0, 1)")
        if not 0 < dp.sampling_rate <= 1:
            raise ConfigError("dp.sampling_rate must be in (0, 1]")
        for cid in self.clients:
            if not _CLIENT_ID.match(cid):
                raise ConfigError(f"client id {cid!r} must match [A-Za-z0-9_.-]{{1,64}}")
        check_helper_endpoint(self.helper_endpoint)
        if not isinstance(self.allow_unsafe, bool):
            raise ConfigError("task.allow_unsafe must be true or false")
        unsafe = self.unsafe_settings()
        if unsafe and not self.allow_unsafe:
            raise ConfigError(
                f"unsafe settings ({', '.join(unsafe)}): a round of fewer than "
                f"{SAFE_MIN_REPORTS} clients, or without noise, can expose one client's update; "
                "set [task] allow_unsafe = true (veil helper init --allow-unsafe) to run anyway "
                "(it is recorded in the audit log)"
            )

    def unsafe_settings(self) -> list[str]:
        """The settings below the safe floor, e.g. ``["min_reports=1", "noise_multiplier=0"]``."""
        out = []
        if self.min_reports < SAFE_MIN_REPORTS:
            out.append(f"min_reports={self.min_reports}")
        if self.dp.noise_multiplier == 0:
            out.append("noise_multiplier=0")
        return out

    @property
    def fixed_denominator(self) -> float:
        """D: the configured denominator, else q·N·W (no round can exceed it honestly)."""
        if self.denominator is not None:
            return float(self.denominator)
        return self.dp.sampling_rate * len(self.clients) * self.max_weight

    # ----- TOML -------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path) -> ConsortiumConfig:
        try:
            data = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read consortium file {path}: {exc}") from exc
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict) -> ConsortiumConfig:
        for name, value in data.items():
            if name not in _SECTIONS:
                raise ConfigError(f"unknown section [{name}] in the consortium file")
            allowed = _SECTIONS[name]
            if not isinstance(value, dict):
                raise ConfigError(f"[{name}] must be a table")
            if allowed is not None:
                extra = set(value) - allowed
                if extra:
                    raise ConfigError(f"unknown key(s) in [{name}]: {', '.join(sorted(extra))}")
        try:
            task, leader, helper = data["task"], data["leader"], data["helper"]
            clients = data.get("clients", {})
            dp = DpConfig(**data.get("dp", {}))
            return cls(
                task_id=bytes.fromhex(task["id"]),
                dimension=task["dimension"],
                clip_norm=float(task["clip_norm"]),
                max_weight=task.get("max_weight", 1),
                denominator=(float(task["denominator"]) if "denominator" in task else None),
                num_frac_bits=task.get("num_frac_bits", 0),
                min_reports=task.get("min_reports", SAFE_MIN_REPORTS),
                allow_unsafe=task.get("allow_unsafe", False),
                max_batch=task.get("max_batch", 32),
                leader_hpke=_recipient(leader["hpke"], X25519Recipient, "leader.hpke"),
                leader_signing=_recipient(leader["signing"], Ed25519PublicKey, "leader.signing"),
                helper_hpke=_recipient(helper["hpke"], X25519Recipient, "helper.hpke"),
                helper_endpoint=str(helper["endpoint"]).rstrip("/"),
                helper_signing=(
                    _recipient(helper["signing"], Ed25519PublicKey, "helper.signing")
                    if "signing" in helper
                    else None
                ),
                clients={
                    str(k): _recipient(v, Ed25519PublicKey, f"clients.{k}")
                    for k, v in clients.items()
                },
                dp=dp,
            )
        except KeyError as exc:
            raise ConfigError(f"missing key {exc} in the consortium file") from exc
        except (TypeError, ValueError) as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"invalid consortium file: {exc}") from exc

    def to_toml(self) -> str:
        lines = [
            "[task]",
            f'id = "{self.task_id.hex()}"',
            f"dimension = {self.dimension}",
            f"clip_norm = {self.clip_norm!r}",
            f"num_frac_bits = {self.num_frac_bits}",
            f"max_weight = {self.max_weight}",
            *([f"denominator = {self.denominator!r}"] if self.denominator is not None else []),
            f"min_reports = {self.min_reports}",
            f"max_batch = {self.max_batch}",
            *(["allow_unsafe = true"] if self.allow_unsafe else []),
            "",
            "[dp]",
            f"noise_multiplier = {self.dp.noise_multiplier!r}",
            f"delta = {self.dp.delta!r}",
            f"sampling_rate = {self.dp.sampling_rate!r}",
            "",
            "[leader]",
            f'hpke = "{self.leader_hpke}"',
            f'signing = "{self.leader_signing}"',
            "",
            "[helper]",
            f'hpke = "{self.helper_hpke}"',
            f'endpoint = "{self.helper_endpoint}"',
            *([f'signing = "{self.helper_signing}"'] if self.helper_signing else []),
            "",
            "[clients]",
            *(f'"{cid}" = "{key}"' for cid, key in self.clients.items()),
        ]
        return "\n".join(lines) + "\n"


def check_helper_endpoint(url: str) -> None:
    """``https://host[:port]``, or plain ``http://`` only to a loopback host (the demo and
    tests); parsed, not prefix-matched: ``http://127.0.0.1.evil.example`` is not loopback."""
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port  # .port raises ValueError on a bad port
    except ValueError as exc:
        raise ConfigError(f"helper.endpoint is not a URL: {exc}") from None
    if not host or parts.username is not None or parts.password is not None:
        raise ConfigError("helper.endpoint must name a host (and no user or password)")
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and _is_loopback(host):
        return
    raise ConfigError("helper.endpoint must be https://, or http:// to a loopback address")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _recipient(text: object, kind: type, where: str):
    if not isinstance(text, str):
        raise ConfigError(f"{where} must be a veil:<kind>:… string")
    try:
        r = parse_recipient(text)
    except VeilError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    if not isinstance(r, kind):
        raise ConfigError(f"{where} must be a {kind.kind} key")
    return r
