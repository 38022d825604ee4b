"""veil's ServerApp and ClientApp on Flower's simulation engine: N virtual SuperNodes.

A virtual SuperNode's node config holds only ``partition-id`` and ``num-partitions``, so its
data is named by its partition id: :func:`write_partitions` seals partition k's table to a
fresh identity of its own as ``partition-k.sealed`` beside ``partition-k.identity`` in one
folder, and the run config's ``partition-dir`` names that folder
(:func:`veil.fl.flower_common.node_data_config`). The shard is opened inside the ClientApp
only; on one simulation machine the identity files sit beside the shards, so sealing here
keeps the deployment's code path (open with the node's identity), not its key separation.

:func:`run` does what ``flwr run`` does for a simulation federation, in this process: the
app folder's run config (:func:`veil.fl.flower_common.write_app`) for the ServerApp and for
every virtual SuperNode, then Flower's simulation runtime (Ray) with ``num_supernodes``.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import veil
from veil.crypto.keys import identity_file_text
from veil.fl import FLOWER_ENV
from veil.fl.flower_common import partition_paths
from veil.fl.sealed import seal_table

if TYPE_CHECKING:
    import pandas as pd

#: two Ray workers on a 2-core machine, one CPU each, no dashboard
DEFAULT_BACKEND = {
    "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
    "init_args": {"num_cpus": 2, "include_dashboard": False},
}


def write_partitions(folder: Path, tables: Sequence[pd.DataFrame]) -> Path:
    """Partition k's table sealed to its own new identity: ``partition-k.sealed`` and
    ``partition-k.identity`` in ``folder`` (for the run config's ``partition-dir``)."""
    folder.mkdir(parents=True, exist_ok=True)
    for pid, table in enumerate(tables):
        data, ident_path = partition_paths(folder, pid)
        ident = veil.generate_identity()
        ident_path.write_text(identity_file_text(ident))
        ident_path.chmod(0o600)
        seal_table(table, data, [ident.recipient()])
    return folder


def run(app_dir: Path, num_supernodes: int, backend_config: dict | None = None) -> None:
    """Run the app folder's ServerApp and ClientApp on ``num_supernodes`` virtual SuperNodes
    (Ray; ``backend_config`` as :func:`flwr.simulation.run_simulation` takes it)."""
    os.environ.update({**FLOWER_ENV, "RAY_USAGE_STATS_ENABLED": "0"})
    # lazy: Flower's simulation runtime (Ray) only in the process that runs a simulation
    from flwr.app import Context, RecordDict
    from flwr.common.config import get_fused_config_from_dir
    from flwr.simulation.run_simulation import _run_simulation
    from flwr.supercore.telemetry import EventType

    from veil.fl.client_app import app as client_app
    from veil.fl.server_app import app as server_app

    app_dir = Path(app_dir).absolute()
    run_config = get_fused_config_from_dir(app_dir, {})
    context = Context(
        run_id=0, node_id=0, node_config={}, state=RecordDict(), run_config=run_config
    )
    # what `flwr run` does for a simulation federation (flwr.simulation.app): the fused run
    # config for the ServerApp's context, and app_dir with is_app for the SuperNodes' contexts
    _run_simulation(
        num_supernodes=num_supernodes,
        exit_event=EventType.PYTHON_API_RUN_SIMULATION_LEAVE,
        client_app=client_app,
        server_app=server_app,
        backend_config=copy.deepcopy(backend_config or DEFAULT_BACKEND),  # Flower edits it
        server_app_context=context,
        app_dir=str(app_dir),
        is_app=True,
    )
