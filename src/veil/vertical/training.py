"""The label party's run: align, hold out, train SecureBoost and hetero LR, score, report.

This is what ``veil party train`` (a user's own tables, hosts anywhere on loopback) and
the vertical demos run. It sees only what the label party sees: its own table, the
alignment, the models it keeps, the hosts' answers, and the traffic.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np

from veil.errors import ConfigError, DataError, ProtocolError
from veil.vertical import hetero_lr, psi_spu, secureboost, wire
from veil.vertical.align import Alignment, align
from veil.vertical.channel import Channel, check_reply
from veil.vertical.claims import DEFAULT_MINIMUM, prove_labels
from veil.vertical.gbdt import GBDTConfig
from veil.vertical.hetero_lr import HeteroLRConfig
from veil.vertical.importance import boost_gains, boost_importance, lr_importance
from veil.vertical.tables import PartyTable

T = TypeVar("T")
#: ``resilient(run)`` calls ``run(resume)`` until it finishes (Federation.resilient)
Resilient = Callable[[Callable[[bool], T]], tuple[T, int]]
MODELS = ("secureboost", "hetero_lr")


@dataclass(frozen=True)
class VerticalSettings:
    """What to train and how; the defaults are the demo's."""

    models: tuple[str, ...] = MODELS
    scheme: str = "paillier"
    valid_share: float = 0.25
    seed: int = 0
    boost: GBDTConfig = field(default_factory=lambda: GBDTConfig(n_trees=10, max_depth=3))
    lr: HeteroLRConfig = field(default_factory=lambda: HeteroLRConfig(epochs=3, l2=0.001))
    #: the host hetero LR trains with (two parties); default: the first host
    lr_host: str | None = None
    #: the label claim: at least this many positive and negative training rows
    label_minimum: int = DEFAULT_MINIMUM
    #: PSI backend: "spu" (RR22 in the isolated PSI venv), "openmined", or "auto" (spu when
    #: its venv is there: scripts/psi-venv.sh)
    psi: str = "auto"

    def __post_init__(self) -> None:
        unknown = set(self.models) - set(MODELS)
        if unknown or not self.models:
            raise ConfigError(f"models are {', '.join(MODELS)}; got {sorted(unknown)}")
        if self.psi not in ("auto", "spu", "openmined"):
            raise ConfigError("psi is auto, spu or openmined")
        if not 0.05 <= self.valid_share <= 0.5:
            raise ConfigError("valid_share must be within 0.05..0.5")


def auc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score  # lazy: scikit-learn (≈0.5 s) only to score

    return float(roc_auc_score(y, p))


