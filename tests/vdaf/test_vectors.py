"""Conformance: the official draft-20 vectors through ``veil dev vectors``, and proof
that the runner can fail (tampered files, wrong expectations, unknown variants)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from veil.cli import app
from veil.vdaf import vectors


def test_every_official_file_passes(vdaf_vectors):
    files = [p for p in vdaf_vectors.glob("*.json") if p.name.startswith(("Prio3", "Xof"))]
    assert len(files) >= 17
    results = vectors.run_dirs([vdaf_vectors])
    assert len(results) == len(files)
    bad = [(r.path.name, r.detail) for r in results if not r.ok]
    assert not bad


def test_cli_prints_one_line_per_file_and_summary(vdaf_vectors):
    res = CliRunner().invoke(app, ["dev", "vectors", str(vdaf_vectors)])
    assert res.exit_code == 0, res.output
    lines = res.output.strip().splitlines()
    n = len(list(vdaf_vectors.glob("Prio3*.json"))) + len(list(vdaf_vectors.glob("Xof*.json")))
    assert lines[-1] == f"{n} passed, 0 failed"
    assert len(lines) == n + 1


def _copy(vdaf_vectors: Path, tmp_path: Path, name: str) -> tuple[Path, dict]:
    dst = tmp_path / name
    shutil.copy(vdaf_vectors / name, dst)
    return dst, json.loads(dst.read_text())


def _flip(hexstr: str, pos: int = 0) -> str:
    b = bytearray(bytes.fromhex(hexstr))
    b[pos] ^= 1
    return b.hex()


def test_tampered_expectations_fail(vdaf_vectors, tmp_path):
    cases = {
        "input share": lambda d: d["reports"][0]["input_shares"].__setitem__(
            1, _flip(d["reports"][0]["input_shares"][1])
        ),
        "verifier share": lambda d: d["reports"][0]["verifier_shares"][0].__setitem__(
            0, _flip(d["reports"][0]["verifier_shares"][0][0], 3)
        ),
        "agg result": lambda d: d.__setitem__("agg_result", [x + 1 for x in d["agg_result"]]),
        "public share": lambda d: d["reports"][0].__setitem__(
            "public_share", _flip(d["reports"][0]["public_share"])
        ),
    }
    for what, mutate in cases.items():
        path, data = _copy(vdaf_vectors, tmp_path, "Prio3SumVec_0.json")
        mutate(data)
        path.write_text(json.dumps(data))
        res = vectors.run_file(path)
        assert not res.ok, what


def test_negative_vector_must_fail_at_the_named_operation(vdaf_vectors, tmp_path):
    path, data = _copy(vdaf_vectors, tmp_path, "Prio3Count_bad_meas_share.json")
    for op in data["operations"]:
        op["success"] = True
    path.write_text(json.dumps(data))
    assert not vectors.run_file(path).ok
    # a valid report marked as failing must also be caught
    path, data = _copy(vdaf_vectors, tmp_path, "Prio3Count_0.json")
    data["operations"][3]["success"] = False
    path.write_text(json.dumps(data))
    assert not vectors.run_file(path).ok


def test_unknown_variant_fails_and_cli_exits_nonzero(tmp_path):
    (tmp_path / "Prio3Unknown_0.json").write_text("{}")
    res = CliRunner().invoke(app, ["dev", "vectors", str(tmp_path)])
    assert res.exit_code == 1
    assert res.output.strip().splitlines()[-1] == "0 passed, 1 failed"


def test_registry_is_extensible(tmp_path):
    seen = []

    def handler(variant, data):
        seen.append((variant, data["x"]))
        return 1

    vectors.register("Xof" + "Test", handler)
    try:
        (tmp_path / "XofTestThing_3.json").write_text('{"x": 7}')
        res = vectors.run_dirs([tmp_path])
        assert [r.ok for r in res] == [True]
        assert seen == [("XofTestThing", 7)]
    finally:
        vectors._REGISTRY.pop("XofTest")


def test_more_aggregators_than_the_official_files(tmp_path):
    """A self-generated file with 5 aggregators and 2 reports runs through the same path."""
    import secrets

    from veil.vdaf.prio3 import Prio3Histogram

    v = Prio3Histogram(5, 7, 3)
    ctx, vk = b"other app", secrets.token_bytes(32)
    reports, outs = [], [[] for _ in range(5)]
    for meas in (2, 6):
        nonce, rand = secrets.token_bytes(16), secrets.token_bytes(v.RAND_SIZE)
        pub, shares = v.shard(ctx, meas, nonce, rand)
        st, vs = zip(
            *[v.verify_init(vk, ctx, j, None, nonce, pub, shares[j]) for j in range(5)],
            strict=True,
        )
        msg = v.verifier_shares_to_message(ctx, None, list(vs))
        o = [v.verify_next(ctx, st[j], msg) for j in range(5)]
        for j in range(5):
            outs[j].append(o[j])
        reports.append(
            {
                "measurement": meas,
                "nonce": nonce.hex(),
                "rand": rand.hex(),
                "public_share": v.encode_public_share(pub).hex(),
                "input_shares": [v.encode_input_share(s).hex() for s in shares],
                "verifier_shares": [[v.encode_verifier_share(s).hex() for s in vs]],
                "verifier_messages": [v.encode_verifier_message(msg).hex()],
                "out_shares": [v.encode_out_share(x).hex() for x in o],
            }
        )
    agg = [v.aggregate(None, outs[j]) for j in range(5)]
    ops = []
    for i in range(2):
        ops.append({"operation": "shard", "report_index": i, "success": True})
        ops += [
            {"operation": "verify_init", "report_index": i, "aggregator_id": j, "success": True}
            for j in range(5)
        ]
        ops.append(
            {
                "operation": "verifier_shares_to_message",
                "report_index": i,
                "round": 0,
                "success": True,
            }
        )
        ops += [
            {
                "operation": "verify_next",
                "report_index": i,
                "aggregator_id": j,
                "round": 1,
                "success": True,
            }
            for j in range(5)
        ]
    ops += [{"operation": "aggregate", "aggregator_id": j, "success": True} for j in range(5)]
    ops.append({"operation": "unshard", "success": True})
    data = {
        "ctx": ctx.hex(),
        "verify_key": vk.hex(),
        "agg_param": "",
        "shares": 5,
        "length": 7,
        "chunk_length": 3,
        "reports": reports,
        "agg_shares": [v.encode_agg_share(a).hex() for a in agg],
        "agg_result": [0, 0, 1, 0, 0, 0, 1],
        "operations": ops,
    }
    path = tmp_path / "Prio3Histogram_77.json"
    path.write_text(json.dumps(data))
    res = vectors.run_file(path)
    assert res.ok, res.detail


def test_negative_vectors_fail_with_verification_failed(vdaf_vectors):
    bad = sorted(vdaf_vectors.glob("Prio3Count_bad_*.json"))
    assert len(bad) == 4
    for path in bad:
        res = vectors.run_file(path)
        assert res.ok, res.detail
        assert "verifier_shares_to_message rejected with VerificationFailed" in res.detail
