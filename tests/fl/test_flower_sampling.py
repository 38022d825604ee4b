"""Cross-device rounds on the Flower path: the sampled FlowerNodes pool (a fake grid, no
Flower processes), its run-config keys, and where a virtual SuperNode finds its data."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import veil
from veil.crypto.keys import identity_file_text
from veil.errors import ConfigError
from veil.fl.engine import PlainAggregation, RoundEngine
from veil.fl.flower_common import (
    DEFAULT_RUN_CONFIG,
    load_node_table,
    node_data_config,
    partition_paths,
    sampling_from_run_config,
    vector_record,
)
from veil.fl.flower_pool import FlowerNodes
from veil.fl.local_config import TrainConfig, derive_seed
from veil.fl.sampling import Fate, Sampling
from veil.fl.strategies import FedAvg


@pytest.fixture(autouse=True)
def _task_identity(monkeypatch):
    """Flower's Message wants the ServerApp's run identity, which a Grid process sets."""
    from flwr.supercore.task_identity import TaskIdentity

    for attr, value in (("_run_id", 1), ("_task_id", 1), ("_node_id", 0)):
        monkeypatch.setattr(TaskIdentity, attr, value)


NODES = [9001 + 7 * k for k in range(40)]  # Flower node ids: arbitrary integers
DIM = 3


class _Reply:
    """What FlowerNodes reads of a Flower reply: an update of all ones, 5 examples."""

    def __init__(self, node: int) -> None:
        self.metadata = SimpleNamespace(src_node_id=node)
        self.content = {
            "update": vector_record("vector", np.ones(DIM, np.float32)),
            "metrics": {"num-examples": 5, "loss": 0.1},
        }

    def has_error(self) -> bool:
        return False


class FakeGrid:
    """Answers every train message at once, except for the nodes in ``silent``."""

    def __init__(self, silent: set[int] = frozenset()) -> None:
        self.silent, self.sent, self.timeouts = set(silent), [], []

    def get_node_ids(self):
        return list(NODES)

    def send_and_receive(self, msgs, timeout):
        msgs = list(msgs)
        self.sent.append(msgs)
        self.timeouts.append(timeout)
        dst = [m.metadata.dst_node_id for m in msgs]
        return [_Reply(n) for n in dst if n not in self.silent]


def _pool(grid, sampling, nodes=NODES, excluded=(), seed=3, timeout=30.0) -> FlowerNodes:
    return FlowerNodes(
        grid, nodes, all_nodes=NODES, content={}, seed=seed, timeout=timeout,
        excluded=excluded, sampling=sampling,
    )  # fmt: skip


def _round(pool, rnd=1):
    return pool.replies(rnd, np.zeros(DIM, np.float32), TrainConfig())


def test_only_the_sampled_nodes_get_a_message_with_their_stable_seed():
    grid, sampling = FakeGrid(), Sampling(size=6)
    replies = _round(_pool(grid, sampling), rnd=2)
    chosen, _ = sampling.draw(3, 2, len(NODES))
    expected = [NODES[k] for k in chosen]
    (msgs,) = grid.sent
    assert [m.metadata.dst_node_id for m in msgs] == expected
    for m, k in zip(msgs, chosen, strict=True):  # the seed of the node's index in all_nodes
        assert int(m.content["cfg"]["seed"]) == derive_seed(3, 2, int(k))
        assert int(m.content["cfg"]["round"]) == 2
    assert [r.client for r in replies] == [f"node-{n}" for n in expected]
    assert all(r.update is not None and r.missing is None for r in replies)


def test_draws_are_stable_per_seed_and_round_and_differ_between_rounds():
    def asked(seed, rnd):
        grid = FakeGrid()
        _round(_pool(grid, Sampling(rate=0.2), seed=seed), rnd)
        return [m.metadata.dst_node_id for m in grid.sent[0]]

    assert asked(3, 1) == asked(3, 1)  # a resumed run asks the same nodes
    assert asked(3, 1) != asked(3, 2)
    assert asked(3, 1) != asked(4, 1)


def test_dropped_nodes_get_no_message_late_ones_train_and_are_discarded():
    sampling = Sampling(rate=0.5, dropout=0.3, late=0.3)
    grid = FakeGrid()
    replies = _round(_pool(grid, sampling))
    chosen, fates = sampling.draw(3, 1, len(NODES))
    assert {Fate.DROPPED, Fate.LATE, Fate.ON_TIME} <= set(fates)  # the seed covers all three
    sent = {m.metadata.dst_node_id for m in grid.sent[0]}
    for k, fate, rep in zip(chosen, fates, replies, strict=True):
        node = NODES[k]
        assert rep.client == f"node-{node}"
        if fate is Fate.DROPPED:
            assert node not in sent and rep.missing == "dropped out" and rep.nbytes == 0
        elif fate is Fate.LATE:  # it trained and sent its update; the round discards it
            assert node in sent and rep.missing == "late" and rep.update is None
            assert rep.nbytes == DIM * 4 + 8
        else:
            assert node in sent and rep.missing is None and rep.update is not None


def test_a_deadline_makes_silent_sampled_nodes_late_not_rejected():
    chosen, _ = Sampling(size=5).draw(3, 1, len(NODES))
    silent = NODES[chosen[0]]
    grid = FakeGrid(silent={silent})
    replies = _round(_pool(grid, Sampling(size=5, deadline=2.0)))
    assert grid.timeouts == [2.0]  # the round waits for the deadline, not the timeout
    by = {r.client: r for r in replies}
    assert by[f"node-{silent}"].missing.startswith("late: the round's deadline")
    assert sum(r.update is not None for r in replies) == 4
    # without a deadline a silent node is a rejection with the reason
    replies = _round(_pool(FakeGrid(silent={silent}), Sampling(size=5), timeout=7.0))
    assert {r.client: r for r in replies}[f"node-{silent}"].error == "no reply within 7.0 s"


def test_a_sampled_node_left_out_before_training_keeps_its_reason_and_gets_no_message():
    sampling = Sampling(size=10)
    chosen, _ = sampling.draw(3, 1, len(NODES))
    bad = NODES[chosen[1]]
    grid = FakeGrid()
    nodes = [n for n in NODES if n != bad]
    replies = _round(_pool(grid, sampling, nodes, excluded=[(f"node-{bad}", "columns differ")]))
    assert bad not in {m.metadata.dst_node_id for m in grid.sent[0]}
    assert {r.client: r for r in replies}[f"node-{bad}"].error == "columns differ"
    assert len(replies) == 10


def test_the_engine_records_sampled_dropped_and_late_from_the_flower_pool():
    sampling = Sampling(rate=0.5, dropout=0.3, late=0.3)
    engine = RoundEngine(
        _pool(FakeGrid(), sampling), PlainAggregation(FedAvg()), 2, TrainConfig(),
        pool_samples=True,
    )  # fmt: skip
    res = engine.run(np.zeros(DIM, np.float32))
    for rec in res.records:
        _, fates = sampling.draw(3, rec.round, len(NODES))
        d = rec.details
        assert d["sampled"] == len(fates)
        assert d["dropped"] == fates.count(Fate.DROPPED)
        assert d["late"] == fates.count(Fate.LATE)
        assert len(rec.accepted) == fates.count(Fate.ON_TIME) and not rec.rejected
        assert rec.bytes_down == DIM * 4 * len(fates)


def test_run_config_keys():
    assert sampling_from_run_config(DEFAULT_RUN_CONFIG) is None
    s = sampling_from_run_config({"sample-rate": 0.05, "dropout": 0.1, "round-deadline": 30})
    assert s == Sampling(rate=0.05, dropout=0.1, deadline=30.0)
    assert sampling_from_run_config({"sample-size": 50}) == Sampling(size=50)
    with pytest.raises(ConfigError, match="not both"):
        sampling_from_run_config({"sample-rate": 0.1, "sample-size": 5})
    with pytest.raises(ConfigError, match="need sample-rate"):
        sampling_from_run_config({"dropout": 0.1})


def test_the_server_refuses_sampling_the_accountant_does_not_assume():
    from veil.aggregation.config import DpConfig
    from veil.fl.server_app import _check_accounting

    noisy = DpConfig(noise_multiplier=1.0, sampling_rate=0.05)
    _check_accounting(Sampling(rate=0.05), noisy)
    with pytest.raises(ConfigError, match=r"q=0\.1"):
        _check_accounting(Sampling(rate=0.1), noisy)
    with pytest.raises(ConfigError, match="Poisson"):
        _check_accounting(Sampling(size=5), noisy)
    with pytest.raises(ConfigError, match="every node trains every round"):
        _check_accounting(None, noisy)
    _check_accounting(None, DpConfig(noise_multiplier=1.0))  # q = 1: every node, every round
    _check_accounting(Sampling(size=5), DpConfig(sampling_rate=0.05))  # no noise: no accounting


def test_a_virtual_supernode_reads_its_partition_from_the_run_configs_folder(tmp_path):
    import pandas as pd

    ident = veil.generate_identity()
    data, idpath = partition_paths(tmp_path, 7)
    idpath.write_text(identity_file_text(ident))
    from veil.fl.sealed import seal_table

    seal_table(pd.DataFrame({"a": [1.0, 2.0], "y": ["p", "q"]}), data, [ident.recipient()])
    node = {"partition-id": 7, "num-partitions": 10}
    rc = {"partition-dir": str(tmp_path)}
    assert node_data_config(node, rc)["data-path"] == str(data)
    assert list(load_node_table(node, rc)["y"]) == ["p", "q"]
    verified = node_data_config(node, {**rc, "consortium": "c.toml"})
    assert verified["client-id"] == "partition-7" and verified["consortium"] == "c.toml"
    assert verified["signing-identity"].endswith("partition-7.signing")
    with pytest.raises(ConfigError, match="partition-dir"):
        load_node_table(node, {})
    # a real SuperNode's own data-path wins; no partition id: its node config as it is
    assert node_data_config({"data-path": "x.csv", "partition-id": 1}, rc)["data-path"] == "x.csv"