def hold_out(
    y: np.ndarray, guest_rows: np.ndarray, share: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified split of aligned positions: (training, validation), each sorted.

    Drawn in the label party's row order, so a seed gives the same customers whatever order
    PSI shuffled them into."""
    rng = np.random.default_rng(seed)
    by_row = np.argsort(guest_rows, kind="stable")
    valid = []
    for label in (0.0, 1.0):
        where = by_row[y[by_row] == label]
        if len(where) < 4:
            raise DataError("each class needs at least four aligned rows")
        valid.append(rng.choice(where, size=max(1, round(share * len(where))), replace=False))
    valid_pos = np.sort(np.concatenate(valid))
    train_pos = np.setdiff1d(np.arange(len(y)), valid_pos)
    return train_pos, valid_pos


def select(channel: Channel, positions: np.ndarray) -> None:
    """Point every host's working rows at these aligned positions (``psi.select``)."""
    for name in channel.parties:
        reply = channel.call(name, "psi.select", {"positions": positions.astype(np.int64)})
        check_reply(reply, {"rows"})
        if wire.need(reply, "rows", int) != len(positions):
            raise ProtocolError(f"{name}: selected a different number of rows")


def keep_alignment(channel: Channel) -> None:
    """Every host checkpoints its PSI result, so a host that restarts can get it back."""
    for name in channel.parties:
        channel.call(name, "party.checkpoint", {"protocol": "psi", "step": 0})


def restore_alignment(channel: Channel) -> None:
    for name in channel.parties:
        channel.call(name, "party.restore", {"protocol": "psi", "step": 0})


def train_boost(
    channel: Channel,
    names: list[str],
    x: np.ndarray,
    y: np.ndarray,
    split: tuple[np.ndarray, np.ndarray],
    settings: VerticalSettings,
    checkpoints: Path,
    resilient: Resilient,
) -> tuple[dict, secureboost.SecureBoostModel, np.ndarray]:
    """SecureBoost with every host; resumes from the last completed tree after a crash."""
    train_pos, valid_pos = split
    start, bytes0 = time.perf_counter(), channel.traffic.total()

    def run(resume: bool) -> secureboost.SecureBoostModel:
        if resume:
            restore_alignment(channel)
        select(channel, train_pos)
        last = secureboost.latest_checkpoint(checkpoints) if resume else None
        return secureboost.train_secureboost(
            channel, x[train_pos], y[train_pos], settings.boost, scheme=settings.scheme,
            checkpoint_dir=checkpoints, resume_from=last,
        )  # fmt: skip

    model, resumed = resilient(run)
    seconds = time.perf_counter() - start
    select(channel, valid_pos)
    proba = secureboost.predict_proba(channel, model, x[valid_pos])
    result = {
        "auc": auc(y[valid_pos], proba),
        "trees": len(model.trees),
        "seconds": round(seconds, 2),
        "seconds_per_tree": round(seconds / max(1, len(model.trees)), 2),
        "bytes": channel.traffic.total() - bytes0,
        "resumed": resumed,
        "splits_by_party": _splits_by_party(model, channel.me.name),
        "config": asdict(settings.boost),
        "importance": boost_importance(channel, model, names, channel.me.name),
    }
    return result, model, proba


def _splits_by_party(model: secureboost.SecureBoostModel, guest: str) -> dict[str, int]:
    names = [guest, *model.hosts]
    counts = dict.fromkeys(names, 0)
    for (party, _), (_, splits) in boost_gains(model.trees).items():
        counts[names[party]] += splits
    return counts


def train_lr(
    channel: Channel,
    names: list[str],
    x: np.ndarray,
    y: np.ndarray,
    split: tuple[np.ndarray, np.ndarray],
    settings: VerticalSettings,
    checkpoints: Path,
    resilient: Resilient,
) -> tuple[dict, hetero_lr.HeteroLRModel, np.ndarray]:
    """Two-party hetero LR between the label party and one host."""
    host = settings.lr_host or channel.parties[0]
    pair = channel.only([host])
    train_pos, valid_pos = split
    start, bytes0 = time.perf_counter(), channel.traffic.total()

    def run(resume: bool) -> hetero_lr.HeteroLRModel:
        if resume:
            restore_alignment(pair)
        select(pair, np.arange(len(y)))
        return hetero_lr.train_hetero_lr(
            pair, x[train_pos], y[train_pos], settings.lr, settings.scheme,
            host_rows=train_pos, checkpoint_dir=checkpoints, resume=resume,
        )  # fmt: skip

    model, resumed = resilient(run)
    seconds = time.perf_counter() - start
    proba = hetero_lr.predict_proba(pair, model, x[valid_pos], valid_pos)
    result = {
        "auc": auc(y[valid_pos], proba),
        "host": host,
        "epochs": len(model.epochs),
        "seconds_per_epoch": round(
            float(np.median([e.seconds for e in model.epochs])) if model.epochs else 0.0, 2
        ),
        "seconds": round(seconds, 2),
        "setup_seconds": round(model.setup_seconds, 2),
        "bytes": channel.traffic.total() - bytes0,
        "resumed": resumed,
        "config": asdict(settings.lr),
        "importance": lr_importance(pair, model, x[valid_pos], valid_pos, names, channel.me.name),
    }
    return result, model, proba


@dataclass
class GuestRun:
    """The label party's report, and what it keeps: the alignment, the split, the models."""

    report: dict
    alignment: Alignment
    split: tuple[np.ndarray, np.ndarray]
    models: dict[str, object]
    #: each model's P(y = 1) on the validation positions
    predictions: dict[str, np.ndarray]


def run_guest(
    channel: Channel,
    guest: PartyTable,
    settings: VerticalSettings,
    out: Path,
    resilient: Resilient,
) -> GuestRun:
    """Align, hold out a validation share, train the chosen models; the label party's report."""
    if guest.labels is None:
        raise DataError("the label party's table needs a label column")
    hello = {name: channel.call(name, "party.hello") for name in channel.parties}
    backend = settings.psi
    if backend == "auto":
        backend = "spu" if psi_spu.available() else "openmined"
    alignment: Alignment = align(channel, guest.ids, backend=backend)
    keep_alignment(channel)
    x, y = guest.features[alignment.guest_rows], guest.labels[alignment.guest_rows]
    split = hold_out(y, alignment.guest_rows, settings.valid_share, settings.seed)
    claim = prove_labels(channel, y[split[0]], settings.label_minimum)
    report: dict = {
        "parties": {
            channel.me.name: {"rows": len(guest.ids), "features": len(guest.names)},
            **{n: {"rows": int(h["rows"])} for n, h in hello.items()},
        },
        "alignment": {
            "rows": alignment.size,
            "per_host": alignment.per_host,
            "seconds": round(alignment.seconds, 2),
            "bytes": alignment.bytes_sent + alignment.bytes_received,
            "backend": backend,
        },
        "split": {"train": len(split[0]), "valid": len(split[1]), "seed": settings.seed},
        "claims": claim,
        "scheme": settings.scheme,
        "models": {},
    }
    models: dict[str, object] = {}
    predictions: dict[str, np.ndarray] = {}
    for name in settings.models:
        folder = out / "checkpoints" / name
        trainer = train_boost if name == "secureboost" else train_lr
        report["models"][name], models[name], predictions[name] = trainer(
            channel, guest.names, x, y, split, settings, folder, resilient
        )
    report["traffic"] = {
        "bytes_sent": channel.traffic.sent,
        "bytes_received": channel.traffic.received,
        "messages": channel.traffic.messages,
    }
    return GuestRun(report, alignment, split, models, predictions)
