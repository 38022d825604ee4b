"""``veil train``: the federated pipeline on any CSV or Parquet table."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import typer

_DATA = typer.Option(None, "--data", help="the table: .csv or .parquet")
_VERTICAL = typer.Option(
    False, "--vertical", help="vertical FL: FILES are one table per party (docs/vertical.md)"
)
_FILES = typer.Argument(None, help="with --vertical: the parties' CSV tables", show_default=False)
_ID = typer.Option(None, "--id", help="with --vertical: the column holding the people's IDs")
_POSITIVE = typer.Option(None, "--positive", help="with --vertical: the target's class 1")
_IN_PROCESSES = typer.Option(
    False, "--processes", help="with --vertical: each party a veil party serve process"
)

#: the vertical trainer, installed by ``veil.cli`` (fl never imports veil.vertical: the two
#: are independent layers); ``(files, id, target, model=, out=, positive=, processes=, seed=)``
VERTICAL: Callable[..., object] | None = None
_TARGET = typer.Option(..., "--target", help="the column to predict")
_BY = typer.Option(None, "--partition-by", help="column naming each row's institution")
_CLIENTS = typer.Option(5, "--clients", help="number of clients when not --partition-by")
_PART = typer.Option("iid", "--partition", help="iid | dirichlet:ALPHA | quantity:ALPHA")
_MODEL = typer.Option(
    "logreg", "--model", help="logreg | mlp (with --vertical: secureboost | logreg)"
)
_ROUNDS = typer.Option(20, "--rounds")
_OUT = typer.Option(None, "--out", help="output folder (default runs/<timestamp>)")
_STRAT = typer.Option("fedavg", "--strategy", help="fedavg | fedprox | fedadam")
_SEED = typer.Option(0, "--seed")
_TEST = typer.Option(0.25, "--test-fraction", help="share of rows held out for evaluation")
_IDENT = typer.Option(
    None, "--identity", help="identity file: seal a checkpoint to it every round (and --resume)"
)
_RESUME = typer.Option(False, "--resume", help="continue from the sealed checkpoint in --out")
_RECORD_DP = typer.Option(
    False, "--record-dp", help="record-level DP-SGD (Opacus) on every client (docs/dp.md)"
)
_EPS = typer.Option(
    None, "--target-epsilon", help="with --record-dp: each client's ε after all rounds (default 8)"
)
_NOISE = typer.Option(None, "--noise-multiplier", help="with --record-dp: DP-SGD noise z")
_DELTA = typer.Option(1e-5, "--delta", help="with --record-dp: δ")
_CLIP = typer.Option(1.0, "--max-grad-norm", help="with --record-dp: per-record clip C")


def train(
    files: list[Path] | None = _FILES,
    data: Path | None = _DATA,
    target: str = _TARGET,
    partition_by: str | None = _BY,
    clients: int = _CLIENTS,
    partition: str = _PART,
    model: str = _MODEL,
    rounds: int = _ROUNDS,
    out: Path | None = _OUT,
    strategy: str = _STRAT,
    seed: int = _SEED,
    test_fraction: float = _TEST,
    identity: Path | None = _IDENT,
    resume: bool = _RESUME,
    record_dp: bool = _RECORD_DP,
    target_epsilon: float | None = _EPS,
    noise_multiplier: float | None = _NOISE,
    delta: float = _DELTA,
    max_grad_norm: float = _CLIP,
    vertical: bool = _VERTICAL,
    id_column: str | None = _ID,
    positive: str | None = _POSITIVE,
    processes: bool = _IN_PROCESSES,
) -> None:
    """Train federated on your own table and write report.json + report.png.

    Categorical columns are one-hot encoded and numeric ones standardised with statistics
    combined across clients (no rows pooled); missing values are imputed with an indicator;
    a binary or multiclass target is detected. The pooled and local-only baselines are
    computed for comparison.

    With --vertical, each of FILES is one party's table (different columns of the same people,
    keyed by --id); the file holding --target is the label party's; --model is secureboost or
    logreg (hetero LR: two files).
    """
    if vertical:
        if VERTICAL is None or not files or id_column is None or data is not None:
            raise typer.BadParameter("--vertical takes FILES (one per party) and --id, not --data")
        VERTICAL(files, id_column, target, model=model, out=out or _default_out(),
                 positive=positive, processes=processes, seed=seed)  # fmt: skip
        return
    if data is None or files:
        raise typer.BadParameter("--data names the table (FILES only with --vertical)")
    from veil.fl.tabular import train_table  # lazy: numpy, pandas, torch: not for --help

    rdp = None
    if record_dp:
        from veil.fl.record_dp import RecordDP  # lazy: numpy (≈0.1 s), not for --help

        if target_epsilon is None and noise_multiplier is None:
            target_epsilon = 8.0
        rdp = RecordDP(
            max_grad_norm=max_grad_norm,
            delta=delta,
            noise_multiplier=noise_multiplier,
            target_epsilon=target_epsilon,
            rounds=rounds if target_epsilon is not None else None,
        )
    elif target_epsilon is not None or noise_multiplier is not None:
        raise typer.BadParameter("--target-epsilon and --noise-multiplier need --record-dp")
    train_table(
        data,
        target,
        partition_by=partition_by,
        clients=clients,
        partition=partition,
        model=model,
        rounds=rounds,
        out=out,
        strategy=strategy,
        seed=seed,
        test_fraction=test_fraction,
        identity=identity,
        resume=resume,
        record_dp=rdp,
    )


def _default_out() -> Path:
    return Path("runs") / datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
