"""Failpoints: kill this process with SIGKILL at a named point, for crash-recovery tests.

A failpoint is inert unless the environment names it (the gofail / FoundationDB "buggify"
idea, reduced to the one fault that matters for durability: dying without any cleanup)::

    VEIL_CRASH_AT=leader.collected@3     # die at that point in round 3 (any round if no @)
    VEIL_CRASH_ONCE=/tmp/x/fired         # optional: fire only if this file does not exist yet
    VEIL_CRASH_MODE=pause                # optional: wait there to be killed from outside

The variables are inherited by child processes, so one setting reaches the Helper process a
Leader starts; ``VEIL_CRASH_ONCE`` keeps a restarted process from dying at the same point
again, and receives the pid of the process that reached the point. In ``pause`` mode the
process stops at the point and waits for a test to send it SIGKILL. SIGKILL cannot be
caught: no ``finally``, no ``atexit``, no flushed buffer runs — what survives is what was
already durable, which is what the tests check.
"""

from __future__ import annotations

import os
import signal
import time

ENV_POINT = "VEIL_CRASH_AT"
ENV_ONCE = "VEIL_CRASH_ONCE"
ENV_MODE = "VEIL_CRASH_MODE"

#: every failpoint in the code base, for documentation and to catch typos in tests
POINTS = {
    "leader.verified": "the Leader verified a round's reports with the Helper, nothing collected",
    "leader.collected": "the Helper released its aggregate share; the Leader has not combined it",
    "leader.countersigned": "the Helper countersigned the round's audit record; log not written",
    "leader.audited": "the round's audit record is in the log; its checkpoint is not written",
    "helper.verifying": "the Helper stored part of a batch of verified output shares",
    "helper.collected": "the Helper stored its aggregate share but has not answered",
}


def failpoint(name: str, round: int | None = None) -> None:
    """SIGKILL this process if ``VEIL_CRASH_AT`` names ``name`` (and ``round``)."""
    spec = os.environ.get(ENV_POINT)
    if not spec:
        return
    point, _, at = spec.partition("@")
    if point != name or (at and round is not None and at != str(round)):
        return
    once = os.environ.get(ENV_ONCE)
    if once:
        try:
            fd = os.open(once, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            return  # fired already: the restarted process goes on
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
    if os.environ.get(ENV_MODE) == "pause":
        while True:  # until the test kills this process
            time.sleep(60)
    os.kill(os.getpid(), signal.SIGKILL)
