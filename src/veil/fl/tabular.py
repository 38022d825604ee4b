"""``veil train`` end to end: read a table, split it into clients, federate, report."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from rich.console import Console

import veil
from veil.crypto.keys import Ed25519Identity, identity_file_text, load_identities
from veil.errors import CheckpointError, ConfigError, DataError, KeyFormatError
from veil.fl import partition as parts
from veil.fl import privacy_report
from veil.fl.checkpoint import SealedCheckpointer
from veil.fl.data import read_table
from veil.fl.display import comparison_table, round_table
from veil.fl.explain.local import write_preprocessing
from veil.fl.models import ModelKind
from veil.fl.pipeline import TableClient, federate, holdout
from veil.fl.preprocess import infer_schema
from veil.fl.report import build_report, default_out, plot, write_json
from veil.fl.runner import RunConfig
from veil.fl.strategies import make_strategy
from veil.fl.training import Optimizer, TrainConfig


def train_table(
    data: Path,
    target: str,
    *,
    partition_by: str | None = None,
    clients: int = 5,
    partition: str = "iid",
    model: str = "logreg",
    rounds: int = 20,
    out: Path | None = None,
    strategy: str = "fedavg",
    seed: int = 0,
    test_fraction: float = 0.25,
    identity: Path | None = None,
    resume: bool = False,
    record_dp: object | None = None,
    console: Console | None = None,
) -> dict:
    """The pipeline behind ``veil train``; returns the report dictionary.

    ``record_dp`` (:class:`veil.fl.record_dp.RecordDP`) trains every client with DP-SGD and
    puts the record-level guarantee into the report's ``privacy``."""
    con = console or Console()
    kind = _model_kind(model)
    if not 0 < test_fraction < 1:
        raise ConfigError("--test-fraction must be between 0 and 1")
    out = Path(out) if out else default_out()
    frame = read_table(data)
    schema = _check_table(frame, target, partition_by)
    train_df, test_df = holdout(frame, target, test_fraction, seed)
    names, idx = _split(train_df, target, partition_by, partition, clients, seed)
    tcs = [TableClient(n, (lambda f=train_df.iloc[i]: f)) for n, i in zip(names, idx, strict=True)]
    ckpt = _checkpointer(out, identity, resume)
    wide = kind is ModelKind.MLP
    cfg = RunConfig(
        rounds=rounds,
        seed=seed,
        lr_decay=0.97,
        train=TrainConfig(
            batch_size=32, lr=0.05, optimizer=Optimizer.SGD, momentum=0.9, local_steps=10
        ),
        record_dp=record_dp,
    )
    strat = make_strategy(strategy)
    con.print(
        f"[bold]veil train[/] {data}: {len(frame)} rows, target {target!r}, "
        f"{len(schema.numeric)} numeric + {len(schema.categorical)} categorical columns, "
        f"{len(tcs)} clients"
    )
    res = federate(
        tcs,
        test_df,
        schema,
        model=kind,
        hidden=(32, 16) if wide else (),
        strategy=strat,
        cfg=cfg,
        checkpointer=ckpt,
        resume=resume,
    )
    # what a member needs for `veil explain`: the preprocessor and merged statistics, no rows
    write_preprocessing(out / "preprocessing.json", res.prep, res.stats)
    report = build_report(
        scenario=f"train:{Path(data).name}",
        rounds=res.result.rounds,
        baselines=res.baselines,
        config={
            "data": str(data),
            "target": target,
            "classes": list(res.prep.classes),
            "features": res.prep.feature_names,
            "clients": names,
            "partition": f"by:{partition_by}" if partition_by else partition,
            "strategy": strat.describe(),
            "model": res.spec.to_dict(),
            "train": cfg.train.to_dict(),
            "rounds": rounds,
            "seed": seed,
            "test_rows": res.test_rows,
        },
    )
    con.print(round_table(res.result.rounds))
    if record_dp is not None:
        privacy_report.record_level(
            report, res.result, record_dp, customers=len(train_df), clients=len(tcs), unit="client"
        )
        for line in privacy_report.headline(report, clients=len(tcs), unit="client"):
            con.print(line)
    con.print(comparison_table(report))
    write_json(report, out / "report.json")
    plot(report, out / "report.png")
    con.print(f"report: {out / 'report.json'}, {out / 'report.png'}")
    return report


def _model_kind(model: str) -> ModelKind:
    try:
        kind = ModelKind(model)
    except ValueError as exc:
        raise ConfigError(f"unknown model {model!r}: use logreg or mlp") from exc
    if kind is ModelKind.CNN:
        raise ConfigError("veil train handles tables: use --model logreg or mlp")
    return kind


def _check_table(frame, target: str, partition_by: str | None):
    """The table's schema, after the checks that give a bad table a clear DataError."""
    if partition_by is not None and partition_by not in frame.columns:
        raise DataError(f"unknown --partition-by column {partition_by!r}")
    if partition_by == target:
        raise DataError("--partition-by cannot be the target column")
    schema = infer_schema(frame, target, exclude=[partition_by] if partition_by else [])
    if frame[target].notna().sum() == 0:
        raise DataError(f"the target column {target!r} is empty")
    if frame[target].dropna().astype(str).nunique() < 2:
        raise DataError(f"the target {target!r} has a single class; need at least two")
    return schema


def _split(train_df, target: str, partition_by, partition: str, clients: int, seed: int):
    """(client names, row indices per client): by a column, or a synthetic split."""
    if partition_by is not None:
        names, idx = parts.by_column(train_df[partition_by].to_numpy())
        return [f"{partition_by}={n}" for n in names], idx
    labels = train_df[target].astype(str).to_numpy()
    idx = parts.split(partition, labels, clients, rng=np.random.default_rng(seed + 1), min_size=1)
    return [f"client-{k + 1}" for k in range(clients)], idx


def _checkpointer(out: Path, identity: Path | None, resume: bool):
    """The checkpoint sealed to ``identity`` and signed with the run's own Ed25519 key
    (``out/keys/checkpoint-signing.identity``, made on a new run, required on --resume)."""
    if identity is None:
        if resume:
            raise ConfigError("--resume needs --identity (the key the checkpoint is sealed to)")
        return None
    ids = load_identities([identity])
    return SealedCheckpointer(
        out / "checkpoint.sealed", [ids[0].recipient()], ids, signer=_signer(out, resume)
    )


def _signer(out: Path, resume: bool):
    """The run's checkpoint-signing key: kept in ``out/keys`` (0700, file 0600)."""
    path = Path(out) / "keys" / "checkpoint-signing.identity"
    if path.exists():
        ident = load_identities([path])[0]
        if not isinstance(ident, Ed25519Identity):
            raise KeyFormatError(f"{path} is not an ed25519 identity")
        return ident
    if resume and (Path(out) / "checkpoint.sealed").exists():
        raise CheckpointError(
            f"{path} is missing: the checkpoint cannot be authenticated (a run of an older "
            "veil, whose checkpoints were unsigned); start a new run"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    ident = veil.generate_identity("ed25519")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(identity_file_text(ident))
    # its public half, what a member checks the checkpoint with (veil explain --signer)
    path.with_suffix(".recipient").write_text(f"{ident.recipient()}\n")
    return ident
