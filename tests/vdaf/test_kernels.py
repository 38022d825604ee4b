"""The kernel interface (issue 18.2, no cold-start tax): what the report path imports, which
kernels it runs, and that both builds compute the same thing with numpy's broadcasting.

The cold-start guard asserts on what a fresh process imports and which backend it runs,
not on seconds: a regression that brings numba (and with it scipy and LLVM) back onto the
report path fails here on any machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from veil.vdaf import kernels
from veil.vdaf.field import Field32, Field40, Field64, Field128

SRC = Path(kernels.__file__).resolve().parents[2]
HEAVY = ("numba", "llvmlite", "scipy")

_PROBE = r"""
import json, random, sys
import numpy as np
import veil.vdaf.prio3, veil.vdaf.pine
after_import = sorted(m for m in sys.modules if m.split(".")[0] in {heavy})
if sys.argv[1] == "report":
    from veil.vdaf.prio3 import Prio3SumVec
    from veil.vdaf.pine import Pine64
    v = Prio3SumVec(2, 100, 255, 10)
    v.shard(b"ctx", np.arange(100) % 256, bytes(16), bytes(v.RAND_SIZE))
    p = Pine64(2**15, 15, 100, 10, 2, num_wr_checks=20)
    g = np.full(100, 0.05)
    p.shard_with_retry(g, bytes(16), rng=random.Random(1).randbytes)
from veil.vdaf import kernels
print(json.dumps({{
    "after_import": after_import,
    "after_report": sorted(m for m in sys.modules if m.split(".")[0] in {heavy}),
    "backend": kernels.backend() if sys.argv[1] == "report" else None,
}}))
""".format(heavy=repr(set(HEAVY)))


def _probe(mode: str) -> dict:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("VEIL_KERNELS", None)
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, env=env, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_the_vdafs_loads_no_jit_and_no_scipy() -> None:
    assert _probe("import")["after_import"] == []


def test_first_reports_run_the_prebuilt_kernels_without_numba() -> None:
    if kernels.load_extension() is None:
        pytest.fail(
            "the ahead-of-time kernels are not built for this tree and CPU: run "
            "`python -m veil.vdaf.aot` (make setup does)"
        )
    got = _probe("report")
    assert got["backend"] == "aot"
    assert got["after_report"] == [], f"the report path imported {got['after_report']}"


def test_stale_extension_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernels, "source_digest", lambda cpu=None: -1)
    assert kernels.load_extension() is None


# ----- broadcasting, as the ufuncs this replaced did --------------------------------------

_SHAPES = [
    ((7,), (7,)),
    ((7,), ()),
    ((), (7,)),
    ((), ()),
    ((3, 5), (5,)),
    ((3, 1), (1, 5)),
    ((2, 3, 4), (3, 1)),
    ((2, 2, 3, 4), (4,)),  # more axes than the kernels: the copying path
    ((0,), (0,)),
    ((4, 0), (1,)),
]


def _rand(field, shape, rng):
    ints = [
        int.from_bytes(rng.bytes(16), "little") % field.MODULUS
        for _ in range(max(1, np.prod(shape, dtype=int)))
    ]
    v = field.vec(ints[: int(np.prod(shape, dtype=int))])
    return v.reshape(shape + field.elem_shape())


@pytest.mark.parametrize("field", [Field32, Field40, Field64, Field128])
@pytest.mark.parametrize(("sa", "sb"), _SHAPES)
def test_arithmetic_broadcasts_like_numpy(field, sa, sb) -> None:
    rng = np.random.default_rng(len(sa) * 10 + len(sb))
    a, b = _rand(field, sa, rng), _rand(field, sb, rng)
    shape = np.broadcast_shapes(sa, sb)
    p = field.MODULUS
    ai = np.array(field.to_ints(np.broadcast_to(a, shape + field.elem_shape())), dtype=object)
    bi = np.array(field.to_ints(np.broadcast_to(b, shape + field.elem_shape())), dtype=object)
    for op, ref in ((field.mul, ai * bi), (field.add, ai + bi), (field.sub, ai - bi)):
        got = op(a, b)
        assert np.shape(got) == shape + field.elem_shape()
        assert field.to_ints(got) == [int(x) % p for x in ref]


def test_strided_views_and_scalars() -> None:
    rng = np.random.default_rng(5)
    m = _rand(Field128, (6, 8), rng)
    view = m[::2, 1::3]  # not contiguous: the strided kernel
    got = Field128.mul(view, m[0, 0])
    want = [x * Field128.to_int(m[0, 0]) % Field128.MODULUS for x in Field128.to_ints(view)]
    assert Field128.to_ints(got) == want
    x = Field64.mul(Field64.elem(3), Field64.elem(5))  # 0-d in, numpy scalar out (as a ufunc)
    assert isinstance(x, np.uint64) and int(x) == 15


@pytest.mark.slow
def test_jit_fallback_matches_the_prebuilt_kernels() -> None:
    """The same kernel sources under numba's JIT (what runs without the build) agree with
    the extension on random inputs (the vectors tests check the extension itself)."""
    if kernels.load_extension() is None:
        pytest.skip("no ahead-of-time build to compare with")
    code = r"""
import json, numpy as np
from veil.vdaf.field import Field32, Field40, Field64, Field128
from veil.vdaf import kernels
rng = np.random.default_rng(3)
out = {"backend": kernels.backend()}
for f in (Field32, Field40, Field64, Field128):
    ints = [int.from_bytes(rng.bytes(16), "little") % f.MODULUS for _ in range(2 * 256)]
    a, b = f.vec(ints[:256]), f.vec(ints[256:])
    m = a.reshape((16, 16) + f.elem_shape())
    r = [f.mul(a, b), f.add(a, b), f.sub(a, b), f.mul(m, b[:16]), f.ntt(m, 16), f.intt(a)]
    out[f.__name__] = [f.to_ints(x) for x in r]
print(json.dumps(out))
"""
    runs = {}
    for mode in ("aot", "jit"):
        env = {**os.environ, "PYTHONPATH": str(SRC), "PYTHONWARNINGS": "ignore"}
        env.pop("VEIL_KERNELS", None)
        if mode == "jit":
            env["VEIL_KERNELS"] = "jit"
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
        )
        runs[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    assert runs["aot"].pop("backend") == "aot"
    assert runs["jit"].pop("backend") == "jit"
    assert runs["aot"] == runs["jit"]
