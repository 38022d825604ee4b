"""Fuzz ZK proof bundles: ``ProofBundle.from_bytes`` then ``claims.verify``.

Only ``FormatError`` (from parsing) and ``ProofError`` (from verification) may come out.
A bundle that verifies must be byte-identical to a genuine one from :func:`setup`: a
changed bundle that still verifies would be a forged proof or a second spelling.
"""

from __future__ import annotations

from fuzz import Finding
from veil.errors import FormatError, ProofError

ALLOWED = (FormatError, ProofError)

CONTEXT = b"veil fuzz"
_GENUINE: set[bytes] = set()


def setup() -> list[bytes]:
    """One bundle per claim kind (single- and two-sided ranges, linear, one-of, equal)."""
    from veil.zk import claims

    cases = [
        ({"v": 7}, [claims.Range("v", 0, 255, name="r")]),
        ({"v": 70}, [claims.Range("v", 5, 100, name="r2")]),
        (
            {"a": 3, "b": 4, "c": 3},
            [
                claims.Linear({"a": 2, "b": -1}, 2, name="lin"),
                claims.OneOf("b", [1, 4, 9], name="set"),
                claims.Equal("a", "c", name="eq"),
            ],
        ),
    ]
    seeds = []
    for secrets, statements in cases:
        data = claims.prove(secrets, statements, context=CONTEXT).to_bytes()
        _GENUINE.add(data)
        seeds.append(data)
    return seeds


def one_input(data: bytes) -> None:
    from veil.zk import claims

    bundle = claims.ProofBundle.from_bytes(data)
    claims.verify(bundle, context=CONTEXT)
    if bytes(data) not in _GENUINE:
        raise Finding("a bundle that is not genuine verified")
