"""Byte-exact conformance with the reference code's PINE vectors (every file, every step)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from veil.vdaf.pine.vectors import run_pine_file, run_pine_vectors

from .conftest import pine_vectors_dir

FILES = sorted(p.name for p in pine_vectors_dir().glob("Pine*.json"))
VARIANT_PREFIXES = {
    "Pine64",
    "Pine128",
    "Pine64HmacSha256Aes128",
    "Pine32HmacSha256Aes128",
    "Pine40HmacSha256Aes128",
}


def test_every_variant_has_vectors(pine_vectors: Path) -> None:
    prefixes = {name.split("_")[0] for name in FILES}
    assert prefixes == VARIANT_PREFIXES


@pytest.mark.parametrize("name", FILES)
def test_vector_file(pine_vectors: Path, name: str) -> None:
    res = run_pine_file(pine_vectors / name)
    assert res.failures == []
    assert res.ok and res.reports >= 1


def test_runner_finds_all(pine_vectors: Path) -> None:
    results = run_pine_vectors(pine_vectors)
    assert len(results) == len(FILES) >= 21
    assert all(r.ok for r in results)


def _mutated(tmp_path: Path, pine_vectors: Path, name: str, mutate) -> Path:
    tv = json.loads((pine_vectors / name).read_text())
    tv2 = copy.deepcopy(tv)
    mutate(tv2)
    out = tmp_path / name
    out.write_text(json.dumps(tv2))
    return out


def _flip_hex(h: str, pos: int = 0) -> str:
    b = bytearray(bytes.fromhex(h))
    b[pos] ^= 1
    return b.hex()


@pytest.mark.parametrize(
    ("what", "mutate"),
    [
        (
            "public share",
            lambda tv: tv["prep"][0].update(public_share=_flip_hex(tv["prep"][0]["public_share"])),
        ),
        (
            "prep share",
            lambda tv: tv["prep"][1]["prep_shares"][0].__setitem__(
                1, _flip_hex(tv["prep"][1]["prep_shares"][0][1], 3)
            ),
        ),
        ("agg share", lambda tv: tv["agg_shares"].__setitem__(0, _flip_hex(tv["agg_shares"][0]))),
        ("agg result", lambda tv: tv["agg_result"].__setitem__(2, 0.5)),
        ("out share", lambda tv: tv["prep"][0]["out_shares"][1].__setitem__(0, "00" * 8)),
        ("verify key", lambda tv: tv.update(verify_key=_flip_hex(tv["verify_key"]))),
    ],
)
def test_runner_detects_any_change(tmp_path: Path, pine_vectors: Path, what: str, mutate) -> None:
    """The runner compares every byte: a one-bit change anywhere must fail the file."""
    path = _mutated(tmp_path, pine_vectors, "Pine64_0.json", mutate)
    res = run_pine_file(path)
    assert not res.ok, what


def test_runner_unknown_prefix(tmp_path: Path, pine_vectors: Path) -> None:
    bad = tmp_path / "PineNope_0.json"
    bad.write_text((pine_vectors / "Pine64_0.json").read_text())
    assert not run_pine_file(bad).ok


def test_cli_dev_vectors_on_pine(pine_vectors: Path) -> None:
    """`veil dev vectors …/pine` dispatches every Pine*.json here and passes them all."""
    from typer.testing import CliRunner

    from veil.cli import app

    result = CliRunner().invoke(app, ["dev", "vectors", str(pine_vectors)])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1] == f"{len(FILES)} passed, 0 failed"
    assert sum(line.startswith("PASS  pine/Pine") for line in lines) == len(FILES)


def test_cli_dev_vectors_fails_on_a_changed_file(tmp_path: Path, pine_vectors: Path) -> None:
    path = _mutated(
        tmp_path,
        pine_vectors,
        "Pine32HmacSha256Aes128_1.json",
        lambda tv: tv["prep"][1].update(nonce="ff" + tv["prep"][1]["nonce"][2:]),
    )
    from typer.testing import CliRunner

    from veil.cli import app

    result = CliRunner().invoke(app, ["dev", "vectors", str(path.parent)])
    assert result.exit_code != 0
    assert result.output.strip().splitlines()[-1] == "0 passed, 1 failed"
