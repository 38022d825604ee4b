"""Prio3 message types and their encodings (draft-irtf-cfrg-vdaf-20 §7.2.7).

A mixin of :class:`veil.vdaf.prio3.Prio3`: every decoder checks lengths and field
ranges and raises :class:`~veil.errors.VdafEncodingError` naming the operation that
consumes the message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from veil.errors import VdafEncodingError
from veil.vdaf.field import Vec

if TYPE_CHECKING:
    from veil.vdaf.field import Field
    from veil.vdaf.flp import FlpBBCGGI19
    from veil.vdaf.xof import Xof


@dataclass(frozen=True)
class Prio3LeaderShare:
    """The Leader's input share: measurement share, proof share(s), optional blind."""

    meas_share: Vec
    proofs_share: Vec
    k_blind: bytes | None


@dataclass(frozen=True)
class Prio3HelperShare:
    """A Helper's input share: the seed its shares expand from, optional blind."""

    k_share: bytes
    k_blind: bytes | None


Prio3InputShare = Prio3LeaderShare | Prio3HelperShare


@dataclass
class Prio3VerifyState:
    """An Aggregator's state between ``verify_init`` and ``verify_next`` (single use)."""

    out_share: Vec
    k_corrected_joint_rand: bytes | None
    used: bool = field(default=False, repr=False)


@dataclass(frozen=True)
class Prio3VerifierShare:
    verifiers_share: Vec
    k_joint_rand_part: bytes | None


class Prio3Codec:
    """Encoders and decoders of Prio3's messages (needs ``field``, ``flp``, ``xof``,
    ``SHARES``, ``PROOFS`` from the VDAF)."""

    field: type[Field]
    flp: FlpBBCGGI19
    xof: type[Xof]
    SHARES: int
    PROOFS: int

    @property
    def _jr(self) -> bool:
        return self.flp.JOINT_RAND_LEN > 0

    def encode_public_share(self, public_share: list[bytes] | None) -> bytes:
        return b"".join(public_share) if public_share else b""

    def decode_public_share(self, encoded: bytes) -> list[bytes] | None:
        size = self.xof.SEED_SIZE
        if not self._jr:
            if encoded:
                raise VdafEncodingError("public share must be empty", operation="verify_init")
            return None
        if len(encoded) != size * self.SHARES:
            raise VdafEncodingError("public share has the wrong length", operation="verify_init")
        return [encoded[i : i + size] for i in range(0, len(encoded), size)]

    def encode_input_share(self, input_share: Prio3InputShare) -> bytes:
        blind = input_share.k_blind or b""
        if isinstance(input_share, Prio3LeaderShare):
            F = self.field
            return (
                F.encode_vec(input_share.meas_share)
                + F.encode_vec(input_share.proofs_share)
                + blind
            )
        return input_share.k_share + blind

    def decode_input_share(self, agg_id: int, encoded: bytes) -> Prio3InputShare:
        op = "verify_init"
        F, size, seed = self.field, self.field.ENCODED_SIZE, self.xof.SEED_SIZE
        blind_len = seed if self._jr else 0
        if agg_id == 0:
            meas_len = self.flp.MEAS_LEN * size
            proofs_len = self.flp.PROOF_LEN * self.PROOFS * size
            if len(encoded) != meas_len + proofs_len + blind_len:
                raise VdafEncodingError("Leader input share has the wrong length", operation=op)
            meas = F.decode_vec(encoded[:meas_len], operation=op)
            proofs = F.decode_vec(encoded[meas_len : meas_len + proofs_len], operation=op)
            blind = encoded[meas_len + proofs_len :] if self._jr else None
            return Prio3LeaderShare(meas, proofs, blind)
        if len(encoded) != seed + blind_len:
            raise VdafEncodingError("Helper input share has the wrong length", operation=op)
        return Prio3HelperShare(encoded[:seed], encoded[seed:] if self._jr else None)

    def encode_verifier_share(self, verifier_share: Prio3VerifierShare) -> bytes:
        return self.field.encode_vec(verifier_share.verifiers_share) + (
            verifier_share.k_joint_rand_part or b""
        )

    def decode_verifier_share(self, verify_state: Any, encoded: bytes) -> Prio3VerifierShare:
        op = "verifier_shares_to_message"
        vlen = self.flp.VERIFIER_LEN * self.PROOFS * self.field.ENCODED_SIZE
        seed = self.xof.SEED_SIZE if self._jr else 0
        if len(encoded) != vlen + seed:
            raise VdafEncodingError("verifier share has the wrong length", operation=op)
        verifiers = self.field.decode_vec(encoded[:vlen], operation=op)
        return Prio3VerifierShare(verifiers, encoded[vlen:] if self._jr else None)

    def encode_verifier_message(self, verifier_message: bytes | None) -> bytes:
        return verifier_message or b""

    def decode_verifier_message(self, verify_state: Any, encoded: bytes) -> bytes | None:
        if not self._jr:
            if encoded:
                raise VdafEncodingError("verifier message must be empty", operation="verify_next")
            return None
        if len(encoded) != self.xof.SEED_SIZE:
            raise VdafEncodingError(
                "verifier message has the wrong length", operation="verify_next"
            )
        return encoded

    def encode_agg_share(self, agg_share: Vec) -> bytes:
        return self.field.encode_vec(agg_share)

    def decode_agg_share(self, agg_param: None, encoded: bytes) -> Vec:
        v = self.field.decode_vec(encoded, operation="unshard")
        if self.field.length(v) != self.flp.OUTPUT_LEN:
            raise VdafEncodingError("aggregate share has the wrong length", operation="unshard")
        return v

    def encode_out_share(self, out_share: Vec) -> bytes:
        return self.field.encode_vec(out_share)

    def decode_out_share(self, agg_param: None, encoded: bytes) -> Vec:
        v = self.field.decode_vec(encoded, operation="aggregate")
        if self.field.length(v) != self.flp.OUTPUT_LEN:
            raise VdafEncodingError("output share has the wrong length", operation="aggregate")
        return v
