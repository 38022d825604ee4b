"""The consortium demo, step by step: keys, sealed shards, admission claims, federated
training, baselines, report. ``veil demo finance`` and ``veil demo medical`` are this flow
with different data and institutions (:mod:`veil.scenarios.finance`,
:mod:`veil.scenarios.medical`).

Trust boundaries in this single-process demo: each institution's rows exist in plaintext
only inside its own :class:`~veil.fl.pipeline.TableClient` (which opens its sealed shard
with its own identity); the coordinator sees column statistics, proof bundles and model
updates. The pooled centralised baseline is computed for the report only — it is the
"what if everyone pooled" comparison the consortium exists to avoid.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import numpy as np
from rich.console import Console

import veil
from veil.aggregation.task_state import StateKeys
from veil.crypto.keys import Ed25519Identity, identity_file_text, load_identities
from veil.errors import DataError, KeyFormatError
from veil.fl import partition as parts
from veil.fl import privacy_report
from veil.fl.checkpoint import SealedCheckpointer
from veil.fl.display import Progress, comparison_table, round_table
from veil.fl.explain import contributions as contrib
from veil.fl.explain import importance as imp
from veil.fl.explain import local
from veil.fl.models import ModelKind
from veil.fl.pipeline import TableClient, federate, holdout
from veil.fl.preprocess import infer_schema
from veil.fl.report import build_report, plot, plot_importance, write_json
from veil.fl.runner import RunConfig
from veil.fl.sealed import open_table, seal_table
from veil.fl.strategies import make_strategy
from veil.fl.training import TrainConfig
from veil.scenarios import claims_step as cs
from veil.scenarios import privacy_eval
from veil.scenarios.claims_step import AdmissionPolicy
from veil.scenarios.secure_options import DemoAggregation


@dataclass(frozen=True)
class ScenarioSpec:
    """A consortium: who, on which data, training what, admitted under which policy."""

    name: str
    title: str
    institutions: tuple[str, ...]
    load: Callable[[], object]  # -> veil.fl.data.Dataset
    positive: str  # target value counted in the admission claims
    policy: AdmissionPolicy
    model: ModelKind
    hidden: tuple[int, ...]
    train: TrainConfig
    rounds: int
    quick_rounds: int
    lr_decay: float
    partition: str = "dirichlet:0.5"
    test_fraction: float = 0.25
    strategy: str = "fedavg"
    strategy_args: dict = field(default_factory=dict)
    #: (model, hidden) trained instead when every client runs DP-SGD (``--record-dp``): the
    #: noise DP-SGD adds to a gradient grows with √(parameters) while the signal does not,
    #: so a smaller model keeps more of it at the same ε (docs/dp.md, *Record-level DP*)
    record_dp_model: tuple[ModelKind, tuple[int, ...]] | None = None


def run(
    spec: ScenarioSpec,
    *,
    out: Path,
    quick: bool = False,
    seed: int = 0,
    partition: str | None = None,
    strategy: str | None = None,
    rounds: int | None = None,
    resume: bool = False,
    console: Console | None = None,
    secure: object | None = None,
    record_dp: object | None = None,
    evaluate_privacy: bool = False,
    contributions: bool = False,
    explain: bool = True,
) -> dict:
    """Run the whole demo; write ``report.json`` and ``report.png`` under ``out``.

    ``secure`` (:class:`veil.scenarios.secure_options.DemoSecure`) turns on verified
    aggregation: sealed PINE reports, a Helper process, DP noise, ``malicious`` hostile banks.
    ``record_dp`` (:class:`veil.fl.record_dp.RecordDP`) trains every bank with DP-SGD.
    ``evaluate_privacy`` runs a membership-inference attack (:mod:`veil.scenarios.privacy_eval`).
    Each bank keeps 10 % of its rows out of training to measure feature importance on
    (``explain=False`` skips the measuring, not the hold-out: the model is the same);
    ``contributions`` also values each bank by re-run sub-federations (docs/explain.md).
    """

    con = console or Console()
    t_start = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    n_rounds = rounds or (spec.quick_rounds if quick else spec.rounds)
    part = partition or spec.partition
    if record_dp is not None and spec.record_dp_model is not None:
        spec = replace(spec, model=spec.record_dp_model[0], hidden=spec.record_dp_model[1])
    con.rule(f"[bold]veil demo {spec.name}[/] — {spec.title}")

    con.print("[bold cyan]1/6 Keys[/]")
    ids = _keys(out / "keys", [*spec.institutions, "consortium"], reuse=resume)
    con.print(f"  {len(ids)} X25519 identities ({', '.join(ids)}) in {out / 'keys'}")

    con.print("[bold cyan]2/6 Data sealed at rest[/]")
    ds, test_df, enc = _seal_step(spec, out, part, seed, ids, resume, con)

    con.print("[bold cyan]3/6 Admission claims (zero knowledge)[/]")
    clients = [
        TableClient(n, partial(open_table, out / "shards" / f"{n}.sealed", [ids[n]]))
        for n in spec.institutions
    ]
    claims_rep, admitted = _claims(spec, clients, ds.target, con)
    if not admitted:
        raise DataError("no institution was admitted; nothing to train")
    admitted, held = imp.carve(admitted, imp.VALIDATION_FRACTION, seed)

    secure_agg = _secure_step(spec, secure, out, admitted, n_rounds, con, ids["consortium"], resume)
    try:
        res, strat, cfg = _train_step(
            spec, admitted, ds, test_df, out, ids, n_rounds, seed, strategy, resume, con,
            secure_agg, record_dp,
        )  # fmt: skip
    finally:
        if secure_agg is not None:
            secure_agg.close()
    report = _build(spec, res, strat, cfg, enc, claims_rep, ds, part, quick)
    trained = sum(len(c.frame()) for c in admitted)  # the rows DP-SGD protects
    _privacy_step(report, res, secure_agg, record_dp, customers=trained, clients=len(admitted),
                  out=out, con=con)  # fmt: skip
    if evaluate_privacy:
        privacy_eval.evaluate(spec, res, cfg, strategy, admitted, test_df, report, con)
    local.write_preprocessing(out / "preprocessing.json", res.prep, res.stats)  # veil explain
    if explain:
        _explain_step(report, spec, res, (admitted, held), test_df, cfg, strategy, secure, out,
                      con, contributions=contributions)  # fmt: skip
    con.print(
        "[bold cyan]5/6 Comparison[/] with the pooled centralised model (what the consortium "
        "avoids) and with each institution alone"
    )
    con.print(comparison_table(report))
    con.print("[bold cyan]6/6 Report[/]")
    write_json(report, out / "report.json")
    plot(report, out / "report.png")
    plot_importance(report, out / "importance.png")
    con.print(f"  {out / 'report.json'}, report.png, importance.png  "
              f"({time.perf_counter() - t_start:.1f} s)")  # fmt: skip
    _summary(report, con)
    return report


def _secure_step(spec, secure, out: Path, admitted, n_rounds: int, con, owner, resume: bool):
    """Verified aggregation (veil.aggregation): None unless ``--secure``. Its task state is
    sealed to ``owner`` (the consortium's key, as the checkpoint is) and signed with the
    consortium's signing key, so ``--resume`` takes the same task up again — and only it."""
    if secure is None:
        return None

    # weights are capped at the row bound the admission claim proved; the fixed denominator D
    # is the expected Σw: every admitted bank's row count, which each already shares for
    # preprocessing (TableStats.rows) — a bank that fails or cheats just shrinks the step
    rows = sum(len(c.frame()) for c in admitted)
    opts = replace(secure.options, max_weight=spec.policy.rows_max, denominator=float(rows))
    con.print(
        "  verified aggregation on: each bank's update leaves it only as a signed PINE report "
        f"sealed to the Leader and a Helper process; {secure.malicious} hostile bank(s)"
    )
    keyring = StateKeys([owner.recipient()], [owner], _signer(out / "keys"))
    return DemoAggregation(out / "aggregation", [c.name for c in admitted], n_rounds, opts,
                           out / "audit.log", malicious=secure.malicious, keyring=keyring,
                           resume=resume)  # fmt: skip


def _privacy_step(report: dict, res, secure_agg, record_dp, *, customers, clients, out, con):
    """The report's ``privacy`` and ``audit`` sections, and what the terminal says of them:
    rejections, then ε per customer (record-level DP-SGD), then the institution-level ε,
    labelled when it means nothing (docs/dp.md)."""

    if secure_agg is not None:
        report["privacy"] = privacy_report.label_client_level(secure_agg.privacy(), clients)
        report["config"]["secure"] = secure_agg.describe()
        audit = secure_agg.audit_summary()
        if audit is not None:
            report["audit"] = audit
        _rejection_summary(report, con)
    if record_dp is not None:
        privacy_report.record_level(
            report, res.result, record_dp, customers=customers, clients=clients
        )
    for line in privacy_report.headline(report, clients=clients):
        con.print(f"  {line}")
    if "audit" in report:
        log = out / report["audit"]["log"]
        con.print(
            f"  audit log: {log}, {report['audit']['records']} records signed by the Leader "
            f"and countersigned by the Helper (check: veil audit verify {log})"
        )


def _rejection_summary(report: dict, con: Console) -> None:
    """Rejections by reason and the exactness check (noise off)."""

    rounds = report["rounds"]
    reasons = Counter(x["reason"] for r in rounds for x in r["rejected"])
    con.print(
        "  verified aggregation: "
        + (", ".join(f"{n}× {why}" for why, n in reasons.items()) or "no report rejected")
    )
    if rounds and all(r.get("aggregate_equals_honest") is True for r in rounds):
        con.print("  noise off: every round's aggregate equals the honest banks' exactly")


def _train_step(
    spec, admitted, ds, test_df, out, ids, n_rounds, seed, strategy, resume, con, secure=None,
    record_dp=None,
):  # fmt: skip
    """Federated training of the admitted institutions, sealed checkpoint every round,
    signed with the consortium's signing key and bound to the run: the verified-aggregation
    task's id with ``--secure`` (and, by its audit log, to the last audited round)."""

    strat = _strategy(spec, strategy)
    model = spec.model.value + (f" {'-'.join(map(str, spec.hidden))}" if spec.hidden else "")
    con.print(
        f"[bold cyan]4/6 Federated training[/] ({strat.name}, {model}, {n_rounds} rounds, "
        f"{len(admitted)} institutions" + (", DP-SGD on each)" if record_dp else ")")
    )
    cfg = RunConfig(
        rounds=n_rounds, seed=seed, train=spec.train, lr_decay=spec.lr_decay, record_dp=record_dp
    )
    run_id, min_round = "", 0
    if secure is not None:
        run_id = "task:" + secure.task_id().hex()
        # the audit log may be one round ahead (a crash between its record and the checkpoint)
        min_round = max(secure.audited_round() - 1, 0) if resume else 0
    ckpt = SealedCheckpointer(
        out / "checkpoint.sealed",
        [ids["consortium"].recipient()],
        [ids["consortium"]],
        signer=_signer(out / "keys"),
        run=run_id,
        min_round=min_round,
    )
    with Progress(con, n_rounds) as on_round:
        res = federate(
            admitted,
            test_df,
            infer_schema(ds.frame, ds.target),
            model=spec.model,
            hidden=spec.hidden,
            strategy=strat,
            cfg=cfg,
            checkpointer=ckpt,
            resume=resume,
            on_round=on_round,
            secure=secure,
        )
    con.print(round_table(res.result.rounds))
    con.print(
        f"  Federated learning completed: {n_rounds} rounds, {len(admitted)} institutions; "
        f"sealed checkpoint {ckpt.path}"
    )
    return res, strat, cfg


def _strategy(spec: ScenarioSpec, strategy: str | None):
    """A fresh ``--strategy``, or the scenario's own with its arguments."""
    return make_strategy(
        strategy or spec.strategy, **(spec.strategy_args if strategy is None else {})
    )


def _explain_step(report, spec, res, members, test_df, cfg, strategy, secure, out, con, *,
                  contributions: bool):  # fmt: skip
    """Importance measured by each bank on its held-out rows, summed (verified with --secure);
    each bank's value from re-run sub-federations with ``contributions`` (docs/explain.md)."""
    con.print("[bold cyan]Explanations[/] (docs/explain.md)")
    report["importance"] = imp.global_importance(
        members[1], res.prep, res.spec, res.result.vector, reference=test_df,
        settings=imp.ImportanceSettings(seed=cfg.seed),
        secure_folder=None if secure is None else out / "aggregation-importance",
    )  # fmt: skip
    lines = imp.lines(report["importance"])
    if contributions:
        values = contrib.rerun_values(
            members[0], test_df, res.prep.schema, model=spec.model, hidden=spec.hidden,
            strategy=lambda: _strategy(spec, strategy),
            cfg=replace(cfg, rounds=min(cfg.rounds, spec.quick_rounds), record_dp=None),
        )  # fmt: skip
        report["contributions"] = contrib.contributions(
            values, contrib.ContributionSettings(seed=cfg.seed)
        )
        lines += contrib.lines(report["contributions"])
    for line in lines:
        con.print(f"  {line}")


def _build(spec, res, strat, cfg, enc, claims_rep, ds, part, quick) -> dict:

    return build_report(
        scenario=spec.name,
        rounds=res.result.rounds,
        baselines=res.baselines,
        encryption=enc,
        claims=claims_rep,
        config={
            "dataset": ds.name,
            "institutions": list(spec.institutions),
            "partition": part,
            "strategy": strat.describe(),
            "model": res.spec.to_dict(),
            "train": cfg.train.to_dict(),
            "rounds": cfg.rounds,
            "lr_decay": cfg.lr_decay,
            "seed": cfg.seed,
            "test_rows": res.test_rows,
            "quick": quick,
        },
    )


def _summary(report: dict, con: Console) -> None:
    """The seed's last line, made real, and what privacy cost."""
    f, c = report["final"], report["baselines"]["centralized"]
    con.print(
        f"[bold green]Final model performance:[/] accuracy {f['accuracy']:.4f}, AUC {f['auc']:.4f}"
    )
    alone = max(
        (m["auc"] for m in report["baselines"]["local_only"].values()), default=float("nan")
    )
    con.print(
        f"  cost of not pooling: {100 * (c['accuracy'] - f['accuracy']):+.1f} accuracy points, "
        f"{100 * (c['auc'] - f['auc']):+.1f} AUC points vs centralised; "
        f"gain over the best institution alone: {100 * (f['auc'] - alone):+.1f} AUC points"
    )
    p = report.get("privacy") or {}
    if "customers" in p:
        con.print(
            f"  privacy: ε = {p['epsilon']:.3g} per customer at δ = {p['delta']:g} "
            "(record-level DP-SGD, docs/dp.md)"
        )
    elif p.get("label"):
        con.print(f"  privacy: {p['label']}")


def _seal_step(spec: ScenarioSpec, out: Path, part: str, seed: int, ids: dict, resume: bool, con):
    """Hold out the evaluation rows, split the rest, seal each bank's shard to its key."""

    ds = spec.load()
    train_df, test_df = holdout(ds.frame, ds.target, spec.test_fraction, seed)
    labels = train_df[ds.target].astype(str).to_numpy()
    shards = parts.split(part, labels, len(spec.institutions), rng=np.random.default_rng(seed + 1))
    enc = _seal_shards(out / "shards", spec.institutions, train_df, shards, ids, reuse=resume)
    con.print(f"  dataset: {ds.description}; {len(test_df)} rows held out for evaluation")
    con.print(
        f"  Data encryption completed: {enc['sealed_files']} shards sealed, "
        f"{enc['bytes']:,} bytes ({part} split)"
    )
    return ds, test_df, enc


SIGNING = "consortium-signing"  # the consortium's Ed25519 key: it signs the run's state files


def _keys(folder: Path, names: list[str], *, reuse: bool) -> dict:
    """An X25519 identity per name (kept on --resume); with ``consortium``, also the
    consortium's Ed25519 signing identity (:data:`SIGNING`, not in the returned dict)."""

    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)  # whoever may replace a key here may sign the run's state
    out = {}
    kinds = [(n, "x25519") for n in names]
    for n, kind in kinds + ([(SIGNING, "ed25519")] if "consortium" in names else []):
        path = folder / f"{n}.identity"
        if reuse and path.exists():
            ident = load_identities([path])[0]
        else:
            ident = veil.generate_identity(kind)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(identity_file_text(ident))
        if n != SIGNING:
            out[n] = ident
        elif not (public := folder / f"{n}.recipient").exists():
            public.write_text(f"{ident.recipient()}\n")  # what members check signatures with
    return out


