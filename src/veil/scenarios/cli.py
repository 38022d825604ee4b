"""``veil demo finance`` and ``veil demo medical`` (attached to the ``demo`` group)."""

from __future__ import annotations

from pathlib import Path

import typer

_OUT = typer.Option(None, "--out", help="output folder (default runs/<timestamp>)")
_QUICK = typer.Option(False, "--quick", help="fewer rounds: finishes in well under a minute")
_SEED = typer.Option(0, "--seed", help="seed of the split, the initial model and the training")
_PART = typer.Option(None, "--partition", help="iid | dirichlet:ALPHA | quantity:ALPHA")
_STRAT = typer.Option(None, "--strategy", help="fedavg | fedprox | fedadam")
_ROUNDS = typer.Option(None, "--rounds", help="number of rounds (overrides --quick)")
_RESUME = typer.Option(False, "--resume", help="continue from the sealed checkpoint in --out")


def register(demo_app: typer.Typer) -> None:
    """Add the consortium demos to the ``veil demo`` group."""

    @demo_app.command("finance")
    def finance(
        out: Path | None = _OUT,
        quick: bool = _QUICK,
        seed: int = _SEED,
        partition: str | None = _PART,
        strategy: str | None = _STRAT,
        rounds: int | None = _ROUNDS,
        resume: bool = _RESUME,
    ) -> None:
        """Five banks train a credit-risk model on sealed data (what `make demo` runs)."""
        from veil.scenarios import consortium, finance

        consortium.run(
            finance.SPEC,
            out=out or consortium.default_out(),
            quick=quick,
            seed=seed,
            partition=partition,
            strategy=strategy,
            rounds=rounds,
            resume=resume,
        )

    @demo_app.command("medical")
    def medical(
        out: Path | None = _OUT,
        quick: bool = _QUICK,
        seed: int = _SEED,
        partition: str | None = _PART,
        strategy: str | None = _STRAT,
        rounds: int | None = _ROUNDS,
        resume: bool = _RESUME,
    ) -> None:
        """Three hospitals train a tumour classifier on sealed data."""
        from veil.scenarios import consortium, medical

        consortium.run(
            medical.SPEC,
            out=out or consortium.default_out(),
            quick=quick,
            seed=seed,
            partition=partition,
            strategy=strategy,
            rounds=rounds,
            resume=resume,
        )
