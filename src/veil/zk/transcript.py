"""A Fiat–Shamir transcript in the style of Merlin (dalek's ``transcript.rs``).

Merlin runs STROBE-128; veil gets the same discipline from SHAKE256 (``hashlib``):
every append absorbs ``u32(len(label)) ‖ label ‖ u64(len(message)) ‖ message``, so no two
different sequences of appends absorb the same bytes. A challenge absorbs its label,
squeezes 64 bytes from a copy of the state, reduces them modulo ℓ (unbiased) and then
absorbs those 64 bytes, so every later challenge depends on every earlier one.

Each proof system opens its own transcript with a versioned protocol label
(``veil/zk/v1`` plus e.g. ``rangeproof v1``) and binds the full public statement and
the caller's context before any prover message, as Boneh–Shoup ch. 20 requires.
"""

from __future__ import annotations

import hashlib
import struct

from veil.errors import ProofError
from veil.zk import group

__all__ = ["PROTOCOL_LABEL", "Transcript"]

#: version of the whole veil.zk proof family; bumping it invalidates every old proof
PROTOCOL_LABEL = b"veil/zk/v1"


class Transcript:
    """Labelled appends in, challenge scalars out."""

    def __init__(self, label: bytes) -> None:
        self._state = hashlib.shake_256()
        self._absorb(b"protocol", PROTOCOL_LABEL)
        self._absorb(b"dom-sep", label)

    def _absorb(self, label: bytes, message: bytes) -> None:
        self._state.update(struct.pack("<I", len(label)) + label)
        self._state.update(struct.pack("<Q", len(message)) + message)

    def append_message(self, label: bytes, message: bytes) -> None:
        """Absorb an arbitrary byte string under ``label``."""
        self._absorb(label, bytes(message))

    def domain_sep(self, label: bytes) -> None:
        """Mark the start of a sub-protocol (e.g. the inner-product argument)."""
        self._absorb(b"dom-sep", label)

    def append_u64(self, label: bytes, value: int) -> None:
        """Absorb an unsigned 64-bit integer (sizes, indices)."""
        self._absorb(label, struct.pack("<Q", value))

    def append_scalar(self, label: bytes, s: int) -> None:
        """Absorb a scalar in its canonical encoding."""
        self._absorb(label, group.encode_scalar(s))

    def append_point(self, label: bytes, point: bytes) -> None:
        """Absorb a valid point encoding (``EncodingError`` otherwise); identity allowed."""
        self._absorb(label, group.decode_point(point))

    def validate_and_append_point(self, label: bytes, point: bytes) -> None:
        """Absorb a prover message point, rejecting the identity (dalek's rule).

        An identity ``A``, ``S``, ``T₁``, ``T₂``, ``L`` or ``R`` only ever comes from a
        malicious prover trying to cancel a term, so it is refused outright.
        """
        if point == group.IDENTITY:
            raise ProofError(f"{label.decode()} is the identity")
        self._absorb(label, group.decode_point(point))

    def challenge_bytes(self, label: bytes, n: int) -> bytes:
        """Squeeze ``n`` bytes bound to everything absorbed so far, then absorb them."""
        self._absorb(b"challenge", label)
        out = self._state.copy().digest(n)
        self._absorb(b"challenge-output", out)
        return out

    def challenge_scalar(self, label: bytes) -> int:
        """A challenge scalar in ``[1, ℓ)`` from 64 squeezed bytes (zero is skipped)."""
        while True:
            c = group.scalar_from_uniform(self.challenge_bytes(label, 64))
            if c:
                return c
