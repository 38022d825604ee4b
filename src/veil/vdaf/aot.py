"""Build the field kernels ahead of time: ``python -m veil.vdaf.aot`` (``make setup`` runs it).

Compiles every function named in the ``EXPORTS`` of :mod:`veil.vdaf._kernels` and
:mod:`veil.vdaf.pine._kernels` with numba's ahead-of-time compiler into the extension
``veil.vdaf._kernels_aot`` next to this file, so that no process pays numba's import or a
JIT on its first report (see :mod:`veil.vdaf.kernels`). Needs numba and a C compiler at
build time only. Does nothing when a current build is present (``--force`` rebuilds);
``--check`` only reports (exit 1 if missing or stale).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from veil.vdaf import kernels

_HERE = Path(__file__).resolve().parent


def build(output_dir: Path = _HERE, cpu: str = "host") -> Path:
    """Compile the extension into ``output_dir`` (atomically replacing an older build).

    ``cpu="host"`` (default) uses this CPU's instructions (AVX2: Field64 products ~2.5×
    faster than the generic x86-64 build) and ties the build to CPUs with the same
    features; ``cpu="generic"`` builds a portable extension."""
    # lazy: numba's compiler and the kernel sources only when building
    from numba.pycc import CC

    from veil.vdaf import _kernels
    from veil.vdaf.pine import _kernels as _pine_kernels

    name = kernels.EXTENSION.rsplit(".", 1)[1]
    digest = kernels.source_digest(kernels.cpu_fingerprint() if cpu == "host" else None)
    with tempfile.TemporaryDirectory(dir=output_dir) as tmp:
        cc = CC(name)
        cc.output_dir = tmp
        cc.verbose = False
        if cpu == "host":
            cc.target_cpu = "host"
        for mod in (_kernels, _pine_kernels):
            for fname, sig in mod.EXPORTS.items():
                cc.export(fname, sig)(getattr(mod, fname).py_func)

        def source_digest() -> int:
            return digest

        cc.export("source_digest", "int64()")(source_digest)
        cc.compile()
        (built,) = Path(tmp).glob(f"{name}.*")
        target = output_dir / built.name
        os.replace(built, target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m veil.vdaf.aot", description=__doc__)
    parser.add_argument("--force", action="store_true", help="rebuild even if current")
    parser.add_argument("--cpu", choices=["host", "generic"], default="host")
    parser.add_argument("--check", action="store_true", help="only report; exit 1 if not built")
    args = parser.parse_args(argv)
    current = kernels.load_extension() is not None
    if args.check or (current and not args.force):
        print(f"veil kernels: {'ahead-of-time build is current' if current else 'not built'}")
        return 0 if current else 1
    if shutil.which(os.environ.get("CC", "cc")) is None:
        print("veil kernels: no C compiler; the kernels will be JIT-compiled at run time")
        return 1
    print(f"veil kernels: built {build(cpu=args.cpu).name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
