"""Known-answer test runner for the official VDAF vectors (draft-20 Appendix "Test
Vectors", schema in ``tests/vectors/vdaf/README.md``).

Dispatch is by file name: the *variant* is the stem up to its first ``_``
(``Prio3SumVec_0.json`` → ``Prio3SumVec``, ``XofTurboShake128.json`` →
``XofTurboShake128``), and the handler registered under the longest matching prefix
runs it. Extend it from another module::

    from veil.vdaf import vectors
    vectors.register("Pine", run_pine_file)   # handler(variant, data) -> ops run

A handler raises :class:`VectorMismatch` (or any exception) when the file does not
pass and returns the number of checks it made (or a one-line summary). Modules named
in :data:`PLUGINS` are imported (if present) before the first dispatch so that they
can register.
Nothing here knows the names or contents of particular files.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from veil.errors import VdafError
from veil.vdaf.field import FIELDS, Field64
from veil.vdaf.prio3 import (
    Prio3,
    Prio3Count,
    Prio3HigherDegree,
    Prio3Histogram,
    Prio3MultihotCountVec,
    Prio3Sum,
    Prio3SumVec,
    Prio3SumVecWithMultiproof,
)
from veil.vdaf.xof import Xof, XofFixedKeyAes128, XofTurboShake128

Handler = Callable[[str, dict[str, Any]], "int | str"]

#: modules imported before dispatch so they can call :func:`register`
PLUGINS: list[str] = ["veil.vdaf.pine.vectors"]

#: file-name patterns (prefixes) the runner considers
PATTERNS: tuple[str, ...] = ("Prio3", "Pine", "Xof")

_REGISTRY: dict[str, Handler] = {}
_plugins_loaded = False


class VectorMismatch(AssertionError):
    """A computed value differs from the vector, or an expected failure did not happen."""


def register(prefix: str, handler: Handler) -> None:
    """Run files whose variant name starts with ``prefix`` through ``handler``."""
    _REGISTRY[prefix] = handler


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for name in PLUGINS:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise


def variant_of(path: Path) -> str:
    return path.stem.split("_", 1)[0]


def handler_for(variant: str) -> Handler | None:
    _load_plugins()
    best = max((p for p in _REGISTRY if variant.startswith(p)), key=len, default=None)
    return _REGISTRY[best] if best is not None else None


@dataclass(frozen=True)
class FileResult:
    path: Path
    ok: bool
    detail: str


def run_file(path: Path) -> FileResult:
    variant = variant_of(path)
    handler = handler_for(variant)
    if handler is None:
        return FileResult(path, False, f"no handler registered for variant {variant!r}")
    try:
        data = json.loads(path.read_text())
        checks = handler(variant, data)
    except Exception as exc:  # a failing file must never stop the run
        return FileResult(path, False, f"{type(exc).__name__}: {exc}")
    return FileResult(path, True, checks if isinstance(checks, str) else f"{checks} checks")


def collect(dirs: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for d in dirs:
        d = Path(d)
        if not d.is_dir():
            raise FileNotFoundError(f"not a directory: {d}")
        files += sorted(p for p in d.glob("*.json") if any(p.name.startswith(x) for x in PATTERNS))
    return files


def run_dirs(dirs: Iterable[Path]) -> list[FileResult]:
    return [run_file(p) for p in collect(dirs)]


# ----- XOF files -----------------------------------------------------------------------
#: XOF classes by name (another module may add its own)
XOFS: dict[str, type[Xof]] = {
    "XofTurboShake128": XofTurboShake128,
    "XofFixedKeyAes128": XofFixedKeyAes128,
}


def _expect(what: str, got: Any, want: Any) -> None:
    if got != want:
        raise VectorMismatch(f"{what}: got {_short(got)}, expected {_short(want)}")


def _short(x: Any) -> str:
    s = str(x)
    return s if len(s) <= 80 else s[:77] + "..."


def run_xof(variant: str, data: dict[str, Any]) -> int:
    xof = XOFS.get(variant)
    if xof is None:
        raise VectorMismatch(f"unknown XOF {variant!r}")
    seed, dst, binder = (bytes.fromhex(data[k]) for k in ("seed", "dst", "binder"))
    checks = 1
    _expect("derived_seed", xof.derive_seed(seed, dst, binder).hex(), data["derived_seed"])
    fields = {name.lower(): f for name, f in FIELDS.items()}
    for key, want in data.items():
        if key.startswith("expanded_vec_"):
            field = fields.get(key.removeprefix("expanded_vec_"))
            if field is None:
                raise VectorMismatch(f"unknown field in {key!r}")
            got = field.encode_vec(xof.expand_into_vec(field, seed, dst, binder, data["length"]))
            _expect(key, got.hex(), want)
            checks += 1
    return checks


# ----- Prio3 files ---------------------------------------------------------------------
def _field_param(data: dict[str, Any], default: type = Field64) -> type:
    name = data.get("field")
    return FIELDS[name] if name else default


#: constructors by variant, from the JSON's parameters (test-only instances use the
#: parameters the vectors README fixes, unless the file states its own)
PRIO3: dict[str, Callable[[dict[str, Any]], Prio3]] = {
    "Prio3Count": lambda d: Prio3Count(d["shares"]),
    "Prio3Sum": lambda d: Prio3Sum(d["shares"], d["max_measurement"]),
    "Prio3SumVec": lambda d: Prio3SumVec(
        d["shares"], d["length"], d["max_measurement"], d["chunk_length"]
    ),
    "Prio3Histogram": lambda d: Prio3Histogram(d["shares"], d["length"], d["chunk_length"]),
    "Prio3MultihotCountVec": lambda d: Prio3MultihotCountVec(
        d["shares"], d["length"], d["max_weight"], d["chunk_length"]
    ),
    "Prio3SumVecWithMultiproof": lambda d: Prio3SumVecWithMultiproof(
        d["shares"],
        _field_param(d),
        d.get("proofs", d.get("num_proofs", 3)),
        d["length"],
        d["max_measurement"],
        d["chunk_length"],
    ),
    "Prio3HigherDegree": lambda d: Prio3HigherDegree(d["shares"]),
}


class _Prio3Run:
    """Runs one Prio3 vector file's ``operations`` list in order."""

    def __init__(self, vdaf: Prio3, data: dict[str, Any]) -> None:
        self.vdaf = vdaf
        self.d = data
        self.ctx = bytes.fromhex(data["ctx"])
        self.verify_key = bytes.fromhex(data["verify_key"])
        self.states: dict[tuple[int, int], Any] = {}
        self.out_shares: dict[tuple[int, int], Any] = {}
        self.failed_reports: set[int] = set()

    def report(self, i: int) -> dict[str, Any]:
        return self.d["reports"][i]

    def do(self, op: dict[str, Any]) -> None:
        name = op["operation"]
        getattr(self, "op_" + name)(op)

    def op_shard(self, op: dict[str, Any]) -> None:
        r = self.report(op["report_index"])
        v = self.vdaf
        public, shares = v.shard(
            self.ctx, r["measurement"], bytes.fromhex(r["nonce"]), bytes.fromhex(r["rand"])
        )
        _expect("public_share", v.encode_public_share(public).hex(), r["public_share"])
        got = [v.encode_input_share(s).hex() for s in shares]
        _expect("input_shares", got, r["input_shares"])

    def op_verify_init(self, op: dict[str, Any]) -> None:
        i, j = op["report_index"], op["aggregator_id"]
        r = self.report(i)
        v = self.vdaf
        state, share = v.verify_init(
            self.verify_key,
            self.ctx,
            j,
            None,
            bytes.fromhex(r["nonce"]),
            bytes.fromhex(r["public_share"]),
            bytes.fromhex(r["input_shares"][j]),
        )
        self.states[(i, j)] = state
        want = r["verifier_shares"][0][j]
        _expect(f"verifier_share[{j}]", v.encode_verifier_share(share).hex(), want)

    def op_verifier_shares_to_message(self, op: dict[str, Any]) -> None:
        r = self.report(op["report_index"])
        rnd = op.get("round", 0)
        shares = [bytes.fromhex(s) for s in r["verifier_shares"][rnd]]
        msg = self.vdaf.verifier_shares_to_message(self.ctx, None, shares)
        _expect(
            "verifier_message",
            self.vdaf.encode_verifier_message(msg).hex(),
            r["verifier_messages"][rnd],
        )

    def op_verify_next(self, op: dict[str, Any]) -> None:
        i, j = op["report_index"], op["aggregator_id"]
        r = self.report(i)
        rnd = op.get("round", 1)
        state = self.states[(i, j)]
        msg = self.vdaf.decode_verifier_message(
            state, bytes.fromhex(r["verifier_messages"][rnd - 1])
        )
        out = self.vdaf.verify_next(self.ctx, state, msg)
        self.out_shares[(i, j)] = out
        _expect(f"out_share[{j}]", self.vdaf.encode_out_share(out).hex(), r["out_shares"][j])

    def op_aggregate(self, op: dict[str, Any]) -> None:
        j = op["aggregator_id"]
        outs = [s for (i, jj), s in sorted(self.out_shares.items()) if jj == j]
        agg = self.vdaf.aggregate(None, outs)
        _expect(f"agg_share[{j}]", self.vdaf.encode_agg_share(agg).hex(), self.d["agg_shares"][j])

    def op_unshard(self, op: dict[str, Any]) -> None:
        v = self.vdaf
        aggs = [v.decode_agg_share(None, bytes.fromhex(s)) for s in self.d["agg_shares"]]
        n = len({i for (i, _j) in self.out_shares}) or len(self.d["reports"])
        result = v.unshard(None, aggs, n)
        want = self.d["agg_result"]
        if isinstance(result, list) and isinstance(want, list):
            want = [int(x) for x in want]
        _expect("agg_result", result, want)


def run_prio3(variant: str, data: dict[str, Any]) -> str:
    make = PRIO3.get(variant)
    if make is None:
        raise VectorMismatch(f"unknown Prio3 variant {variant!r}")
    run = _Prio3Run(make(data), data)
    count = 0
    rejected: list[str] = []
    for op in data["operations"]:
        name = op["operation"]
        idx = op.get("report_index")
        if idx is not None and idx in run.failed_reports:
            continue
        if op.get("success", True):
            try:
                run.do(op)
            except VdafError as exc:
                raise VectorMismatch(f"{name} failed unexpectedly: {exc}") from exc
        else:
            try:
                run.do(op)
            except VdafError as exc:
                if exc.operation != name:
                    raise VectorMismatch(
                        f"{name} raised {type(exc).__name__} naming {exc.operation!r}"
                    ) from exc
                rejected.append(f"{name} rejected with {type(exc).__name__}")
            else:
                raise VectorMismatch(f"{name} succeeded but the vector expects failure")
            if idx is not None:
                run.failed_reports.add(idx)
        count += 1
    return "; ".join([f"{count} operations", *rejected])


register("Xof", run_xof)
register("Prio3", run_prio3)
