"""Conformance against PINE's published test vectors (``tests/vectors/pine``).

A file's variant comes from its name: the prefix before the first ``_`` (``Pine64``,
``Pine128``, ``Pine64HmacSha256Aes128``, ``Pine32HmacSha256Aes128``,
``Pine40HmacSha256Aes128``). Every parameter is read from the file (proof counts, chunk
lengths, wraparound test counts, alpha, number of shares), so files with other parameters,
more Aggregators or more reports run unchanged. For every report the handler shards and
compares the public share and every input share; then each Aggregator runs ``verify_init`` on
the *file's* decoded shares, the verifier shares and the verifier message are compared, and
``verify_next`` must give the listed output shares; finally the aggregate shares and the
decoded result are compared. Every comparison is byte for byte.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from veil.errors import VeilError
from veil.vdaf.pine.vdaf import VARIANTS, Pine
from veil.vdaf.vectors import VectorMismatch, register

PREFIX = "Pine"


@dataclass
class PineFileResult:
    """Outcome of one vector file: ``failures`` is empty when every comparison matched."""

    path: Path
    variant: str
    reports: int = 0
    checks: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures and self.checks > 0


def variant_for(path: Path) -> type[Pine] | None:
    return VARIANTS.get(path.name.split("_")[0].removesuffix(".json"))


def vdaf_from_vector(cls: type[Pine], tv: dict) -> Pine:
    """Instantiate the VDAF with exactly the parameters recorded in the file."""
    kwargs = {
        "chunk_length_norm_equality": tv["chunk_length_norm_equality"],
        "num_proofs": tv["proofs"],
        "num_proofs_norm_equality": tv["proofs_norm_equality"],
    }
    for key, arg in (("alpha", "alpha"), ("num_wr_checks", "num_wr_checks")):
        if key in tv:
            kwargs[arg] = tv[key]
    if "num_wr_successes" in tv:
        kwargs["num_wr_successes"] = tv["num_wr_successes"]
    vdaf = cls(
        tv["l2_norm_bound"],
        tv["num_frac_bits"],
        tv["dimension"],
        tv["chunk_length"],
        tv["shares"],
        **kwargs,
    )
    name = vdaf.field.__name__
    if "field" in tv and tv["field"] != name:
        raise ValueError(f"file says field {tv['field']}, {cls.__name__} uses {name}")
    return vdaf


def _hex(b: bytes) -> str:
    return b.hex()


def _floats_equal(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all(
        x == y or (math.isnan(x) and math.isnan(y)) for x, y in zip(a, b, strict=True)
    )


def run_pine_data(variant: str, tv: dict, path: Path | None = None) -> PineFileResult:
    """Run every operation a parsed PINE vector lists and compare every byte."""
    cls = VARIANTS.get(variant)
    res = PineFileResult(Path(path or variant), variant)
    if cls is None:
        res.failures.append(f"unknown PINE variant {variant!r}")
        return res
    try:
        vdaf = vdaf_from_vector(cls, tv)
        _run(vdaf, tv, res)
    except (VeilError, ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        res.failures.append(f"{type(exc).__name__}: {exc}")
    return res


def run_pine_file(path: Path) -> PineFileResult:
    """Run one ``Pine*.json`` file (variant from the file-name prefix)."""
    path = Path(path)
    cls = variant_for(path)
    if cls is None:
        res = PineFileResult(path, "?")
        res.failures.append(f"unknown PINE variant prefix in {path.name}")
        return res
    return run_pine_data(cls.__name__, json.loads(path.read_text()), path)


def pine_handler(variant: str, data: dict) -> int:
    """Handler for ``veil.vdaf.vectors`` (``veil dev vectors``): checks made, or raises."""
    res = run_pine_data(variant, data)
    if not res.ok:
        shown = "; ".join(res.failures[:3])
        more = f" (+{len(res.failures) - 3} more)" if len(res.failures) > 3 else ""
        raise VectorMismatch(f"{shown}{more}" if res.failures else "no checks ran")
    return res.checks


def _check(res: PineFileResult, what: str, got: object, want: object) -> None:
    res.checks += 1
    if got != want:
        res.failures.append(f"{what}: mismatch")


def _run(vdaf: Pine, tv: dict, res: PineFileResult) -> None:
    S = vdaf.SHARES
    fld = vdaf.field
    verify_key = bytes.fromhex(tv["verify_key"])
    agg_param = tv.get("agg_param")
    out_shares_by_agg: list[list] = [[] for _ in range(S)]
    for i, rep in enumerate(tv["prep"]):
        res.reports += 1
        tag = f"report {i}"
        nonce = bytes.fromhex(rep["nonce"])
        public_share, input_shares = vdaf.shard(
            rep["measurement"], nonce, bytes.fromhex(rep["rand"])
        )
        _check(
            res,
            f"{tag} public_share",
            _hex(vdaf.encode_public_share(public_share)),
            rep["public_share"],
        )
        for j in range(S):
            _check(
                res,
                f"{tag} input_share[{j}]",
                _hex(vdaf.encode_input_share(input_shares[j])),
                rep["input_shares"][j],
            )
        # Aggregators work from the file's bytes, not from our own shard output.
        ps = vdaf.decode_public_share(bytes.fromhex(rep["public_share"]))
        states, vshares = [], []
        for j in range(S):
            share = vdaf.decode_input_share(j, bytes.fromhex(rep["input_shares"][j]))
            state, vs = vdaf.verify_init(verify_key, j, agg_param, nonce, ps, share)
            states.append(state)
            _check(
                res,
                f"{tag} prep_share[{j}]",
                _hex(vdaf.encode_verifier_share(vs)),
                rep["prep_shares"][0][j],
            )
            vshares.append(vdaf.decode_verifier_share(bytes.fromhex(rep["prep_shares"][0][j])))
        msg = vdaf.verifier_shares_to_message(agg_param, vshares)
        _check(
            res,
            f"{tag} prep_message",
            _hex(vdaf.encode_verifier_message(msg)),
            rep["prep_messages"][0],
        )
        msg = vdaf.decode_verifier_message(bytes.fromhex(rep["prep_messages"][0]))
        for j in range(S):
            out = vdaf.verify_next(states[j], msg)
            got = [_hex(fld.encode_vec(out[k : k + 1])) for k in range(len(out))]
            _check(res, f"{tag} out_share[{j}]", got, rep["out_shares"][j])
            out_shares_by_agg[j].append(out)
    agg_shares = []
    for j in range(S):
        agg = vdaf.aggregate(agg_param, out_shares_by_agg[j])
        _check(res, f"agg_share[{j}]", _hex(vdaf.encode_agg_share(agg)), tv["agg_shares"][j])
        agg_shares.append(vdaf.decode_agg_share(bytes.fromhex(tv["agg_shares"][j])))
    result = vdaf.unshard(agg_param, agg_shares, len(tv["prep"]))
    res.checks += 1
    if not _floats_equal(result, [float(x) for x in tv["agg_result"]]):
        res.failures.append("agg_result: mismatch")


def run_pine_vectors(*dirs: Path) -> list[PineFileResult]:
    """Run every ``Pine*.json`` in the given folders (sorted by name)."""
    results = []
    for d in dirs:
        for path in sorted(Path(d).glob(f"{PREFIX}*.json")):
            results.append(run_pine_file(path))
    return results


# ``veil dev vectors`` imports this module (veil.vdaf.vectors.PLUGINS) before it dispatches,
# so ``Pine*.json`` files come here (prefix registry)
register(PREFIX, pine_handler)