def _signer(folder: Path):
    """The consortium's signing key that :func:`_keys` left in ``folder``."""

    ident = load_identities([folder / f"{SIGNING}.identity"])[0]
    if not isinstance(ident, Ed25519Identity):
        raise KeyFormatError(f"{folder / SIGNING}.identity is not an ed25519 identity")
    return ident


def _seal_shards(folder: Path, names, frame, shards, ids, *, reuse: bool) -> dict:
    """Seal each shard to its institution; on --resume keep the sealed files already there
    (a damaged one then fails to open, loudly, instead of being silently rewritten)."""

    paths = [folder / f"{n}.sealed" for n in names]
    if reuse and all(p.exists() for p in paths):
        return {"sealed_files": len(paths), "bytes": sum(p.stat().st_size for p in paths)}
    total = 0
    for n, idx in zip(names, shards, strict=True):
        total += seal_table(frame.iloc[idx], folder / f"{n}.sealed", [ids[n].recipient()])
    return {"sealed_files": len(names), "bytes": total}


def _claims(spec: ScenarioSpec, clients, target: str, con: Console) -> tuple[dict, list]:

    if not cs.available():
        con.print(
            "  [yellow]ZK claims are not available in this build yet; admission is not checked.[/]"
        )
        return {"verified": 0, "failed": 0, "available": False}, list(clients)
    admitted, failed, results = [], 0, []
    t0 = time.perf_counter()
    for c in clients:
        ctx = f"veil/{spec.name}/admission/{c.name}".encode()
        frame = c.frame()  # inside the institution: it opens its own shard
        n = int(frame[target].notna().sum())
        d = int((frame[target].astype(str) == spec.positive).sum())
        try:
            bundle = cs.prove(spec.policy, n, d, ctx)
        except Exception as exc:  # the institution cannot prove a false statement
            ok, why, size = False, f"cannot prove: {exc}", 0
        else:
            ok, why = cs.verify(spec.policy, bundle, ctx)
            size = len(bundle)
        results.append({"institution": c.name, "verified": ok, "reason": why, "bytes": size})
        if ok:
            admitted.append(c)
        else:
            failed += 1
            con.print(f"  [red]{c.name} not admitted: {why}[/]")
    p = spec.policy
    con.print(
        f"  each institution proved: rows in [{p.rows_min}, {p.rows_max}], "
        f"{spec.positive!r} rate in [{p.rate_min_pct}%, {p.rate_max_pct}%] "
        f"({time.perf_counter() - t0:.1f} s)"
    )
    con.print(
        f"  Proof verification result: {failed == 0}  ({len(admitted)}/{len(clients)} admitted)"
    )
    return {
        "verified": len(admitted),
        "failed": failed,
        "available": True,
        "per_institution": results,
    }, admitted


