"""``veil demo finance`` and ``veil demo medical`` (attached to the ``demo`` group)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

import typer

from veil.fl.report import default_out

_OUT = typer.Option(None, "--out", help="output folder (default runs/<timestamp>)")
_QUICK = typer.Option(False, "--quick", help="fewer rounds: finishes in well under a minute")
_SEED = typer.Option(0, "--seed", help="seed of the split, the initial model and the training")
_PART = typer.Option(None, "--partition", help="iid | dirichlet:ALPHA | quantity:ALPHA")
_STRAT = typer.Option(None, "--strategy", help="fedavg | fedprox | fedadam")
_ROUNDS = typer.Option(None, "--rounds", help="number of rounds (overrides --quick)")
_SECURE = typer.Option(
    False, "--secure", help="verified aggregation: sealed PINE reports, a Helper process, DP"
)
_MALICIOUS = typer.Option(0, "--malicious", help="with --secure: K banks turn hostile")
_TARGET_EPS = typer.Option(
    None, "--target-epsilon", help="with --secure: calibrate the DP noise to this ε"
)
_DELTA = typer.Option(1e-5, "--delta", help="with --secure: DP δ")
_NOISE = typer.Option(
    None, "--noise-multiplier", help="with --secure: DP noise z (σ = z·C); 0 turns noise off"
)
_CLIP = typer.Option(None, "--clip-norm", help="with --secure: L2 bound C of an update")
_RECORD_DP = typer.Option(
    False,
    "--record-dp",
    help="record-level DP-SGD (Opacus) on every client; --target-epsilon (default 8), "
    "--noise-multiplier and --delta then configure it (docs/dp.md)",
)
_MAX_GRAD = typer.Option(
    None, "--max-grad-norm", help="with --record-dp: per-record clip C (default 1.0)"
)


def _privacy_options(
    spec, quick, rounds, secure, record_dp, malicious, target_epsilon, delta, noise, clip, c
):
    """(secure options, record-DP config). With --record-dp the ε/z/δ flags configure
    DP-SGD; a --secure run alongside keeps its default client-level noise (docs/dp.md)."""
    if not record_dp:
        if c is not None:
            raise typer.BadParameter("--max-grad-norm needs --record-dp")
        sec = _secure_options(secure, malicious, target_epsilon, delta, noise, clip)
        return sec, None
    from veil.fl.record_dp import RecordDP  # lazy: numpy (≈0.1 s), not for --help

    if target_epsilon is None and noise is None:
        target_epsilon = 8.0
    planned = rounds or (spec.quick_rounds if quick else spec.rounds)
    rdp = RecordDP(
        max_grad_norm=1.0 if c is None else c,
        delta=delta,
        noise_multiplier=noise,
        target_epsilon=target_epsilon,
        rounds=planned if target_epsilon is not None else None,
    )
    return _secure_options(secure, malicious, None, delta, None, clip), rdp


def _secure_options(secure, malicious, target_epsilon, delta, noise_multiplier, clip_norm):
    """None without --secure; otherwise the demo's options (defaults: docs/dp.md)."""
    if not secure:
        if malicious or target_epsilon is not None or noise_multiplier is not None:
            raise typer.BadParameter(
                "--malicious, --target-epsilon, --noise-multiplier need --secure"
            )
        return None
    # lazy: numpy, PINE and cryptography (≈0.3 s), not for --help
    from veil.scenarios.secure_options import demo_options

    return demo_options(
        malicious=malicious,
        target_epsilon=target_epsilon,
        delta=delta,
        noise_multiplier=noise_multiplier,
        clip_norm=clip_norm,
    )


_EVAL_PRIVACY = typer.Option(
    False,
    "--evaluate-privacy",
    help="attack the released model (loss-threshold membership inference) and the same "
    "run with/without DP; adds privacy_evaluation to report.json (docs/security.md)",
)
_RESUME = typer.Option(False, "--resume", help="continue from the sealed checkpoint in --out")
_CONTRIB = typer.Option(
    True,
    "--contributions/--no-contributions",
    help="value each institution (leave-one-out, Shapley) by re-running sub-federations in "
    "quick settings: 31 short runs for five banks, ≈ 40 s (docs/explain.md)",
)

_EXPLAIN = typer.Option(
    True,
    "--explain/--no-explain",
    help="measure feature importance on the banks' held-out rows (verified with --secure) "
    "and, with --contributions, value each bank; --no-explain skips both (the model is the "
    "same: the held-out rows stay out of training)",
)


