"""One round's record: the type the round engine produces and the report, the terminal table,
the plot and the checkpoint's history carry.

It is frozen: once a round is over, what happened in it does not change. ``to_dict`` gives the
``report.json`` shape (docs/fl.md, *report.json*); ``from_dict`` reads it back from a
checkpoint's history on ``--resume``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class Rejection:
    """A client left out of a round, and why (a timeout, a crash, an invalid update, a
    report that failed verification…)."""

    client: str
    reason: str


@dataclass(frozen=True)
class RoundRecord:
    """What one round did.

    ``failure`` says why the global model stayed as it was (too few valid updates, no
    verified aggregate), None when it moved. ``epsilon`` is the headline guarantee so far:
    per customer when clients train with DP-SGD (then ``client_epsilon`` holds the
    client-level one of verified aggregation, if any), else client-level. ``details`` are the
    aggregation's own fields (verified aggregation: ``secure``, ``denominator``,
    ``bytes_per_client``, ``time_split``…), flattened into the report's round object.
    """

    round: int
    metrics: Mapping[str, float]
    accepted: tuple[str, ...]
    rejected: tuple[Rejection, ...]
    seconds: float
    bytes_up: int
    bytes_down: int = 0
    failure: str | None = None
    epsilon: float | None = None
    client_epsilon: float | None = None
    #: this round's DP-SGD spend per client, {client: [z, q, steps]} (record-level DP)
    record_dp: Mapping[str, list] | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def with_record_dp(self, spent: Mapping[str, list], epsilon: float) -> RoundRecord:
        """This record with a DP-SGD spend and the per-customer ε so far as its headline
        (a client-level ε already in it moves to ``client_epsilon``)."""
        return replace(self, record_dp=dict(spent), client_epsilon=self.epsilon, epsilon=epsilon)

    def to_dict(self) -> dict:
        """The report's round object (JSON-ready)."""
        out: dict = {
            "round": self.round,
            "metrics": dict(self.metrics),
            "accepted": list(self.accepted),
            "rejected": [{"client": r.client, "reason": r.reason} for r in self.rejected],
            "failure": self.failure,
            "seconds": round(self.seconds, 4),
            "bytes_up": self.bytes_up,
            "bytes_down": self.bytes_down,
        }
        if self.epsilon is not None or self.record_dp is not None or "secure" in self.details:
            out["epsilon"] = self.epsilon
        if self.record_dp is not None:
            out["record_dp"] = dict(self.record_dp)
            out["client_epsilon"] = self.client_epsilon
        out.update(self.details)
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RoundRecord:
        """Read a report's round object back (a checkpoint's history). A round-level entry
        ``{"client": "*"}`` of reports written before ``failure`` existed becomes it."""
        known = set(cls.__dataclass_fields__) - {"details"}
        rejected, failure = [], d.get("failure")
        for r in d.get("rejected", []):
            if r["client"] == "*":
                failure = failure or str(r["reason"])
            else:
                rejected.append(Rejection(str(r["client"]), str(r["reason"])))
        return cls(
            round=int(d["round"]),
            metrics=dict(d.get("metrics", {})),
            accepted=tuple(str(a) for a in d.get("accepted", [])),
            rejected=tuple(rejected),
            seconds=float(d.get("seconds", 0.0)),
            bytes_up=int(d.get("bytes_up", 0)),
            bytes_down=int(d.get("bytes_down", 0)),
            failure=failure,
            epsilon=d.get("epsilon"),
            client_epsilon=d.get("client_epsilon"),
            record_dp=d.get("record_dp"),
            details={k: v for k, v in d.items() if k not in known},
        )
