"""``veil demo iot``: thousands of devices of several platforms learn one model (cross-device).

Each round Poisson-samples a few percent of the enrolled devices; some of those drop out,
some report after the deadline; the others train a small numpy model on their own rows
(sealed at rest on the device), and send one signed, HPKE-sealed PINE report each. The
Leader and a Helper process verify every report in zero knowledge, drop the hostile ones
with their reason, and release only the sum with distributed discrete Gaussian noise: a
client-level (per device) ε that amplification by sampling keeps single-digit
(docs/edge.md, docs/dp.md). The same run without noise is the ``non_private`` baseline,
and a model trained on the pooled rows is the ``centralized`` one.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.console import Console

from veil.aggregation.dp import ONE_AGGREGATOR_FACTOR, calibrate_noise_multiplier, epsilon
from veil.aggregation.fl_bridge import SecureOptions
from veil.aggregation.task_state import StateKeys
from veil.crypto.signing import Ed25519Identity
from veil.edge.device import sgd
from veil.edge.models import EdgeModel, SmallMLP, SoftmaxRegression
from veil.errors import ConfigError
from veil.fl.engine import RoundEngine, RunResult
from veil.fl.local_config import Optimizer, TrainConfig
from veil.fl.local_pool import InProcessClients
from veil.fl.report import write_json
from veil.fl.round_record import RoundRecord
from veil.fl.sampling import Sampling
from veil.fl.strategies import FedAvg
from veil.fl.training import Metrics
from veil.fl.verified import VerifiedAggregation
from veil.scenarios.iot_data import DeviceSplit, device_split
from veil.scenarios.iot_devices import SealedDevice, seal_devices
from veil.scenarios.iot_report import plot_devices, scores
from veil.scenarios.secure_options import DemoAggregation


@dataclass(frozen=True)
class IotSettings:
    """The demo's defaults (docs/edge.md, *The demo*)."""

    rounds: int = 30
    quick_rounds: int = 6
    #: devices asked per round on average: q = per_round / N (Poisson)
    per_round: int = 250
    dropout: float = 0.10
    late: float = 0.05
    deadline: float = 600.0
    #: devices that send hostile reports; None: 1 % of the devices
    hostile: int | None = None
    #: ε per device against anyone who sees the released models (amplified by sampling)
    target_epsilon: float = 8.0
    #: ε of one round a device took part in, against an Aggregator that knows it reported
    #: and removes its own noise (no amplification); None: not a constraint
    participation_epsilon: float | None = 8.0
    clip_norm: float = 1.0
    min_reports: int = 50
    hidden: int = 0
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(epochs=5, batch_size=8, lr=0.5, optimizer=Optimizer.SGD)
    )


def run(
    *,
    out: Path,
    quick: bool = False,
    seed: int = 0,
    rounds: int | None = None,
    devices: int | None = None,
    settings: IotSettings | None = None,
    console: Console | None = None,
) -> dict:
    """Run the demo; write ``report.json`` and ``report.png`` under ``out``.

    ``devices`` caps the number of enrolled devices (tests; default: every device the
    table has)."""
    s = settings or IotSettings()
    con = console or Console()
    # dp-accounting's RDP search logs each order it skips (a valid, looser bound) at WARNING
    logging.getLogger("absl").setLevel(logging.ERROR)
    t_start = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    n_rounds = rounds or (s.quick_rounds if quick else s.rounds)
    con.rule("[bold]veil demo iot[/] — devices of several platforms learn one model")

    con.print("[bold cyan]1/5 Devices and their data[/] (sealed at rest, one key per device)")
    split = device_split(seed=seed, max_devices=devices)
    model = _model(split, s.hidden)
    t = time.perf_counter()
    fleet = seal_devices(out / "devices", split.names, split.rows, model)
    con.print(
        f"  {len(fleet):,} devices on {len(split.platform_names)} platforms "
        f"({', '.join(split.platform_names)}), {split.n_rows:,} rows sealed in "
        f"{time.perf_counter() - t:.1f} s; held out for evaluation: {len(split.y_test):,} rows"
    )

    q = min(1.0, s.per_round / len(fleet))
    sampling = Sampling(rate=q, dropout=s.dropout, late=s.late, deadline=s.deadline)
    hostile = _hostile(fleet, round(0.01 * len(fleet)) if s.hostile is None else s.hostile, seed)
    con.print(
        f"[bold cyan]2/5 Federated training[/] ({_describe(model)}, {n_rounds} rounds, "
        f"q = {q:.4f}: ≈ {q * len(fleet):.0f} devices asked per round, {s.dropout:.0%} drop "
        f"out, {s.late:.0%} late; {len(hostile)} hostile devices)"
    )
    keyring = _keyring()
    runs = {}
    for label, noise in (("private", True), ("non_private", False)):
        t = time.perf_counter()
        runs[label] = _train(
            out / label, fleet, hostile, model, split, s, sampling, n_rounds, seed, noise,
            keyring, con,
        )  # fmt: skip
        con.print(f"  {label.replace('_', '-')} run: {time.perf_counter() - t:.1f} s")

    con.print("[bold cyan]3/5 Baseline[/]: one model on the pooled rows (what FL avoids)")
    central = _centralized(model, split, s, n_rounds, seed)

    con.print("[bold cyan]4/5 Report[/]")
    report = _report(runs, central, split, s, sampling, n_rounds, model, len(hostile))
    write_json(report, out / "report.json")
    plot_devices(report, out / "report.png")
    con.print(f"  {out / 'report.json'}, {out / 'report.png'}")
    con.print("[bold cyan]5/5 Summary[/]")
    _summary(report, con, time.perf_counter() - t_start)
    return report


