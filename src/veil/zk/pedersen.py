"""Pedersen commitments on ristretto255, with nothing-up-my-sleeve generators.

``Com(v; r) = v·B + r·B̃``: hiding (``r`` uniform makes the commitment uniform) and
binding (opening one commitment two ways yields ``log_B B̃``, which nobody knows because
``B̃`` is derived by hashing). Vector commitments for the range proofs use
``⟨a, G⟩ + ⟨b, H⟩ + α·B̃`` over the generator vectors below.

Generators (all ``hash_to_group(SHA-512(label))``, RFC 9496 §4.3.4):

* ``B``  = the ristretto255 standard generator (RFC 9496 §4.4)
* ``B̃``  = label ``veil/zk/v1/pedersen/blinding``
* ``Gᵢ`` = label ``veil/zk/v1/bulletproofs/G`` ‖ u32le(i), for i = 0, 1, …
* ``Hᵢ`` = label ``veil/zk/v1/bulletproofs/H`` ‖ u32le(i)
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass

from veil.zk import group

__all__ = [
    "BLINDING",
    "MAX_GENERATORS",
    "Commitment",
    "Rng",
    "commit",
    "generators",
    "random_scalar",
]

#: ``rng(n) -> n random bytes``; ``None`` means the OS CSPRNG
Rng = Callable[[int], bytes]

#: B̃, the blinding generator
BLINDING = group.hash_to_point(b"veil/zk/v1/pedersen/blinding")

#: largest vector length the range proofs use (64 bits × 16 parties)
MAX_GENERATORS = 1024

_G: list[bytes] = []
_H: list[bytes] = []


def generators(count: int) -> tuple[list[bytes], list[bytes]]:
    """The first ``count`` of the ``G`` and ``H`` vectors (derived once, then cached)."""
    if not 0 < count <= MAX_GENERATORS:
        raise ValueError(f"between 1 and {MAX_GENERATORS} generators")
    for i in range(len(_G), count):
        _G.append(group.hash_to_point(b"veil/zk/v1/bulletproofs/G" + struct.pack("<I", i)))
        _H.append(group.hash_to_point(b"veil/zk/v1/bulletproofs/H" + struct.pack("<I", i)))
    return _G[:count], _H[:count]


def random_scalar(rng: Rng | None = None) -> int:
    """A uniform scalar from 64 bytes of ``rng`` (default: ``os.urandom``)."""
    return group.scalar_from_uniform((rng or os.urandom)(64))


@dataclass(frozen=True)
class Commitment:
    """A commitment with its opening (kept by the prover, never serialised)."""

    point: bytes
    value: int
    blinding: int


def commit(value: int, blinding: int | None = None, *, rng: Rng | None = None) -> Commitment:
    """``Com(v; r) = v·B + r·B̃`` with a fresh uniform ``r`` unless one is given."""
    r = random_scalar(rng) if blinding is None else blinding % group.ORDER
    point = group.add(group.mul_base(value), group.mul(r, BLINDING))
    return Commitment(point=point, value=value % group.ORDER, blinding=r)