def _demo_command(scenario: str, doc: str) -> Callable[..., None]:
    """One ``veil demo <scenario>`` command; every scenario takes the same options."""

    def command(
        out: Path | None = _OUT,
        quick: bool = _QUICK,
        seed: int = _SEED,
        partition: str | None = _PART,
        strategy: str | None = _STRAT,
        rounds: int | None = _ROUNDS,
        resume: bool = _RESUME,
        secure: bool = _SECURE,
        malicious: int = _MALICIOUS,
        target_epsilon: float | None = _TARGET_EPS,
        delta: float = _DELTA,
        noise_multiplier: float | None = _NOISE,
        clip_norm: float | None = _CLIP,
        record_dp: bool = _RECORD_DP,
        max_grad_norm: float | None = _MAX_GRAD,
        evaluate_privacy: bool = _EVAL_PRIVACY,
        contributions: bool = _CONTRIB,
        explain: bool = _EXPLAIN,
    ) -> None:
        from veil.scenarios import consortium  # lazy: numpy, torch, flwr: not for --help

        spec = importlib.import_module(f"veil.scenarios.{scenario}").SPEC
        sec, rdp = _privacy_options(
            spec, quick, rounds, secure, record_dp, malicious, target_epsilon, delta,
            noise_multiplier, clip_norm, max_grad_norm,
        )  # fmt: skip
        consortium.run(
            spec,
            out=out or default_out(),
            quick=quick,
            seed=seed,
            partition=partition,
            strategy=strategy,
            rounds=rounds,
            resume=resume,
            secure=sec,
            record_dp=rdp,
            evaluate_privacy=evaluate_privacy,
            contributions=contributions,
            explain=explain,
        )

    command.__doc__ = doc
    command.__name__ = scenario
    return command


def register(demo_app: typer.Typer) -> None:
    """Add the consortium demos to the ``veil demo`` group."""
    demo_app.command("finance")(
        _demo_command("finance", "Five banks train a credit-risk model on sealed data (make demo).")
    )
    demo_app.command("medical")(
        _demo_command("medical", "Three hospitals train a tumour classifier on sealed data.")
    )
    demo_app.command("iot")(iot_command)
    demo_app.command("retail")(
        _vertical_command(
            "retail",
            "Vertical FL: a bank (labels) and an e-commerce platform hold different columns of "
            "the same customers; PSI, SecureBoost, hetero LR (docs/vertical.md).",
        )
    )
    demo_app.command("government")(
        _vertical_command(
            "government",
            "Vertical FL: the health (labels), tax and census departments hold different "
            "records of the same people; PSI, SecureBoost, hetero LR (docs/vertical.md).",
        )
    )


def _vertical_command(name: str, doc: str):
    """``veil demo retail`` / ``veil demo government``: the same options, another plan."""

    def command(
        out: Path | None = _OUT,
        quick: bool = _QUICK,
        seed: int = _SEED,
        in_process: bool = typer.Option(
            False, "--in-process", help="the other parties in this process, not veil party serve"
        ),
        crash: bool = typer.Option(
            True, "--crash/--no-crash", help="kill one party mid-SecureBoost and resume"
        ),
        scheme: str = typer.Option(
            "paillier", "--scheme", help="HE: paillier (112-bit) or ou (faster, weaker)"
        ),
    ) -> None:
        from veil.scenarios import vertical  # lazy: HEU, PSI, scikit-learn: not for --help

        vertical.run(name, out or default_out(), quick=quick, seed=seed,
                     processes=not in_process, crash=crash, scheme=scheme)  # fmt: skip

    command.__doc__ = doc
    command.__name__ = name
    return command


def iot_command(
    out: Path | None = _OUT,
    quick: bool = _QUICK,
    seed: int = _SEED,
    rounds: int | None = _ROUNDS,
    devices: int | None = typer.Option(
        None, "--devices", help="enrol at most this many devices (default: all, ≈ 29,000)"
    ),
    per_round: int = typer.Option(250, "--per-round", help="devices asked per round, on average"),
    target_epsilon: float = typer.Option(8.0, "--target-epsilon", help="ε per device at δ = 1/N"),
    hostile: int | None = typer.Option(
        None, "--hostile", help="devices that send hostile reports (default: 1 %)"
    ),
) -> None:
    """Thousands of devices (aircraft-months of 16 carriers) learn one model: sampled,
    verified, client-level DP with amplification by sampling (docs/edge.md)."""
    from dataclasses import replace  # lazy: with the demo's modules below, not for --help

    from veil.scenarios import iot  # lazy: numpy, pandas, the aggregators: not for --help

    settings = replace(
        iot.IotSettings(), per_round=per_round, target_epsilon=target_epsilon, hostile=hostile
    )
    iot.run(out=out or default_out(), quick=quick, seed=seed, rounds=rounds, devices=devices,
            settings=settings)  # fmt: skip