def _model(split: DeviceSplit, hidden: int) -> EdgeModel:
    d, k = split.x_test.shape[1], len(split.class_names)
    return SoftmaxRegression(d, k) if hidden == 0 else SmallMLP(d, hidden, k)


def _describe(model: EdgeModel) -> str:
    if isinstance(model, SmallMLP):
        return f"MLP {model.n_features}-{model.hidden}-{model.n_classes}, {model.size} parameters"
    return f"softmax regression {model.n_features}→{model.n_classes}, {model.size} parameters"


def _hostile(fleet: list[SealedDevice], k: int, seed: int) -> set[str]:
    """``k`` devices, chosen at random, that build hostile reports."""
    if not 0 <= k <= len(fleet):
        raise ConfigError("more hostile devices than devices")
    rng = np.random.default_rng(seed + 17)
    return {fleet[i].name for i in rng.choice(len(fleet), size=k, replace=False)}


def _keyring() -> StateKeys:
    """Who the task state is sealed to and signed by: a run-local key (no resume here)."""
    import veil  # lazy: cryptography only once keys are made

    owner = veil.generate_identity("x25519")
    return StateKeys([owner.recipient()], [owner], Ed25519Identity.generate())


@dataclass
class _Run:
    result: RunResult
    privacy: dict
    describe: dict
    seconds: float


def _train(
    folder, fleet, hostile, model, split, s, sampling, n_rounds, seed, noise, keyring, con
) -> _Run:  # fmt: skip
    """One federated run over the fleet with verified aggregation (DP noise or none)."""
    t0 = time.perf_counter()
    n = len(fleet)
    expected = sampling.expected(n) * (1 - s.dropout - s.late)
    opts = SecureOptions(
        clip_norm=s.clip_norm,
        noise_multiplier=_noise_multiplier(s, sampling.rate, n_rounds, n) if noise else 0.0,
        delta=1.0 / n,
        max_weight=1,  # one device, one vote: every device's u is clip(Δ)
        denominator=expected,  # D: the expected number of reports in time
        min_reports=s.min_reports,
        sampling_rate=sampling.rate,
    )
    sampling.check_accounting(sampling.rate, noise)
    names = [d.name for d in fleet if d.name not in hostile] + sorted(hostile)
    agg = DemoAggregation(
        folder, names, n_rounds, opts, folder / "audit.log",
        malicious=len(hostile), keyring=keyring, resume=False,
    )  # fmt: skip
    pool = InProcessClients(fleet, seed=seed, seal=agg.seal, sampling=sampling)
    engine = RoundEngine(
        pool, VerifiedAggregation(FedAvg(), agg, s.min_reports), n_rounds, s.train,
        evaluate=lambda vec: scores(model, vec, split.x_test, split.y_test),
        on_round=_progress(con), pool_samples=True,
    )  # fmt: skip
    try:
        result = engine.run(model.init(seed))
        privacy, describe = agg.privacy(), agg.describe()
    finally:
        agg.close()
    return _Run(result, privacy, describe, time.perf_counter() - t0)


def _progress(con: Console):
    def on_round(rec: RoundRecord) -> None:
        d = rec.to_dict()
        m = rec.metrics
        eps = "" if rec.epsilon is None else f" ε={rec.epsilon:.2f}"
        con.print(
            f"    round {rec.round:>3}: asked {d['sampled']:>4}, accepted {len(rec.accepted):>4}, "
            f"rejected {len(rec.rejected):>2}, dropped {d['dropped']:>3}, late {d['late']:>3}; "
            f"accuracy {m.get('accuracy', float('nan')):.4f}{eps}  ({rec.seconds:.1f} s)",
            highlight=False,
        )

    return on_round


def _centralized(model: EdgeModel, split: DeviceSplit, s: IotSettings, rounds: int, seed: int):
    """The same model trained by SGD on every device's rows pooled (a comparison only)."""
    x = np.concatenate([r[0] for r in split.rows])
    y = np.concatenate([r[1] for r in split.rows])
    vec = model.init(seed)
    vec, _ = sgd(
        model, vec, x, y, epochs=max(1, min(rounds, 10)), lr=s.train.lr,
        batch_size=max(s.train.batch_size, 64), seed=seed,
    )  # fmt: skip
    return scores(model, vec, split.x_test, split.y_test)


