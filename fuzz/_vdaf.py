"""The report pipeline both VDAF harnesses run, one encoded message replaced by the input.

A fuzz input is ``selector byte || replacement``: the selector picks which encoded message
of a genuine report (public share, an input share, a verifier share, the verifier message,
an aggregate share) is replaced by the rest of the input; the pipeline then decodes
everything and runs verification to the end, as the two Aggregators would. Seeds are the
genuine encodings, one per selector. If the pipeline accepts a report whose replaced
message differs from the genuine one, the proof system accepted a tampered report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fuzz import Finding

STAGES = (
    "public_share",
    "leader_input_share",
    "helper_input_share",
    "leader_verifier_share",
    "helper_verifier_share",
    "verifier_message",
    "agg_share",
)

#: stages from here on leave the input shares genuine (verify_init's results can be reused)
FIRST_LATE_STAGE = STAGES.index("leader_verifier_share")


@dataclass
class Replace:
    """Hands out each stage's bytes: the genuine encoding, or the fuzzer's for one stage."""

    stage: int
    data: bytes

    def __call__(self, stage: str, genuine: bytes) -> bytes:
        return self.data if STAGES.index(stage) == self.stage else genuine


def seeds(genuine: dict[str, bytes]) -> list[bytes]:
    return [bytes([i]) + genuine[s] for i, s in enumerate(STAGES)]


def run(data: bytes, genuine: dict[str, bytes], pipeline: Callable[[Replace], object]) -> None:
    """Run ``pipeline`` with the stage the input selects replaced; check acceptance."""
    if not data:
        return
    r = Replace(data[0] % len(STAGES), bytes(data[1:]))
    pipeline(r)
    # an aggregate share is not authenticated by the VDAF (the transport does that):
    # for that stage, decoding and unsharding without an untyped error is the test
    if STAGES[r.stage] != "agg_share" and r.data != genuine[STAGES[r.stage]]:
        raise Finding(f"a report with a tampered {STAGES[r.stage]} was accepted")
