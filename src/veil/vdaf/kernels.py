"""The compiled field kernels, loaded without numba or a JIT when they were built ahead of time.

Why (issue 18.2): JIT kernels made the first report of every fresh process slow — importing
numba (which imports scipy) and loading or compiling each kernel cost seconds, against
0.1 s for a warm Prio3SumVec(10k) report. ``python -m veil.vdaf.aot`` (run by ``make
setup``) compiles the kernels of :mod:`veil.vdaf._kernels` and :mod:`veil.vdaf.pine._kernels`
into the extension module ``veil.vdaf._kernels_aot``; importing it takes under a
millisecond and needs only numpy.

The extension carries a digest of the kernel sources (and, as it is built for the CPU it
is built on, of that CPU's features); when it is missing or stale (sources changed, or
another CPU) this module warns once and JIT-compiles the same functions with numba
instead (slow first call, same results). ``VEIL_KERNELS=jit`` forces that fallback.

The functions below take and return numpy ``uint64`` arrays with numpy broadcasting, as
the ufuncs they replace did: a 0-d result is returned as a numpy scalar.
"""

from __future__ import annotations

import hashlib
import importlib
import math
import os
import platform
import warnings
from functools import cache
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np

#: the compiled extension (built next to this file by ``python -m veil.vdaf.aot``)
EXTENSION = "veil.vdaf._kernels_aot"
#: kernel sources, relative to this package: the extension's digest covers them
SOURCES = ("_kernels.py", "pine/_kernels.py")
_HERE = Path(__file__).resolve().parent


def cpu_fingerprint() -> str:
    """The instruction-set features of this CPU (a build for ``host`` runs only on a CPU
    that has them): the first ``flags`` line of /proc/cpuinfo, else the platform's name."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return " ".join(sorted(line.split(":", 1)[1].split()))
    except OSError:
        pass
    return f"{platform.machine()} {platform.processor()}"


def source_digest(cpu: str | None = None) -> int:
    """63-bit digest of the kernel sources (and of ``cpu``, the fingerprint of the CPU a
    ``host`` build targets): what a current extension was built from."""
    h = hashlib.sha256()
    for rel in SOURCES:
        h.update(rel.encode() + b"\0" + (_HERE / rel).read_bytes())
    if cpu is not None:
        h.update(b"cpu\0" + cpu.encode())
    return int.from_bytes(h.digest()[:8], "little") >> 1


def load_extension() -> ModuleType | None:
    """The ahead-of-time extension if it is installed, built from the current sources and,
    when built for a specific CPU, for this one; ``VEIL_KERNELS=jit`` disables it."""
    if os.environ.get("VEIL_KERNELS") == "jit":
        return None
    try:
        mod = importlib.import_module(EXTENSION)
    except ImportError:
        return None
    built = mod.source_digest()
    if built in (source_digest(), source_digest(cpu_fingerprint())):
        return mod
    return None


@cache
def _impl() -> Any:
    mod = load_extension()
    if mod is not None:
        return mod
    if os.environ.get("VEIL_KERNELS") != "jit":
        warnings.warn(
            "veil's field kernels are not built ahead of time for this machine (or are "
            "stale): compiling them with numba now, which slows this process's first "
            "reports; run `python -m veil.vdaf.aot` (make setup does) to build them",
            RuntimeWarning,
            stacklevel=3,
        )
    # lazy: the numba sources (numba ≈ 0.5 s with scipy) only when the prebuilt ones are missing
    from veil.vdaf import _kernels
    from veil.vdaf.pine import _kernels as _pine_kernels

    sources = (_kernels, _pine_kernels)
    return SimpleNamespace(**{n: getattr(m, n) for m in sources for n in m.EXPORTS})


def backend() -> str:
    """``"aot"`` (the prebuilt extension) or ``"jit"`` (numba fallback)."""
    return "aot" if isinstance(_impl(), ModuleType) else "jit"


def _u64(x: Any) -> np.ndarray:
    if type(x) is np.ndarray and x.dtype == np.uint64:
        return x
    return np.asarray(x, dtype=np.uint64)


def _broadcast(sa: tuple[int, ...], sb: tuple[int, ...]) -> tuple[int, ...]:
    """numpy's broadcast shape (np.broadcast_shapes costs ~3 µs, a tenth of a small call)."""
    n = max(len(sa), len(sb))
    sa = (1,) * (n - len(sa)) + sa
    sb = (1,) * (n - len(sb)) + sb
    if any(x != y and x != 1 and y != 1 for x, y in zip(sa, sb, strict=True)):
        raise ValueError(f"operands could not be broadcast together: {sa} {sb}")
    return tuple(y if x == 1 else x for x, y in zip(sa, sb, strict=True))


