"""A user's clone has nothing beside it: no tracked file may reach outside the repository,
and the vendored official vectors are exactly the upstream bytes (tests/vectors/README.md)."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# built from parts so that this file does not match itself
OUTSIDE = ("../" + "shared", "shared/" + "testvectors", "VEIL_" + "TESTVECTORS")


def _mentions(text: str) -> list[str]:
    return [n for n in OUTSIDE if n in text]


def _tracked_files() -> list[Path]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.fail("not a git checkout: the self-containment check needs `git ls-files`")
    return [REPO / p for p in out.decode().split("\0") if p]


def test_no_tracked_file_mentions_a_path_outside_the_repository() -> None:
    files = _tracked_files()
    assert len(files) > 100, "git ls-files listed too few files to be this repository"
    offenders = []
    for path in files:
        if not path.is_file():
            continue
        text = path.read_bytes().decode("utf-8", errors="replace")
        offenders += [f"{path.relative_to(REPO)}: {n}" for n in _mentions(text)]
    assert not offenders, "tracked files reach outside the repository:\n" + "\n".join(offenders)


def test_the_scan_sees_each_kind_of_offender() -> None:
    """So the scan above cannot pass vacuously."""
    assert _mentions("see " + OUTSIDE[0] + "/design") == [OUTSIDE[0]]
    assert _mentions("os.environ['" + OUTSIDE[2] + "']") == [OUTSIDE[2]]
    assert _mentions("tests/vectors/vdaf and a shared secret") == []


def test_vendored_official_vectors_match_their_pinned_digests() -> None:
    vectors = REPO / "tests" / "vectors"
    lines = (vectors / "SHA256SUMS").read_text().splitlines()
    assert len(lines) >= 39
    for line in lines:
        digest, name = line.split(maxsplit=1)
        data = (vectors / name.lstrip("*")).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest, f"{name} differs from upstream"
    for folder in ("ristretto255", "vdaf", "pine"):
        listed = {ln.split(maxsplit=1)[1] for ln in lines if ln.split()[1].startswith(folder)}
        on_disk = {f"{folder}/{p.name}" for p in (vectors / folder).glob("*.json")}
        assert listed == on_disk, f"{folder}: unpinned or missing vector files"
