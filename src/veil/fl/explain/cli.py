"""``veil explain``: one decision explained where its row lives, and the ε trade-off.

``veil explain --run DIR --member NAME --row N`` (or ``--data FILE [--identity KEY]``) runs
on the member's machine: it reads only the member's own table, the run's released model and
the consortium's aggregated preprocessing statistics (docs/explain.md, *One decision*).
``veil explain tradeoff`` trains the same task at several record-level ε (docs/dp.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

app = typer.Typer(
    help="Explain the consortium's model: one decision, or what privacy costs.",
    invoke_without_command=True,
)

_RUN = typer.Option(None, "--run", help="run folder: report.json, checkpoint.sealed, keys/")
_MEMBER = typer.Option(
    None, "--member", help="in a demo run: the member whose sealed shard holds the row"
)
_DATA = typer.Option(None, "--data", help="the member's table: .csv, .parquet or .sealed")
_IDENT = typer.Option(None, "--identity", help="the member's key, to open a sealed --data")
_MODEL_ID = typer.Option(
    None, "--model-identity", help="key the checkpoint is sealed to (default keys/consortium)"
)
_SIGNER = typer.Option(
    None,
    "--signer",
    help="the run's ed25519 public key, veil:ed25519:… or a file "
    "(default: keys/*-signing.recipient in --run)",
)
_ROW = typer.Option(None, "--row", help="row number (from 0) or, with --id-column, its id")
_IDCOL = typer.Option(None, "--id-column", help="column that identifies rows")
_PREP = typer.Option(
    None, "--stats", help="the consortium's preprocessing.json (default: in --run)"
)
_CLASS = typer.Option(None, "--class", help="class explained (default: the rarer of two)")
_TOP = typer.Option(5, "--top", help="reasons printed")
_JSON = typer.Option(False, "--json", help="print the Shapley values as JSON")


@app.callback()
def explain(
    ctx: typer.Context,
    run: Path | None = _RUN,
    member: str | None = _MEMBER,
    data: Path | None = _DATA,
    identity: Path | None = _IDENT,
    model_identity: Path | None = _MODEL_ID,
    signer: str | None = _SIGNER,
    row: str | None = _ROW,
    id_column: str | None = _IDCOL,
    stats: Path | None = _PREP,
    explained_class: str | None = _CLASS,
    top: int = _TOP,
    as_json: bool = _JSON,
) -> None:
    """Why the model scored one applicant as it did: Shapley values (log-odds) over the
    original columns against the consortium's average applicant, computed where the row is.

    The reference applicant is built from the aggregated preprocessing statistics (means,
    most frequent levels), never from another member's rows.
    """
    if ctx.invoked_subcommand is not None:
        return
    if run is None or row is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(0 if run is None and row is None else 2)
    # lazy: numpy, pandas, torch: not for --help
    from veil.fl.explain import local

    if data is None:
        if member is None:
            raise typer.BadParameter("give --data (the member's table) or --member NAME")
        data = run / "shards" / f"{member}.sealed"
        identity = identity or run / "keys" / f"{member}.identity"
    prep, agg = local.read_preprocessing(stats or run / local.PREP_FILE)
    spec, vector = local.released_model(run, model_identity, signer)
    label, values = local.pick_row(local.member_table(data, identity), row, id_column)
    e = local.explain_row(
        spec, vector, prep, agg, values, row_id=label, explained_class=explained_class
    )
    if as_json:
        typer.echo(json.dumps(e.to_dict(), indent=1))
    else:
        typer.echo("\n".join(local.summary_lines(e, top)))


_T_DEMO = typer.Option(None, "--demo", help="finance: the finance demo's task")
_T_DATA = typer.Option(None, "--data", help="a .csv or .parquet table (with --target)")
_T_TARGET = typer.Option(None, "--target", help="the column to predict")
_T_BY = typer.Option(None, "--partition-by", help="column naming each row's member")
_T_CLIENTS = typer.Option(5, "--clients", help="members when not --partition-by")
_T_PART = typer.Option("iid", "--partition", help="iid | dirichlet:ALPHA | quantity:ALPHA")
_T_EPS = typer.Option("inf,8,4,2,1", "--epsilons", help="record-level ε to try; inf = no DP")
_T_ROUNDS = typer.Option(20, "--rounds")
_T_MODEL = typer.Option("logreg", "--model", help="logreg | mlp")
_T_REPEATS = typer.Option(1, "--repeats", help="runs per finite ε (DP noise is fresh each run)")
_T_SEED = typer.Option(0, "--seed")
_T_DELTA = typer.Option(1e-5, "--delta")
_T_CLIP = typer.Option(1.0, "--max-grad-norm", help="per-record clip C")
_T_OUT = typer.Option(None, "--out", help="output folder (default runs/<timestamp>)")


@app.command("tradeoff")
def tradeoff(
    demo: str | None = _T_DEMO,
    data: Path | None = _T_DATA,
    target: str | None = _T_TARGET,
    partition_by: str | None = _T_BY,
    clients: int = _T_CLIENTS,
    partition: str = _T_PART,
    epsilons: str = _T_EPS,
    rounds: int = _T_ROUNDS,
    model: str = _T_MODEL,
    repeats: int = _T_REPEATS,
    seed: int = _T_SEED,
    delta: float = _T_DELTA,
    max_grad_norm: float = _T_CLIP,
    out: Path | None = _T_OUT,
) -> None:
    """AUC at several record-level ε beside the pooled and best-member-alone baselines:
    writes tradeoff.json and tradeoff.png."""
    if (demo is None) == (data is None):
        raise typer.BadParameter("give either --demo finance or --data FILE --target COL")
    if demo is not None and demo != "finance":
        raise typer.BadParameter("--demo: only finance")
    if data is not None and target is None:
        raise typer.BadParameter("--data needs --target")
    # lazy: numpy, pandas, torch, opacus: not for --help
    from veil.fl.explain import tradeoff as tr
    from veil.fl.models import ModelKind
    from veil.fl.report import default_out

    settings = tr.Settings(
        epsilons=tr.parse_epsilons(epsilons), rounds=rounds, model=ModelKind(model),
        repeats=repeats, seed=seed, delta=delta, max_grad_norm=max_grad_norm,
    )  # fmt: skip
    if data is not None:
        task = tr.table_task(
            data, target or "", partition_by=partition_by, clients=clients,
            partition=partition, seed=seed,
        )  # fmt: skip
    else:
        task = tr.finance_task(seed)

    def show(eps: float, fig: dict) -> None:
        reached = "" if fig["epsilon"] is None else f" (ε reached {fig['epsilon']:.3f})"
        typer.echo(f"  ε = {eps:g}: AUC {fig['auc']:.4f}{reached}")

    typer.echo(f"{task.name}: {len(task.members)} members, ε in {epsilons}, {rounds} rounds")
    result = tr.run_tradeoff(task, settings, show)
    b = result["baselines"]
    typer.echo(
        f"  pooled (no DP): AUC {b['pooled']['auc']:.4f}; best member alone "
        f"({b['best_alone']['member']}, no DP): AUC {b['best_alone']['auc']:.4f}"
    )
    paths = tr.write(result, out or default_out())
    typer.echo(f"wrote {paths[0]}, {paths[1]}")
