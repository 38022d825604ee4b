"""Record-level DP on the Flower path: the run config, what a node reports it spent, and
what the ServerApp's accountant takes from a reply."""

from __future__ import annotations

import numpy as np
import pytest

from veil.fl.flower_common import dp_metrics, record_dp_from_run_config, reply_spend
from veil.fl.flower_pool import FlowerNodes
from veil.fl.record_dp import DPSteps
from veil.fl.training import ClientUpdate


class _Reply:
    """What FlowerNodes reads of a Flower reply."""

    def __init__(self, metrics: dict, update: np.ndarray | None = None) -> None:
        self.content = {"metrics": metrics}
        if update is not None:
            from veil.fl.flower_common import vector_record

            self.content["update"] = vector_record("vector", update)

    def has_error(self) -> bool:
        return False


def _pool(record_dp: bool) -> FlowerNodes:
    return FlowerNodes(None, [], all_nodes=[], content={}, seed=0, timeout=1.0, record_dp=record_dp)


def test_run_config_turns_record_dp_on_only_when_asked():
    assert record_dp_from_run_config({}, 5) is None
    assert record_dp_from_run_config({"record-dp-epsilon": 0.0}, 5) is None
    by_eps = record_dp_from_run_config({"record-dp-epsilon": 3.0, "max-grad-norm": 0.5}, 5)
    assert (by_eps.target_epsilon, by_eps.rounds, by_eps.max_grad_norm) == (3.0, 5, 0.5)
    by_z = record_dp_from_run_config({"record-dp-noise": 1.1, "record-dp-delta": 1e-6}, 5)
    assert (by_z.noise_multiplier, by_z.target_epsilon, by_z.delta) == (1.1, None, 1e-6)


def test_a_nodes_spend_is_read_and_a_node_stating_none_is_left_out():
    upd = ClientUpdate(np.zeros(3, np.float32), 10, 0.5, dp=DPSteps(1.2, 0.25, 10))
    vec = np.zeros(3, np.float32)
    ok = _pool(True)._reply(
        "node-1", _Reply({"loss": 0.5, "num-examples": 10, **dp_metrics(upd)}, vec)
    )
    assert ok.error is None and ok.dp == DPSteps(1.2, 0.25, 10) and ok.update.num_examples == 10
    silent = _pool(True)._reply("node-2", _Reply({"loss": 0.5, "num-examples": 10}, vec))
    assert "no DP-SGD spend" in silent.error and silent.dp is None
    bad = {"dp-z": 0.0, "dp-q": 0.25, "dp-steps": 10, "loss": 0.5, "num-examples": 10}
    assert "impossible" in _pool(True)._reply("node-3", _Reply(bad, vec)).error
    off = _pool(False)._reply("node-4", _Reply({"loss": 0.5, "num-examples": 10}, vec))
    assert off.error is None and off.dp is None  # record DP off: nothing to check
    assert dp_metrics(ClientUpdate(np.zeros(3, np.float32), 10, 0.5)) == {}


@pytest.mark.parametrize("key", ["dp-z", "dp-q", "dp-steps"])
def test_a_partial_spend_is_refused(key):
    m = {"dp-z": 1.0, "dp-q": 0.5, "dp-steps": 3}
    del m[key]
    with pytest.raises(ValueError, match="no DP-SGD spend"):
        reply_spend(_Reply(m))