def _run(name: str, a: Any, b: Any, limbs: int, *extra: Any) -> Any:
    """Apply element-wise kernel ``name`` to ``a``, ``b`` with numpy broadcasting; ``limbs``
    is the number of trailing limb axes (0, or 1 for Field128).

    Contiguous operands of the full size (or of one element) run the 1-D ``_flat`` kernel;
    anything else the strided ``_3d`` kernel, which broadcasts length-1 axes itself, so up
    to three axes need no copy. More axes (rare) are flattened with copies."""
    a, b = _u64(a), _u64(b)
    shape = a.shape if a.shape == b.shape else _broadcast(a.shape, b.shape)
    width = 2 if limbs else 1
    size = math.prod(shape) // width
    na, nb = a.size // width, b.size // width
    impl = _impl()
    if (
        (na == size or na == 1)
        and (nb == size or nb == 1)
        and a.flags.c_contiguous
        and b.flags.c_contiguous
    ):
        flat = (size, 2) if limbs else (size,)
        out = np.empty(flat, dtype=np.uint64)
        fa = a.reshape((na, 2) if limbs else (na,))
        fb = b.reshape((nb, 2) if limbs else (nb,))
        getattr(impl, name + "_flat")(fa, fb, out, *extra)
    elif len(shape) <= 3:
        out = np.empty((1,) * (3 - len(shape)) + shape, dtype=np.uint64)
        fa = a.reshape((1,) * (3 - a.ndim) + a.shape)
        fb = b.reshape((1,) * (3 - b.ndim) + b.shape)
        getattr(impl, name + "_3d")(fa, fb, out, *extra)
    else:
        view = (1,) * (2 - limbs) + (size,) + shape[len(shape) - limbs :]
        fa = np.ascontiguousarray(np.broadcast_to(a, shape)).reshape(view)
        fb = np.ascontiguousarray(np.broadcast_to(b, shape)).reshape(view)
        out = np.empty(view, dtype=np.uint64)
        getattr(impl, name + "_3d")(fa, fb, out, *extra)
    out = out.reshape(shape)
    return out if shape else out[()]


def mul64(a: Any, b: Any) -> Any:
    return _run("mul64", a, b, 0)


def add64(a: Any, b: Any) -> Any:
    return _run("add64", a, b, 0)


def sub64(a: Any, b: Any) -> Any:
    return _run("sub64", a, b, 0)


def mul32(a: Any, b: Any) -> Any:
    return _run("mul32", a, b, 0)


def mul40(a: Any, b: Any) -> Any:
    return _run("mul40", a, b, 0)


def addmod(a: Any, b: Any, p: int) -> Any:
    """(a + b) mod p for a prime p < 2^63 and canonical a, b."""
    return _run("addmod", a, b, 0, np.uint64(p))


def submod(a: Any, b: Any, p: int) -> Any:
    """(a − b) mod p for a prime p < 2^63 and canonical a, b."""
    return _run("submod", a, b, 0, np.uint64(p))


def mul128(a: Any, b: Any) -> Any:
    return _run("mul128", a, b, 1)


def add128(a: Any, b: Any) -> Any:
    return _run("add128", a, b, 1)


def sub128(a: Any, b: Any) -> Any:
    return _run("sub128", a, b, 1)


def ntt(name: str, x: np.ndarray, rev: np.ndarray, tw: np.ndarray) -> None:
    """In-place NTT ``name`` (``ntt32``/``ntt40``/``ntt64``/``ntt128``) of each row of the
    C-contiguous ``x``; ``rev``/``tw`` as in :func:`veil.vdaf._kernels.ntt128`."""
    getattr(_impl(), name)(x, rev, tw)


def wr_dots_limbs(zbytes: np.ndarray, limbs: np.ndarray, dimension: int) -> np.ndarray:
    """PINE's wraparound dot products (:func:`veil.vdaf.pine._kernels.wr_dots_limbs`)."""
    return _impl().wr_dots_limbs(
        np.ascontiguousarray(zbytes, dtype=np.uint8),
        np.ascontiguousarray(limbs, dtype=np.int64),
        int(dimension),
    )
