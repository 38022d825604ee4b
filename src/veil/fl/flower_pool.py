"""The Flower :class:`~veil.fl.engine.ClientPool`: a round's clients are SuperNodes.

One ``train`` message per node (the global model, the round's training config, the node's
seed and the round number), one reply each within the timeout. A node that stays silent,
errors, states no DP-SGD spend while record-level DP is on, or sends a malformed reply
becomes a :class:`~veil.fl.engine.Reply` with the reason; the engine records it and the
round goes on. Under verified aggregation a node replies with its sealed report (its
ClientApp's client mod, :func:`veil.fl.flower_verified.node_train_reply`), never its update.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from flwr.app import ConfigRecord, Message, MessageType, RecordDict

from veil.fl.engine import Reply
from veil.fl.flower_common import reply_spend, to_json, vector_from, vector_record
from veil.fl.local_config import ClientUpdate, DPSteps, TrainConfig, derive_seed


class FlowerNodes:
    """Train messages to ``nodes`` over ``grid``; ``content`` is what every message carries
    besides the model and the training config (the preprocessor, the model spec, DP-SGD)."""

    def __init__(
        self,
        grid,
        nodes: Sequence[int],
        *,
        all_nodes: Sequence[int],
        content: dict[str, str],
        seed: int,
        timeout: float,
        verified: bool = False,
        record_dp: bool = False,
        excluded: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.grid, self.nodes, self.all_nodes = grid, list(nodes), list(all_nodes)
        self.content, self.seed, self.timeout = content, seed, timeout
        self.verified, self.record_dp = verified, record_dp
        #: nodes left out before training (e.g. their columns differ): a reply each round
        self.excluded = list(excluded)

    def replies(self, rnd: int, global_vec: np.ndarray, cfg: TrainConfig) -> list[Reply]:
        msgs = [
            Message(
                RecordDict(
                    {
                        "model": vector_record("global", global_vec),
                        "cfg": ConfigRecord(
                            {
                                **self.content,
                                "train": to_json(cfg.to_dict()),
                                "seed": derive_seed(self.seed, rnd, self.all_nodes.index(node)),
                                "round": rnd,
                            }
                        ),
                    }
                ),
                node,
                MessageType.TRAIN,
            )
            for node in self.nodes
        ]
        got = self.grid.send_and_receive(msgs, timeout=self.timeout)
        by_node = {m.metadata.src_node_id: m for m in got}
        out = [Reply(name, error=why) for name, why in self.excluded]
        return out + [self._reply(f"node-{n}", by_node.get(n)) for n in self.nodes]

    def _reply(self, name: str, rep) -> Reply:
        if rep is None:
            return Reply(name, error=f"no reply within {self.timeout} s")
        if rep.has_error():
            return Reply(name, error=f"error: {rep.error.reason}")
        dp: DPSteps | None = None
        if self.record_dp:
            try:
                dp = reply_spend(rep)
            except ValueError as exc:
                return Reply(name, error=str(exc))
        try:  # its DP-SGD spend counts even if what it sent is refused
            if self.verified:
                report = bytes(rep.content["report"]["report"])
                return Reply(name, report=report, dp=dp, nbytes=len(report))
            u = vector_from(rep.content["update"], "vector")
            m = rep.content["metrics"]
            upd = ClientUpdate(u, int(m["num-examples"]), float(m["loss"]))
        except (KeyError, TypeError, ValueError) as exc:
            what = "no sealed report" if self.verified else "malformed reply"
            return Reply(name, error=f"{what}: {exc}", dp=dp)
        return Reply(name, update=upd, dp=dp, nbytes=int(u.nbytes) + 8)