def _report(runs, central: Metrics, split, s, sampling, n_rounds, model, n_hostile) -> dict:
    private, plain = runs["private"], runs["non_private"]
    rounds = private.result.rounds
    last = rounds[-1]["metrics"] if rounds else {}
    reasons = Counter(x["reason"] for r in rounds for x in r["rejected"])
    p = private.privacy
    return {
        "scenario": "iot",
        "devices": len(split.names),
        "platforms": dict(Counter(split.platform_of_device)),
        "final": {"accuracy": last.get("accuracy"), "auc": last.get("auc")},
        "baselines": {
            "non_private": plain.result.rounds[-1]["metrics"] if plain.result.rounds else {},
            "centralized": central.to_dict(),
        },
        "rounds": rounds,
        "privacy": {
            "epsilon": p.get("epsilon"),
            "epsilon_one_aggregator": p.get("epsilon_one_aggregator"),
            "delta": p.get("delta"),
            "level": "device (client-level, all of a device's rows)",
            "mechanism": p.get("mechanism"),
            "noise_multiplier": p.get("noise_multiplier"),
            "sampling_rate": sampling.rate,
            **_per_participation(p.get("noise_multiplier"), p.get("delta")),
        },
        "rejections": dict(reasons),
        "timing": {
            "private_s": round(private.seconds, 2),
            "non_private_s": round(plain.seconds, 2),
            "mean_round_s": round(float(np.mean([r["seconds"] for r in rounds])), 3),
        },
        "config": {
            "rounds": n_rounds,
            "model": _describe(model),
            "sampling": {
                "rate": sampling.rate,
                "dropout": s.dropout,
                "late": s.late,
                "deadline_s": s.deadline,
            },
            "train": {
                "epochs": s.train.epochs,
                "lr": s.train.lr,
                "batch_size": s.train.batch_size,
            },
            "hostile_devices": n_hostile,
            "secure": private.describe,
            "min_reports": s.min_reports,
        },
    }


def _noise_multiplier(s: IotSettings, q: float, rounds: int, n: int) -> float:
    """The smallest z meeting both targets (docs/edge.md, *Privacy accounting*): the
    amplified ε over all rounds, and one participation's ε against one Aggregator."""
    z = calibrate_noise_multiplier(s.target_epsilon, 1.0 / n, q, rounds)
    if s.participation_epsilon is not None:
        z1 = calibrate_noise_multiplier(
            s.participation_epsilon, 1.0 / n, 1.0, 1, against_one_aggregator=True
        )
        z = max(z, z1)
    return z


def _per_participation(z: float | None, delta: float | None) -> dict:
    """ε of one round a device took part in, without amplification: the bound against an
    Aggregator, which knows who reported and can remove its own half of the noise (z/√2).
    Amplification by sampling protects against everyone who sees only the released models
    (docs/edge.md, *What each party sees*)."""
    if not z or delta is None:
        return {}
    one = epsilon(z * ONE_AGGREGATOR_FACTOR, 1.0, 1, delta)
    return {"epsilon_per_participation_one_aggregator": one}


def _summary(report: dict, con: Console, seconds: float) -> None:
    f, base = report["final"], report["baselines"]["non_private"]
    p = report["privacy"]
    rounds = report["rounds"]
    rejected = sum(len(r["rejected"]) for r in rounds)
    con.print(
        f"[bold green]Final model performance:[/] accuracy {f['accuracy']:.4f}"
        + (f", AUC {f['auc']:.4f}" if f.get("auc") is not None else "")
    )
    con.print(
        f"  without DP (same devices, same sampling): accuracy {base.get('accuracy', 0):.4f}; "
        f"pooled rows: {report['baselines']['centralized']['accuracy']:.4f}"
    )
    con.print(
        f"  privacy per device: ε = {p['epsilon']:.3g} at δ = {p['delta']:.2g} = 1/N "
        f"(N = {report['devices']:,} devices; Poisson q = {p['sampling_rate']:.4f}, "
        "client-level distributed Gaussian, docs/edge.md)"
    )
    if "epsilon_per_participation_one_aggregator" in p:
        con.print(
            f"  against an Aggregator, which knows who reported: ε = "
            f"{p['epsilon_per_participation_one_aggregator']:.3g} per round a device took part "
            f"in (a device is asked in {p['sampling_rate'] * len(rounds):.2g} rounds on average)"
        )
    reasons = ", ".join(f"{n}× {why}" for why, n in report["rejections"].items()) or "none"
    con.print(
        f"  {sum(len(r['accepted']) for r in rounds):,} reports accepted, {rejected} rejected "
        f"({reasons}), {sum(r['dropped'] for r in rounds):,} dropped, "
        f"{sum(r['late'] for r in rounds):,} late; {seconds:.0f} s in all"
    )
