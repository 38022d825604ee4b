"""What the Flower ServerApp and ClientApp share: message codecs and run-config parsing.

Imports stay light (numpy + flwr.app only): each SuperNode starts a fresh process for every
message, so everything heavy (torch, pandas, sklearn) is imported inside the handlers.

Wire format. The ServerApp sends:

* ``query`` — ConfigRecord ``cfg`` {``target``}: each node answers with its column
  statistics (``stats``: JSON of :func:`veil.fl.preprocess.stats_to_dict`) and its inferred
  schema (``schema``: JSON), never rows;
* ``train`` — ArrayRecord ``model`` {``global``: float32 vector} and ConfigRecord ``cfg``
  {``prep`` (JSON preprocessor), ``spec`` (JSON model spec), ``train`` (JSON TrainConfig),
  ``seed``, ``round``}: the node replies ArrayRecord ``update`` {``vector``} and MetricRecord
  ``metrics`` {``num-examples``, ``loss``, and with DP-SGD ``dp-z``, ``dp-q``, ``dp-steps``};
  under verified aggregation ConfigRecord ``report`` {``report``: the sealed report bytes}
  instead of the update.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from flwr.app import Array, ArrayRecord

import veil.fl  # noqa: F401 - sets FLWR_TELEMETRY_ENABLED=0 / FLWR_DISABLE_UPDATE_CHECK=1
from veil.errors import ConfigError
from veil.fl.local_config import DPSteps
from veil.fl.sampling import Sampling

QUERY_STATS = "query"  # MessageType.QUERY


def vector_record(key: str, vec: np.ndarray):
    """An ArrayRecord holding one flat float32 vector."""
    return ArrayRecord({key: Array.from_numpy_ndarray(np.ascontiguousarray(vec, np.float32))})


def vector_from(record, key: str) -> np.ndarray:
    """The vector stored under ``key`` (numpy's non-pickle format only)."""
    return np.asarray(record[key].numpy())


def to_json(obj: object) -> str:
    """Compact JSON for ConfigRecord string values."""
    return json.dumps(obj, separators=(",", ":"))


def partition_paths(folder: str | Path, pid: int) -> tuple[Path, Path]:
    """(sealed shard, identity) of virtual SuperNode ``pid`` in a partition folder
    (:func:`veil.fl.flower_sim.write_partitions` writes them)."""
    folder = Path(folder)
    return folder / f"partition-{pid}.sealed", folder / f"partition-{pid}.identity"


def partition_client_id(pid: int) -> str:
    """The consortium's client id of virtual SuperNode ``pid`` (verified aggregation)."""
    return f"partition-{pid}"


def node_data_config(node_config: dict, run_config: dict | None = None) -> dict:
    """Where this node's data is: its own ``--node-config`` (``data-path``,
    ``identity-path``), or, on Flower's simulation engine (a virtual SuperNode's node config
    holds only ``partition-id`` and ``num-partitions``), the files named by its partition id
    in the run config's ``partition-dir`` (under verified aggregation also its signing
    identity ``partition-<id>.signing`` and client id ``partition-<id>``, with the run
    config's ``consortium``)."""
    if node_config.get("data-path") or "partition-id" not in node_config:
        return dict(node_config)
    folder = str((run_config or {}).get("partition-dir", ""))
    if not folder:
        raise ConfigError(
            "this virtual SuperNode has a partition-id but the run config has no partition-dir"
        )
    pid = int(node_config["partition-id"])
    data, ident = partition_paths(folder, pid)
    out = {**node_config, "data-path": str(data), "identity-path": str(ident)}
    consortium = str((run_config or {}).get("consortium", ""))
    if consortium:
        out["consortium"] = consortium
        out["signing-identity"] = str(Path(folder) / f"partition-{pid}.signing")
        out["client-id"] = partition_client_id(pid)
    return out


def load_node_table(node_config: dict, run_config: dict | None = None):
    """Open this node's own table: ``data-path`` (CSV, Parquet, or a sealed Parquet shard
    with ``identity-path``), as set by ``flower-supernode --node-config``; on the simulation
    engine, its partition's sealed shard (:func:`node_data_config`)."""
    node_config = node_data_config(node_config, run_config)
    path = node_config.get("data-path")
    if not path:
        raise ConfigError("this SuperNode has no data-path in its --node-config")
    path = Path(str(path))
    if path.suffix == ".sealed":
        # lazy: a SuperNode starts a process per message; pandas/pyarrow only to read rows
        from veil.crypto.keys import load_identities
        from veil.fl.sealed import open_table

        ident = node_config.get("identity-path")
        if not ident:
            raise ConfigError("a sealed data-path needs identity-path in --node-config")
        return open_table(path, load_identities([str(ident)]))
    from veil.fl.data import read_table  # lazy: pandas only to read rows

    return read_table(path)


APP_PYPROJECT = """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "veil-fl-app"
version = "0.1.0"
description = "veil's federated learning, as a Flower App (the code is the installed veil package)"
dependencies = []

[tool.hatch.build.targets.wheel]
packages = ["."]

[tool.flwr.app]
publisher = "veil"

[tool.flwr.app.components]
serverapp = "veil.fl.server_app:app"
clientapp = "veil.fl.client_app:app"

[tool.flwr.app.config]
{config}
"""

DEFAULT_RUN_CONFIG: dict[str, object] = {
    "rounds": 3,
    "min-nodes": 2,
    "target": "Status",
    "model": "logreg",
    "hidden": "",
    "strategy": "fedavg",
    "lr": 0.05,
    "lr-decay": 0.97,
    "momentum": 0.9,
    "batch-size": 32,
    "local-steps": 10,
    "seed": 0,
    "timeout": 120.0,
    "eval-data": "",
    "out": "",
    # a sealed checkpoint written atomically after every round: signed with and sealed to
    # checkpoint-identity (x25519 + ed25519; resumable), or an unsigned export sealed to
    # checkpoint-recipient (its key stays off the server)
    "checkpoint": "",
    "checkpoint-identity": "",
    "checkpoint-recipient": "",
    # continue from the checkpoint (needs checkpoint-identity; with a consortium, leader-store)
    "resume": False,
    # verified aggregation (veil.fl.flower_verified): sealed PINE reports, a Helper process
    "consortium": "",
    "leader-identity": "",
    # the Leader's durable round state (an SQLite path or a postgresql:// URL); "" in memory
    "leader-store": "",
    # with a consortium: the round log, signed by the Leader and countersigned by the Helper
    "audit-log": "",
    # record-level DP-SGD on every node (docs/dp.md): a target ε > 0, or a fixed noise z > 0
    "record-dp-epsilon": 0.0,
    "record-dp-noise": 0.0,
    "record-dp-delta": 1e-5,
    "max-grad-norm": 1.0,
    # cross-device rounds (veil.fl.sampling): each round asks a Poisson sample of the nodes
    # (sample-rate q > 0) or exactly sample-size of them; 0 and 0: every node, every round
    "sample-rate": 0.0,
    "sample-size": 0,
    # simulated unreliability of the sampled nodes: fractions that drop out / report late
    "dropout": 0.0,
    "late": 0.0,
    # seconds a sampled round waits for replies (then the silent ones are late); 0: timeout
    "round-deadline": 0.0,
    # Flower's simulation engine: the folder of per-partition sealed shards and identities
    # (partition-<id>.sealed / .identity) a virtual SuperNode reads by its partition-id
    "partition-dir": "",
}


def sampling_from_run_config(rc):
    """The :class:`~veil.fl.sampling.Sampling` the run config asks for, or None (every node,
    every round)."""
    rate, size = float(rc.get("sample-rate", 0.0)), int(rc.get("sample-size", 0))
    dropout, late = float(rc.get("dropout", 0.0)), float(rc.get("late", 0.0))
    deadline = float(rc.get("round-deadline", 0.0))
    if rate <= 0 and size <= 0:
        if dropout > 0 or late > 0 or deadline > 0:
            raise ConfigError("dropout, late and round-deadline need sample-rate or sample-size")
        return None
    if rate > 0 and size > 0:
        raise ConfigError("give sample-rate (Poisson) or sample-size (fixed), not both")
    return Sampling(
        rate=rate if rate > 0 else None,
        size=size if size > 0 else None,
        dropout=dropout,
        late=late,
        deadline=deadline if deadline > 0 else None,
    )


def record_dp_from_run_config(rc, rounds: int):
    """The RecordDP the run config asks for, or None (both ε and z left at 0)."""
    eps, z = float(rc.get("record-dp-epsilon", 0.0)), float(rc.get("record-dp-noise", 0.0))
    if eps <= 0 and z <= 0:
        return None
    from veil.fl.record_dp import RecordDP  # lazy: opacus only when DP-SGD is on

    return RecordDP(
        max_grad_norm=float(rc.get("max-grad-norm", 1.0)),
        delta=float(rc.get("record-dp-delta", 1e-5)),
        noise_multiplier=z if z > 0 else None,
        target_epsilon=eps if z <= 0 else None,
        rounds=rounds if z <= 0 else None,
    )


def dp_metrics(upd) -> dict:
    """A DP-SGD update's spend, for the reply's metrics (the server's accountant needs it)."""
    dp = getattr(upd, "dp", None)
    if dp is None:
        return {}
    return {"dp-z": dp.noise_multiplier, "dp-q": dp.sample_rate, "dp-steps": dp.steps}


def reply_spend(reply) -> DPSteps:
    """The DP-SGD spend a node's reply states (record-level DP is on); ValueError with the
    reason to leave the node out if it states none, or an impossible one (it may not have
    run DP-SGD at all)."""
    try:
        m = reply.content["metrics"]
        steps = DPSteps(float(m["dp-z"]), float(m["dp-q"]), int(m["dp-steps"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError("no DP-SGD spend in its reply (record-level DP is on)") from exc
    if not (steps.noise_multiplier > 0 and 0 < steps.sample_rate <= 1 and steps.steps > 0):
        raise ValueError("an impossible DP-SGD spend in its reply")
    return steps


def write_app(folder: Path, **overrides: object) -> Path:
    """Write a Flower App folder (pyproject.toml only) for ``flwr run``."""
    cfg = {**DEFAULT_RUN_CONFIG, **overrides}
    unknown = set(overrides) - set(DEFAULT_RUN_CONFIG)
    if unknown:
        raise ConfigError(f"unknown run-config keys {sorted(unknown)}")
    lines = "\n".join(f"{k} = {json.dumps(v)}" for k, v in cfg.items())
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text(APP_PYPROJECT.format(config=lines))
    return folder
