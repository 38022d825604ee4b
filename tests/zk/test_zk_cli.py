"""``veil zk``: prove-range / prove / verify as a user runs them (real processes)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

CLAIMS = """
context = "bank-A / 2026-Q3"

[[claim]]
type = "range"
value = "income"
min = 0
max = 1000000
name = "income is plausible"

[[claim]]
type = "linear"
terms = { rows_a = 1, rows_b = 1, rows = -1 }
equals = 0

[[claim]]
type = "one_of"
value = "tier"
allowed = [1, 2, 3]
"""
SECRETS = "income = 52000\nrows = 1200\nrows_a = 700\nrows_b = 500\ntier = 2\n"


def veil(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "veil.cli", "zk", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "1000"},  # rich wraps stderr at the terminal width
    )


def test_prove_range_and_verify(tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    r = veil(
        "prove-range",
        "--value",
        "42",
        "--min",
        "0",
        "--max",
        "100",
        "--context",
        "q3",
        "--out",
        out,
    )
    assert r.returncode == 0, r.stderr
    assert "commitment value: " in r.stdout
    assert not re.search(r"\b42\b", r.stdout.replace(str(out), ""))  # the secret stays secret
    (tmp_path / "expect.toml").write_text(
        '[[claim]]\ntype = "range"\nvalue = "value"\nmin = 0\nmax = 100\n'
    )
    ok = veil("verify", out, "--context", "q3", "--expect", tmp_path / "expect.toml")
    assert ok.returncode == 0 and ok.stdout.strip() == "ok    value in [0, 100]"
    wrong = veil("verify", out, "--context", "q4", "--expect", tmp_path / "expect.toml")
    assert wrong.returncode == 1 and wrong.stdout.startswith("FAIL  value in [0, 100]")
    consistent = veil("verify", out, "--context", "q3", "--consistency-only")
    assert consistent.returncode == 0, consistent.stderr
    assert consistent.stdout.splitlines()[-1] == "ok    range   0 <= v1 <= 100"
    wrong = veil("verify", out, "--context", "q4", "--consistency-only")
    assert wrong.returncode == 1
    assert wrong.stdout.splitlines()[-1].startswith("FAIL  range   0 <= v1 <= 100")


def test_prove_range_refuses_out_of_range(tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    r = veil("prove-range", "--value", "101", "--min", "0", "--max", "100", "--out", out)
    assert r.returncode == 2 and "refusing" in r.stderr
    assert not out.exists()


def _prove(tmp_path: Path, claims: str, secrets: str):
    """``veil zk prove`` on a claims and a secrets file; (the process, the bundle's path)."""
    (tmp_path / "claims.toml").write_text(claims)
    (tmp_path / "secrets.toml").write_text(secrets)
    out = tmp_path / "b.json"
    args = ["--claims", tmp_path / "claims.toml", "--secrets", tmp_path / "secrets.toml"]
    return veil("prove", *args, "--out", out), out


def test_prove_many_and_expect(tmp_path: Path) -> None:
    r, out = _prove(tmp_path, CLAIMS, SECRETS)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("commitment ") == 5
    ok = veil("verify", out, "--context", "bank-A / 2026-Q3", "--expect", tmp_path / "claims.toml")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.splitlines() == [
        "ok    income is plausible",
        "ok    -1*rows + 1*rows_a + 1*rows_b == 0",
        "ok    tier in {1, 2, 3}",
    ]
    (tmp_path / "other.toml").write_text(CLAIMS.replace("1000000", "2000000"))
    bad = veil("verify", out, "--context", "bank-A / 2026-Q3", "--expect", tmp_path / "other.toml")
    assert bad.returncode == 1


@pytest.mark.parametrize(
    ("content", "code"),
    [(b"{}", 4), (b"\xff\xfe", 4), (None, 2)],
)
def test_verify_malformed(tmp_path: Path, content: bytes | None, code: int) -> None:
    path = tmp_path / "x.json"
    if content is not None:
        path.write_bytes(content)
    r = veil("verify", path)
    assert r.returncode == code, r.stderr


def test_bad_claims_file(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text('[[claim]]\ntype = "range"\nvalue = "v"\nmin = 5\nmax = 1\n')
    (tmp_path / "s.toml").write_text("v = 3\n")
    r = veil(
        "prove",
        "--claims",
        tmp_path / "c.toml",
        "--secrets",
        tmp_path / "s.toml",
        "--out",
        tmp_path / "o.json",
    )
    assert r.returncode == 2 and "min > max" in r.stderr


def test_verify_without_expect_prints_the_proved_statement_not_the_prover_names(
    tmp_path: Path,
) -> None:
    """Issue 13 finding 6: without --expect, ``verify`` printed ``ok    <name>`` with the
    prover's free-text name (here a lie: the bound proved is 1000000, not 100) and exited 0."""
    r, out = _prove(
        tmp_path,
        '[[claim]]\ntype = "range"\nvalue = "income"\nmin = 0\nmax = 1000000\n'
        'name = "income <= 100 (audited)"\n',
        "income = 52000\n",
    )
    assert r.returncode == 0, r.stderr
    commitment = r.stdout.split("commitment income: ")[1].split()[0]

    plain = veil("verify", out)
    assert plain.returncode == 2, plain.stdout  # consistent, but no statement was checked
    assert "--expect" in plain.stderr and "--consistency-only" in plain.stderr
    assert "audited" not in plain.stdout and "<= 100 " not in plain.stdout
    assert "CONSISTENCY ONLY" in plain.stdout
    assert "ok    range   0 <= v1 <= 1000000" in plain.stdout.splitlines()
    assert f"v1: commitment {commitment} (label 'income', chosen by the prover)" in plain.stdout

    only = veil("verify", out, "--consistency-only")
    assert only.returncode == 0, only.stderr
    assert only.stdout == plain.stdout

    both = veil("verify", out, "--consistency-only", "--expect", tmp_path / "claims.toml")
    assert both.returncode == 2 and "exclude each other" in both.stderr
    honest = tmp_path / "honest.toml"
    honest.write_text('[[claim]]\ntype = "range"\nvalue = "income"\nmin = 0\nmax = 100\n')
    assert veil("verify", out, "--expect", honest).returncode == 1