def with_overrides(spec: ScenarioSpec, **kw: object) -> ScenarioSpec:
    """A copy of ``spec`` with fields replaced (tests use it to shrink a scenario)."""
    return replace(spec, **kw)


def measure(
    spec: ScenarioSpec, *, partition: str, seed: int = 0, rounds: int | None = None
) -> dict:
    """Federated vs pooled vs local-only for one split, every institution taking part
    (no sealing, no admission step): what docs/fl.md's quality table reports."""

    ds = spec.load()
    train_df, test_df = holdout(ds.frame, ds.target, spec.test_fraction, seed)
    labels = train_df[ds.target].astype(str).to_numpy()
    idx = parts.split(
        partition, labels, len(spec.institutions), rng=np.random.default_rng(seed + 1)
    )
    clients = [
        TableClient(n, (lambda f=train_df.iloc[i]: f))
        for n, i in zip(spec.institutions, idx, strict=True)
    ]
    cfg = RunConfig(
        rounds=rounds or spec.rounds, seed=seed, train=spec.train, lr_decay=spec.lr_decay
    )
    res = federate(
        clients,
        test_df,
        infer_schema(ds.frame, ds.target),
        model=spec.model,
        hidden=spec.hidden,
        strategy=make_strategy(spec.strategy, **spec.strategy_args),
        cfg=cfg,
    )
    last = res.result.rounds[-1]["metrics"]
    return {
        "federated": {"accuracy": last["accuracy"], "auc": last["auc"]},
        "centralized": res.baselines["centralized"],
        "local_only": res.baselines["local_only"],
        "shard_rows": [len(i) for i in idx],
    }
