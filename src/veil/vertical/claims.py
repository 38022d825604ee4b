"""The label party proves its labels are fit to train on, in zero knowledge, before any host
spends work: at least ``minimum`` positive and ``minimum`` negative training rows
(docs/vertical.md, *Label claim*).

A host would otherwise learn nothing about the labels it helps to fit — and could be drawn
into a federation whose labels are nearly constant (nothing to learn, or a probe of its
columns on a handful of chosen rows). The label party commits to the two counts (Pedersen on
ristretto255) and proves each in range with a Bulletproof (:mod:`veil.zk.claims`); the host
checks the statements against its own policy. The proof is bound to the session, so it
cannot be replayed into another federation. The host learns that both counts are in range,
nothing more.
"""

from __future__ import annotations

import numpy as np

from veil.errors import ConfigError, ProofError, ProtocolError
from veil.vertical import wire
from veil.vertical.channel import Channel, HostData, check_reply
from veil.vertical.wire import Fields
from veil.zk import claims
from veil.zk.statements import Range

#: a host's default policy: each class at least this many training rows (``veil party serve
#: --min-class-rows`` sets another; the demos ask for 100)
DEFAULT_MINIMUM = 30
_MAX = 2**40
_CONTEXT = b"veil/vertical/labels/v1"


def statements(minimum: int) -> list[Range]:
    return [
        Range("positives", minimum, _MAX, name="positives"),
        Range("negatives", minimum, _MAX, name="negatives"),
    ]


def prove_labels(channel: Channel, y: np.ndarray, minimum: int = DEFAULT_MINIMUM) -> dict:
    """Prove the class counts of ``y`` to every host; each host verifies. Returns the
    report's ``claims`` section."""
    positives = int(np.count_nonzero(y == 1))
    counts = {"positives": positives, "negatives": len(y) - positives}
    if min(counts.values()) < minimum:
        raise ConfigError(f"each class needs at least {minimum} training rows for the hosts")
    bundle = claims.prove(counts, statements(minimum), context=_CONTEXT + channel.session)
    blob = bundle.to_bytes()
    verified = []
    for name in channel.parties:
        reply = channel.call(name, "zk.labels", {"bundle": blob, "minimum": minimum})
        check_reply(reply, {"verified"})
        if wire.need(reply, "verified", bool) is not True:
            raise ProtocolError(f"{name} did not verify the label claim")
        verified.append(name)
    return {
        "statement": f"at least {minimum} positive and {minimum} negative training rows",
        "proof": "Pedersen commitments + Bulletproofs range proofs (ristretto255)",
        "bytes": len(blob),
        "verified_by": verified,
    }


class LabelClaimHost:
    """A host's side (prefix ``zk``): verify the label claim against its own policy."""

    def __init__(self, data: HostData, minimum: int = DEFAULT_MINIMUM) -> None:
        self.data, self.minimum = data, minimum

    def handle(self, kind: str, fields: Fields) -> Fields:
        if kind != "zk.labels":
            raise ProtocolError(f"unknown message {kind!r}")
        blob = wire.need(fields, "bundle", bytes)
        asked = wire.need(fields, "minimum", int)
        assert isinstance(blob, bytes) and isinstance(asked, int)
        if asked < self.minimum:  # the host's policy, not the label party's, sets the bar
            raise ProofError(f"the label claim asks for {asked} rows per class; policy: "
                             f"{self.minimum}")  # fmt: skip
        bundle = claims.ProofBundle.from_bytes(blob)
        claims.verify(bundle, context=_CONTEXT + self.data.session, expected=statements(asked))
        return {"verified": True}

    def snapshot(self) -> Fields:
        return {}

    def restore(self, fields: Fields) -> None:
        return None
