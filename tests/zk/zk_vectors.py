"""Generator of the frozen proof vectors in ``tests/vectors/zk`` (run once per release).

    .venv/bin/python tests/zk/zk_vectors.py        # writes tests/vectors/zk/*.json

The prover's randomness comes from a seeded SHAKE256 stream, so the files are
reproducible with this version of the code. Once committed they are never regenerated:
``test_zk_vectors.py`` verifies them forever, so a change that breaks old proofs fails.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from zk_paths import FROZEN

from veil.zk import claims
from veil.zk.bulletproofs import RangeProof
from veil.zk.transcript import Transcript

RANGE_CASES = [(8, 1, [200]), (64, 1, [2**64 - 2]), (16, 4, [0, 1, 65535, 4242])]


def seeded_rng(seed: bytes) -> Callable[[int], bytes]:
    """A deterministic byte source (tests and vectors only)."""
    counter = 0

    def rng(n: int) -> bytes:
        nonlocal counter
        counter += 1
        return hashlib.shake_256(seed + counter.to_bytes(8, "little")).digest(n)

    return rng


def claim_cases() -> list[tuple[str, dict[str, int], list[claims.Claim], bytes]]:
    """(file stem, secrets, statements, context) for each frozen bundle."""
    return [
        ("bundle_range", {"value": 42}, [claims.Range("value", 0, 100)], b"frozen vector"),
        (
            "bundle_mixed",
            {"income": 52_000, "rows": 1200, "rows_a": 700, "rows_b": 500, "tier": 2, "x": 2},
            [
                claims.Range("income", 0, 1_000_000),
                claims.Range("tier", -8, 7, name="tier, signed 4 bits"),
                claims.Linear({"rows_a": 1, "rows_b": 1, "rows": -1}, 0),
                claims.OneOf("tier", [1, 2, 3]),
                claims.Equal("tier", "x"),
            ],
            b"bank-A / 2026-Q3",
        ),
    ]


def build() -> dict[str, bytes]:
    """File name -> contents."""
    files: dict[str, bytes] = {}
    for n, m, values in RANGE_CASES:
        rng = seeded_rng(f"veil zk vector rangeproof {n}x{m}".encode())
        label = f"veil frozen rangeproof {n}x{m}".encode()
        proof, coms = RangeProof.prove(Transcript(label), values, None, n, rng=rng)
        doc = {
            "n": n,
            "m": m,
            "transcript_label": label.decode(),
            "commitments": [c.hex() for c in coms],
            "proof": proof.to_bytes().hex(),
        }
        files[f"rangeproof_{n}x{m}.json"] = (json.dumps(doc, indent=1) + "\n").encode()
    manifest = []
    for stem, secrets, statements, context in claim_cases():
        rng = seeded_rng(f"veil zk vector {stem}".encode())
        bundle = claims.prove(secrets, statements, context=context, rng=rng)
        files[f"{stem}.json"] = bundle.to_bytes()
        manifest.append(
            {
                "file": f"{stem}.json",
                "context": context.decode(),
                "names": [c.name for c in statements],
            }
        )
    files["bundles.json"] = (json.dumps(manifest, indent=1) + "\n").encode()
    return files


if __name__ == "__main__":
    FROZEN.mkdir(parents=True, exist_ok=True)
    for name, data in build().items():
        (FROZEN / name).write_bytes(data)
        print("wrote", FROZEN / name)
