"""Record-level DP on the Flower path: the run config, what a node reports it spent, and
what the ServerApp's accountant takes from a reply."""

from __future__ import annotations

import numpy as np
import pytest

from veil.fl.flower_common import dp_metrics, record_dp_from_run_config, spend_reply
from veil.fl.record_dp import DPSteps, RecordLedger
from veil.fl.training import ClientUpdate


class _Reply:
    def __init__(self, metrics: dict) -> None:
        self.content = {"metrics": metrics}


def test_run_config_turns_record_dp_on_only_when_asked():
    assert record_dp_from_run_config({}, 5) is None
    assert record_dp_from_run_config({"record-dp-epsilon": 0.0}, 5) is None
    by_eps = record_dp_from_run_config({"record-dp-epsilon": 3.0, "max-grad-norm": 0.5}, 5)
    assert (by_eps.target_epsilon, by_eps.rounds, by_eps.max_grad_norm) == (3.0, 5, 0.5)
    by_z = record_dp_from_run_config({"record-dp-noise": 1.1, "record-dp-delta": 1e-6}, 5)
    assert (by_z.noise_multiplier, by_z.target_epsilon, by_z.delta) == (1.1, None, 1e-6)


def test_a_nodes_spend_reaches_the_ledger_and_a_silent_node_is_left_out():
    upd = ClientUpdate(np.zeros(3, np.float32), 10, 0.5, dp=DPSteps(1.2, 0.25, 10))
    ledger = RecordLedger(1e-5)
    assert spend_reply(ledger, "node-1", _Reply({"loss": 0.5, **dp_metrics(upd)})) is None
    assert ledger.spent() == {"node-1": [1.2, 0.25, 10]}
    assert ledger.epsilon is not None and ledger.epsilon > 0
    assert "no DP-SGD spend" in spend_reply(ledger, "node-2", _Reply({"loss": 0.5}))
    bad = {"dp-z": 0.0, "dp-q": 0.25, "dp-steps": 10}
    assert "impossible" in spend_reply(ledger, "node-3", _Reply(bad))
    assert set(ledger.epsilons()) == {"node-1"}
    assert spend_reply(None, "node-4", _Reply({})) is None  # record DP off: nothing to check
    assert dp_metrics(ClientUpdate(np.zeros(3, np.float32), 10, 0.5)) == {}


@pytest.mark.parametrize("key", ["dp-z", "dp-q", "dp-steps"])
def test_a_partial_spend_is_refused(key):
    m = {"dp-z": 1.0, "dp-q": 0.5, "dp-steps": 3}
    del m[key]
    assert spend_reply(RecordLedger(1e-5), "n", _Reply(m)) is not None
