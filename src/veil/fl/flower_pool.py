"""The Flower :class:`~veil.fl.engine.ClientPool`: a round's clients are SuperNodes.

One ``train`` message per node (the global model, the round's training config, the node's
seed and the round number), one reply each within the timeout. A node that stays silent,
errors, states no DP-SGD spend while record-level DP is on, or sends a malformed reply
becomes a :class:`~veil.fl.engine.Reply` with the reason; the engine records it and the
round goes on. Under verified aggregation a node replies with its sealed report (its
ClientApp's client mod, :func:`veil.fl.flower_verified.node_train_reply`), never its update.

With a :class:`~veil.fl.sampling.Sampling` the pool is a cross-device one, as the embedded
pool (:mod:`veil.fl.local_pool`): the population is ``all_nodes`` in ascending node-id order,
round r asks ``Sampling.draw(seed, r, len(all_nodes))`` of them, and only those get a train
message. Unreliability is simulated in the pool exactly as the embedded pool does it: a
*dropped* node gets no message (it never reports); a *late* node gets its message and trains,
and its reply is discarded (its DP-SGD spend and bytes still count). With a ``deadline`` the
round waits at most that long (the timeout otherwise): a sampled node silent by then is
recorded as late, not as a rejection. A sampled node that was left out before training
(its statistics failed) is recorded with that reason and gets no message.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from flwr.app import ConfigRecord, Message, MessageType, RecordDict

from veil.fl.engine import Reply
from veil.fl.flower_common import reply_spend, to_json, vector_from, vector_record
from veil.fl.local_config import ClientUpdate, DPSteps, TrainConfig, derive_seed
from veil.fl.sampling import Fate, Sampling


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
        sampling: Sampling | None = None,
    ) -> None:
        self.grid, self.nodes, self.all_nodes = grid, list(nodes), list(all_nodes)
        self.content, self.seed, self.timeout = content, seed, timeout
        self.verified, self.record_dp = verified, record_dp
        #: nodes left out before training (e.g. their columns differ): a reply each round
        self.excluded = list(excluded)
        self.sampling = sampling
        self._index = {n: k for k, n in enumerate(self.all_nodes)}

    def replies(self, rnd: int, global_vec: np.ndarray, cfg: TrainConfig) -> list[Reply]:
        if self.sampling is not None:
            return self._sampled(rnd, global_vec, cfg)
        got = self._send(rnd, global_vec, cfg, self.nodes, self.timeout)
        out = [Reply(name, error=why) for name, why in self.excluded]
        return out + [self._reply(f"node-{n}", got.get(n)) for n in self.nodes]

    def _sampled(self, rnd: int, global_vec: np.ndarray, cfg: TrainConfig) -> list[Reply]:
        """The round's sampled nodes only; dropped/late ones as ``missing`` replies."""
        chosen, fates = self.sampling.draw(self.seed, rnd, len(self.all_nodes))
        sampled = [(self.all_nodes[k], f) for k, f in zip(chosen.tolist(), fates, strict=True)]
        left_out, trains = dict(self.excluded), set(self.nodes)
        asked = [n for n, fate in sampled if fate is not Fate.DROPPED and n in trains]
        deadline = self.sampling.deadline
        wait = self.timeout if deadline is None else min(self.timeout, deadline)
        got = self._send(rnd, global_vec, cfg, asked, wait) if asked else {}
        out = []
        for n, fate in sampled:
            name = f"node-{n}"
            if fate is Fate.DROPPED:
                out.append(Reply(name, missing=Fate.DROPPED.value))
            elif n not in trains:
                out.append(Reply(name, error=left_out.get(name, "left out before training")))
            elif got.get(n) is None and deadline is not None:
                out.append(Reply(name, missing=f"{Fate.LATE.value}: the round's deadline passed"))
            elif fate is Fate.LATE:  # it trained and reported after the deadline: discarded
                late = self._reply(name, got.get(n))
                out.append(Reply(name, missing=Fate.LATE.value, dp=late.dp, nbytes=late.nbytes))
            else:
                out.append(self._reply(name, got.get(n)))
        return out

    def _send(self, rnd: int, global_vec: np.ndarray, cfg: TrainConfig, nodes, timeout: float):
        """One train message to each of ``nodes``; their replies by node id."""
        msgs = [
            Message(
                RecordDict(
                    {
                        "model": vector_record("global", global_vec),
                        "cfg": ConfigRecord(
                            {
                                **self.content,
                                "train": to_json(cfg.to_dict()),
                                "seed": derive_seed(self.seed, rnd, self._index[node]),
                                "round": rnd,
                            }
                        ),
                    }
                ),
                node,
                MessageType.TRAIN,
            )
            for node in nodes
        ]
        got = self.grid.send_and_receive(msgs, timeout=timeout)
        return {m.metadata.src_node_id: m for m in got}

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
