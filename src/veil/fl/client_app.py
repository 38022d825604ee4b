"""The Flower ClientApp: a SuperNode's side of veil's federated learning.

It opens the node's own table (``--node-config data-path=… [identity-path=…]``; a
``.sealed`` shard is opened with the node's identity, inside this process only; on Flower's
simulation engine a virtual SuperNode's partition shard in the run config's
``partition-dir``, :func:`veil.fl.flower_common.node_data_config`), answers
the statistics query, and runs :func:`veil.fl.training.local_update` for each train message
— the same function the embedded runner calls. Errors become Flower error replies, which
the ServerApp records as a rejected client with the reason.
"""

from __future__ import annotations

import json

from flwr.app import ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from veil.fl.flower_common import (
    dp_metrics,
    load_node_table,
    node_data_config,
    to_json,
    vector_from,
    vector_record,
)

app = ClientApp()


@app.query()
def stats(msg: Message, context: Context) -> Message:
    """Column statistics and inferred schema of this node's rows (no rows leave)."""
    # lazy: a SuperNode starts a process per message; pandas only in the handlers that read
    from veil.fl.preprocess import infer_schema, local_stats, stats_to_dict

    target = str(msg.content["cfg"]["target"])
    frame = load_node_table(node_data_config(dict(context.node_config), dict(context.run_config)))
    schema = infer_schema(frame, target)
    reply = ConfigRecord(
        {
            "stats": to_json(stats_to_dict(local_stats(frame, schema))),
            "schema": to_json({"numeric": schema.numeric, "categorical": schema.categorical}),
        }
    )
    return Message(RecordDict({"stats": reply}), reply_to=msg)


@app.train()
def train(msg: Message, context: Context) -> Message:
    """Local training from the global vector on this node's rows."""
    # lazy: a SuperNode starts a process per message; torch and pandas only for training
    from veil.fl.models import ModelSpec
    from veil.fl.preprocess import preprocessor_from_dict
    from veil.fl.training import TrainConfig, local_update

    cfg = msg.content["cfg"]
    prep = preprocessor_from_dict(json.loads(str(cfg["prep"])))
    spec = ModelSpec.from_dict(json.loads(str(cfg["spec"])))
    tcfg = TrainConfig(**json.loads(str(cfg["train"])))
    node = node_data_config(dict(context.node_config), dict(context.run_config))
    x, y = prep.transform(load_node_table(node))
    vec = vector_from(msg.content["model"], "global")
    rdp = None
    if "record_dp" in cfg:  # record-level DP-SGD (veil.fl.record_dp)
        from veil.fl.record_dp import RecordDP  # lazy: opacus only when DP-SGD is on

        rdp = RecordDP(**json.loads(str(cfg["record_dp"])))
    upd = local_update(
        spec, vec.astype("float32"), x, y, tcfg, seed=int(cfg["seed"]), record_dp=rdp
    )
    if str(node.get("consortium", "")):
        # lazy: the report builder (VDAFs, HPKE) only on a node of a consortium
        from veil.fl.flower_verified import node_train_reply

        return node_train_reply(msg, node, vec, upd)
    metrics = {"num-examples": upd.num_examples, "loss": upd.loss, **dp_metrics(upd)}
    content = RecordDict(
        {"update": vector_record("vector", upd.vector), "metrics": MetricRecord(metrics)}
    )
    return Message(content, reply_to=msg)
