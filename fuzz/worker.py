"""One fuzzing process: ``python -m fuzz.worker TARGET CORPUS_DIR [libFuzzer flags…]``.

Instruments veil (except the numba kernels, whose bytecode numba compiles), writes the
target's seeds into ``CORPUS_DIR`` and hands control to libFuzzer, which exits the process.
"""

from __future__ import annotations

import hashlib
import importlib
import sys
from pathlib import Path

import atheris

# numba compiles these modules' functions from their bytecode: instrumenting them breaks it
_NOT_INSTRUMENTED = [
    "veil.vdaf._kernels",
    "veil.vdaf.field",
    "veil.vdaf.pine._kernels",
]


def main() -> None:
    if len(sys.argv) < 3:
        raise SystemExit("usage: python -m fuzz.worker TARGET CORPUS_DIR [libFuzzer flags]")
    target, corpus = sys.argv[1], Path(sys.argv[2])
    # setup() imports what the target exercises: inside the block, so it is instrumented
    with atheris.instrument_imports(include=["veil"], exclude=_NOT_INSTRUMENTED):
        mod = importlib.import_module(f"fuzz.{target}")
        seeds = mod.setup()
    from fuzz import check

    corpus.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        (corpus / hashlib.sha256(seed).hexdigest()[:16]).write_bytes(seed)
    atheris.Setup([sys.argv[0], *sys.argv[3:], str(corpus)], lambda data: check(mod, data))
    atheris.Fuzz()


if __name__ == "__main__":
    main()
