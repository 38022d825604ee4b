"""The Flower ServerApp: veil's federated learning on a SuperLink + SuperNodes.

It drives the round engine (:mod:`veil.fl.engine`) exactly as the embedded runner does, with
SuperNodes as the client pool (:class:`veil.fl.flower_pool.FlowerNodes`): the same
strategies, the same update validation, the same per-(round, client) seeds, the same round
records and report, and verified aggregation as the same wrapper
(:class:`veil.fl.verified.VerifiedAggregation`). What Flower adds is the transport: node
discovery, messages, timeouts. Preprocessing is fitted from the nodes' statistics (a
``query`` message), never from rows. With ``eval-data`` set (a held-out table on the
server's side) the global model is evaluated after each round; with ``out`` set the
ServerApp writes ``report.json`` there.

With ``sample-rate`` or ``sample-size`` set the rounds are cross-device ones
(:mod:`veil.fl.sampling`): each round messages only its sampled nodes (``dropout``, ``late``
and ``round-deadline`` simulate unreliable ones) and each round record carries ``sampled``,
``dropped`` and ``late``. Under verified aggregation with noise the consortium's
``dp.sampling_rate`` must be the pool's rate (the accountant assumes it).

``resume = true`` (with ``checkpoint`` and ``checkpoint-identity``; under verified
aggregation also ``leader-store``) continues a run whose ServerApp stopped or crashed, as
``veil demo … --resume`` does embedded.

Run configuration: see :data:`veil.fl.flower_common.DEFAULT_RUN_CONFIG`.
"""

from __future__ import annotations

from pathlib import Path

from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

from veil.errors import ConfigError
from veil.fl import flower_setup as setup
from veil.fl.engine import PlainAggregation, RoundEngine
from veil.fl.flower_common import sampling_from_run_config, to_json
from veil.fl.flower_pool import FlowerNodes
from veil.fl.flower_verified import ServerLeader
from veil.fl.models import build_model
from veil.fl.params import get_vector
from veil.fl.preprocess import preprocessor_to_dict
from veil.fl.round_record import RoundRecord
from veil.fl.verified import VerifiedAggregation

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Statistics round, then the engine's ``rounds`` rounds, then the report."""
    rc = context.run_config
    rounds, seed, timeout = int(rc["rounds"]), int(rc["seed"]), float(rc["timeout"])
    all_nodes = setup.wait_for_nodes(grid, int(rc["min-nodes"]), timeout)
    prep, nodes, excluded = setup.fit_preprocessor(grid, all_nodes, str(rc["target"]), timeout)
    spec, strategy, train = setup.plan(rc, prep)
    rdp, ledger = setup.record_dp(rc, rounds, spec, strategy.client_config(train))
    backend = _verified(rc)
    sampling = sampling_from_run_config(rc)
    if backend is not None:
        _check_accounting(sampling, backend.cfg.dp)
    pool = FlowerNodes(
        grid,
        nodes,
        all_nodes=all_nodes,
        content={
            "prep": to_json(preprocessor_to_dict(prep)),
            "spec": to_json(spec.to_dict()),
            **({"record_dp": to_json(rdp.to_dict())} if rdp is not None else {}),
        },
        seed=seed,
        timeout=timeout,
        verified=backend is not None,
        record_dp=rdp is not None,
        excluded=[(x["client"], x["reason"]) for x in excluded],
        sampling=sampling,
    )
    if backend is None:
        agg, run, pin = PlainAggregation(strategy), "flower", 0
    else:
        agg, run = VerifiedAggregation(strategy, backend), "task:" + backend.cfg.task_id.hex()
        # the audit log may be one round ahead (a crash between its record and the checkpoint)
        pin = max(backend.audited_round() - 1, 0)
    engine = RoundEngine(
        pool,
        agg,
        rounds,
        train,
        lr_decay=float(rc["lr-decay"]),
        evaluate=setup.evaluator(str(rc["eval-data"]), prep, spec),
        checkpointer=setup.checkpointer(rc, run, pin),
        record_ledger=ledger,
        fanout=len(nodes),
        on_round=_print,
        pool_samples=sampling is not None,
    )
    res = engine.run(get_vector(build_model(spec, seed=seed)), resume=bool(rc.get("resume", False)))
    if str(rc["out"]):
        sections = backend.summary() if backend is not None else {}
        if ledger is not None:  # record-level DP-SGD: its guarantee, the client-level beside
            sections["privacy"] = ledger.summary(rdp, sections.get("privacy"))
        setup.write_report(Path(str(rc["out"])), res.rounds, all_nodes, spec, strategy, sections)


def _verified(rc):
    """The Leader side of verified aggregation when the run config names a consortium."""
    if not str(rc.get("consortium", "")):
        return None
    if bool(rc.get("resume", False)) and not str(rc.get("leader-store", "")):
        raise ConfigError("resume with a consortium needs leader-store (the Leader's round state)")
    return ServerLeader(
        str(rc["consortium"]),
        str(rc["leader-identity"]),
        str(rc.get("audit-log", "")),
        str(rc.get("leader-store", "")),
    )


def _check_accounting(sampling, dp) -> None:
    """The client-level accountant assumes Poisson sampling at ``dp.sampling_rate``: the
    pool must sample so (every node every round when the rate is 1)."""
    noise = dp.noise_multiplier > 0
    if sampling is not None:
        sampling.check_accounting(dp.sampling_rate, noise)
    elif noise and dp.sampling_rate < 1:
        raise ConfigError(
            f"the consortium's accountant assumes dp.sampling_rate={dp.sampling_rate:g} but "
            "every node trains every round: set sample-rate to it"
        )


def _print(rec: RoundRecord) -> None:
    rejected = [f"{x.client}: {x.reason}" for x in rec.rejected]
    failed = f"; model unchanged: {rec.failure}" if rec.failure else ""
    print(
        f"veil round {rec.round}: accepted {list(rec.accepted)}, rejected {rejected}{failed}",
        flush=True,
    )
