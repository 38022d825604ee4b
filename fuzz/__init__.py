"""Coverage-guided fuzzing of every parser that reads untrusted bytes (atheris / libFuzzer).

One module per target; each defines

* ``ALLOWED`` — the typed errors the code under test may raise on hostile input;
* ``setup()`` — build the fixed keys and real, valid objects; returns the seed corpus;
* ``one_input(data)`` — feed one input; raise :class:`Finding` (or let any exception not
  in ``ALLOWED`` escape) when the code misbehaves: a crash, an untyped error, or a
  tampered input that is accepted / releases plaintext.

Run ``python -m fuzz [--seconds N] [TARGET …]`` (see ``fuzz/__main__.py``). This package
must not import ``veil`` at top level: the worker instruments veil's modules as it imports
them, so coverage is only measured for modules imported *after* instrumentation starts.
"""

from __future__ import annotations

import contextlib

TARGETS = ("header", "sealed", "jwe", "zk_bundle", "audit", "pine", "prio3", "report")


class Finding(AssertionError):
    """The fuzzer found a bug that is not an exception (e.g. a tampered input accepted)."""


def check(module: object, data: bytes) -> None:
    """Run one input through ``module``; only its ``ALLOWED`` errors are swallowed."""
    with contextlib.suppress(module.ALLOWED):  # type: ignore[attr-defined]
        module.one_input(data)  # type: ignore[attr-defined]
