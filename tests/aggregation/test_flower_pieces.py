"""The Flower-side pieces, driven without Flower: node reports (the client mod) → the
ServerApp's Leader under the verified wrapper → the new global vector."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from typer.testing import CliRunner

from veil.aggregation.aggregator import HelperCore
from veil.aggregation.config import ConsortiumConfig
from veil.aggregation.store import AggregatorStore
from veil.aggregation.transport import InProcessHelper
from veil.cli import app
from veil.crypto.hpke_keys import X25519Identity
from veil.fl.engine import Reply
from veil.fl.flower_verified import ServerLeader, _one, node_report
from veil.fl.strategies import FedAvg
from veil.fl.verified import VerifiedAggregation


@dataclass
class Upd:
    vector: np.ndarray
    num_examples: int


def test_node_reports_through_leader(tmp_path):
    r = CliRunner().invoke(
        app, ["helper", "init", "--out", str(tmp_path), "--clients", "n1,n2", "--dimension", "20",
              "--max-weight", "50", "--denominator", "100", "--min-reports", "2",
              "--noise-multiplier", "0", "--allow-unsafe"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    cons = str(tmp_path / "consortium.toml")
    server = ServerLeader(cons, str(tmp_path / "leader.identity"))
    helper_id = _one(tmp_path / "helper.identity", X25519Identity)
    cfg = ConsortiumConfig.load(cons)
    server.leader.helper = InProcessHelper(
        HelperCore(cfg, helper_id, AggregatorStore(":memory:", helper_id))
    )
    g = np.zeros(20, np.float32)
    reports = [
        node_report({"consortium": cons, "signing-identity": str(tmp_path / f"client-{n}.identity"),
                     "client-id": n}, 1, g, Upd(np.full(20, 0.01 * (i + 1), np.float32), 500))
        for i, n in enumerate(("n1", "n2"))
    ]  # fmt: skip
    agg = VerifiedAggregation(FedAvg(), server)
    out = agg.aggregate(
        1, g, [Reply(n, report=r) for n, r in zip(("n1", "n2"), reports, strict=True)]
    )
    assert sorted(out.accepted) == ["n1", "n2"] and out.failure is None
    assert out.details["denominator"] == 100  # weights capped at W = 50
    assert np.allclose(out.vector, 0.015, atol=1e-6)
    assert agg.commit(1, out.vector) == {}  # no audit log asked for
    assert server.summary()["privacy"]["epsilon"] is None  # noise off: no guarantee claimed
