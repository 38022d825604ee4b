"""``veil train``: the federated pipeline on any CSV or Parquet table."""

from __future__ import annotations

from pathlib import Path

import typer

_DATA = typer.Option(..., "--data", help="the table: .csv or .parquet")
_TARGET = typer.Option(..., "--target", help="the column to predict")
_BY = typer.Option(None, "--partition-by", help="column naming each row's institution")
_CLIENTS = typer.Option(5, "--clients", help="number of clients when not --partition-by")
_PART = typer.Option("iid", "--partition", help="iid | dirichlet:ALPHA | quantity:ALPHA")
_MODEL = typer.Option("logreg", "--model", help="logreg | mlp")
_ROUNDS = typer.Option(20, "--rounds")
_OUT = typer.Option(None, "--out", help="output folder (default runs/<timestamp>)")
_STRAT = typer.Option("fedavg", "--strategy", help="fedavg | fedprox | fedadam")
_SEED = typer.Option(0, "--seed")
_TEST = typer.Option(0.25, "--test-fraction", help="share of rows held out for evaluation")
_IDENT = typer.Option(
    None, "--identity", help="identity file: seal a checkpoint to it every round (and --resume)"
)
_RESUME = typer.Option(False, "--resume", help="continue from the sealed checkpoint in --out")


def train(
    data: Path = _DATA,
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
) -> None:
    """Train federated on your own table and write report.json + report.png.

    Categorical columns are one-hot encoded and numeric ones standardised with statistics
    combined across clients (no rows pooled); missing values are imputed with an indicator;
    a binary or multiclass target is detected. The pooled and local-only baselines are
    computed for comparison.
    """
    from veil.fl.tabular import train_table

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
    )
