"""PINE's messages and their wire encodings (the reference code's ``test_vec_encode_*``).

The message types are the values ``shard`` / ``verify_init`` / ``verifier_shares_to_message``
exchange; :class:`PineCodec` turns them into bytes and back, checking every length and
field element, and is mixed into :class:`veil.vdaf.pine.Pine`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from veil.errors import VdafEncodingError

if TYPE_CHECKING:
    from veil.vdaf.field import Field


# ----- message types ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PinePublicShare:
    wr_joint_rand_parts: tuple[bytes, ...]
    vf_joint_rand_parts: tuple[bytes, ...]


@dataclass(frozen=True)
class PineLeaderShare:
    meas_share: np.ndarray
    proofs_share: np.ndarray
    wr_joint_rand_blind: bytes
    vf_joint_rand_blind: bytes


@dataclass(frozen=True)
class PineHelperShare:
    meas_share_seed: bytes
    proofs_share_seed: bytes
    wr_joint_rand_blind: bytes
    vf_joint_rand_blind: bytes


PineInputShare = PineLeaderShare | PineHelperShare


@dataclass(frozen=True)
class PineVerifyState:
    out_share: np.ndarray
    wr_joint_rand_seed: bytes
    vf_joint_rand_seed: bytes


@dataclass(frozen=True)
class PineVerifierShare:
    verifiers_share: np.ndarray
    wr_joint_rand_part: bytes
    vf_joint_rand_part: bytes


@dataclass(frozen=True)
class PineVerifierMessage:
    wr_joint_rand_seed: bytes
    vf_joint_rand_seed: bytes


class PineCodec:
    """Byte encodings of PINE's messages; needs the VDAF's sizes and field (set by ``Pine``)."""

    field: type[Field]
    SEED_SIZE: int
    SHARES: int
    MEAS_LEN: int
    PROOFS_LEN: int
    VERIFIERS_LEN: int
    OUTPUT_LEN: int

    def encode_public_share(self, ps: PinePublicShare) -> bytes:
        return b"".join(ps.wr_joint_rand_parts) + b"".join(ps.vf_joint_rand_parts)

    def decode_public_share(self, data: bytes) -> PinePublicShare:
        n, S = self.SEED_SIZE, self.SHARES
        self._check_bytes(data, 2 * S * n, "public share", "decode_public_share")
        seeds = [data[i : i + n] for i in range(0, 2 * S * n, n)]
        return PinePublicShare(tuple(seeds[:S]), tuple(seeds[S:]))

    def encode_input_share(self, share: PineInputShare) -> bytes:
        if isinstance(share, PineLeaderShare):
            head = self.field.encode_vec(share.meas_share) + self.field.encode_vec(
                share.proofs_share
            )
        else:
            head = share.meas_share_seed + share.proofs_share_seed
        return head + share.wr_joint_rand_blind + share.vf_joint_rand_blind

    def decode_input_share(self, agg_id: int, data: bytes) -> PineInputShare:
        op = "decode_input_share"
        n = self.SEED_SIZE
        if agg_id != 0:
            self._check_bytes(data, 4 * n, "Helper input share", op)
            return PineHelperShare(data[:n], data[n : 2 * n], data[2 * n : 3 * n], data[3 * n :])
        es = self.field.ENCODED_SIZE
        lm, lp = self.MEAS_LEN * es, self.PROOFS_LEN * es
        self._check_bytes(data, lm + lp + 2 * n, "Leader input share", op)
        meas = self.field.decode_vec(data[:lm], operation=op)
        proofs = self.field.decode_vec(data[lm : lm + lp], operation=op)
        return PineLeaderShare(meas, proofs, data[lm + lp : lm + lp + n], data[lm + lp + n :])

    def encode_verifier_share(self, vs: PineVerifierShare) -> bytes:
        return (
            self.field.encode_vec(vs.verifiers_share)
            + vs.wr_joint_rand_part
            + vs.vf_joint_rand_part
        )

    def decode_verifier_share(self, data: bytes) -> PineVerifierShare:
        op = "decode_verifier_share"
        n = self.SEED_SIZE
        lv = self.VERIFIERS_LEN * self.field.ENCODED_SIZE
        self._check_bytes(data, lv + 2 * n, "verifier share", op)
        return PineVerifierShare(
            self.field.decode_vec(data[:lv], operation=op), data[lv : lv + n], data[lv + n :]
        )

    def encode_verifier_message(self, msg: PineVerifierMessage) -> bytes:
        return msg.wr_joint_rand_seed + msg.vf_joint_rand_seed

    def decode_verifier_message(self, data: bytes) -> PineVerifierMessage:
        n = self.SEED_SIZE
        self._check_bytes(data, 2 * n, "verifier message", "decode_verifier_message")
        return PineVerifierMessage(data[:n], data[n:])

    def encode_agg_share(self, agg_share: np.ndarray) -> bytes:
        return self.field.encode_vec(agg_share)

    def decode_agg_share(self, data: bytes) -> np.ndarray:
        op = "decode_agg_share"
        self._check_bytes(data, self.OUTPUT_LEN * self.field.ENCODED_SIZE, "aggregate share", op)
        return self.field.decode_vec(data, operation=op)

    # ----- validation helpers --------------------------------------------------------------------
    @staticmethod
    def _check_bytes(data: object, n: int, what: str, op: str) -> None:
        if not isinstance(data, bytes | bytearray) or len(data) != n:
            got = len(data) if isinstance(data, bytes | bytearray) else type(data).__name__
            raise VdafEncodingError(f"{what} must be {n} bytes, got {got}", operation=op)

    def _check_vec(self, v: object, n: int, what: str, op: str) -> None:
        if not self.field.is_vec(v, n):
            raise VdafEncodingError(
                f"{what} must be a canonical {self.field.__name__} vector of {n} elements",
                operation=op,
            )

    def _check_public_share(self, ps: object, op: str) -> None:
        if not isinstance(ps, PinePublicShare):
            raise VdafEncodingError("not a PinePublicShare", operation=op)
        for parts in (ps.wr_joint_rand_parts, ps.vf_joint_rand_parts):
            if len(parts) != self.SHARES:
                raise VdafEncodingError("public share has the wrong number of parts", operation=op)
            for part in parts:
                self._check_bytes(part, self.SEED_SIZE, "joint randomness part", op)

    @staticmethod
    def _check_agg_param(agg_param: object, op: str) -> None:
        if agg_param is not None:
            raise VdafEncodingError("PINE has no aggregation parameter (pass None)", operation=op)
