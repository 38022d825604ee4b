"""Prio3 (draft-irtf-cfrg-vdaf-20 §7), byte-exact with the draft's test vectors.

.. warning::
   Like libprio's Prio3, this code has not undergone a security review, and Python
   field arithmetic is not constant-time. Use it with that in mind.

The API mirrors the draft's signatures, so code written against the draft runs
unchanged::

    from veil.vdaf.prio3 import Prio3SumVec
    vdaf = Prio3SumVec(2, length, max_measurement, chunk_length)
    public_share, input_shares = vdaf.shard(ctx, measurement, nonce, rand)
    state, share = vdaf.verify_init(verify_key, ctx, agg_id, None, nonce,
                                    public_share, input_shares[agg_id])
    msg = vdaf.verifier_shares_to_message(ctx, None, [share0, share1])
    out_share = vdaf.verify_next(ctx, state, msg)
    agg = vdaf.agg_update(None, vdaf.agg_init(None), out_share)
    result = vdaf.unshard(None, [agg0, agg1], num_measurements)

Sections: shard §7.2.1 (``shard``, ``_shard_without_joint_rand``,
``_shard_with_joint_rand``), verification §7.2.2 (``verify_init``,
``verifier_shares_to_message``, ``verify_next``), validity §7.2.3, aggregation
§7.2.4 (``agg_init``, ``agg_update``, ``aggregate``, ``merge``), unsharding §7.2.5,
auxiliary functions §7.2.6, encodings §7.2.7, the instantiations §7.4.

Errors: every failure is a :class:`~veil.errors.VdafError` whose ``operation`` names
the step: :class:`~veil.errors.VdafEncodingError` for malformed or out-of-field
input, :class:`~veil.errors.VerificationFailed` for a rejected report (proof check in
``verifier_shares_to_message``, joint-randomness check in ``verify_next``).
"""

from __future__ import annotations

import hmac
from typing import Any

import numpy as np

from veil.errors import VdafEncodingError, VdafError, VerificationFailed
from veil.vdaf import circuits
from veil.vdaf.field import Field, Field64, Field128, Vec
from veil.vdaf.flp import FlpBBCGGI19, ProofEncoding
from veil.vdaf.prio3_codec import (
    Prio3Codec,
    Prio3HelperShare,
    Prio3InputShare,
    Prio3LeaderShare,
    Prio3VerifierShare,
    Prio3VerifyState,
)
from veil.vdaf.xof import Xof, XofTurboShake128

#: the draft's domain-separation version byte (draft-18 through -20)
VERSION = 18

USAGE_MEAS_SHARE = 1
USAGE_PROOF_SHARE = 2
USAGE_JOINT_RANDOMNESS = 3
USAGE_PROVE_RANDOMNESS = 4
USAGE_QUERY_RANDOMNESS = 5
USAGE_JOINT_RAND_SEED = 6
USAGE_JOINT_RAND_PART = 7


def format_dst(algo_class: int, algo: int, usage: int) -> bytes:
    """§6.2: version || class || algorithm id || usage, big-endian."""
    return (
        VERSION.to_bytes(1, "big")
        + algo_class.to_bytes(1, "big")
        + algo.to_bytes(4, "big")
        + usage.to_bytes(2, "big")
    )


class Prio3(Prio3Codec):
    """Generic Prio3 over an FLP and an XOF (§7.1). Use the named instances below."""

    NONCE_SIZE = 16
    ROUNDS = 1

    def __init__(
        self,
        shares: int,
        flp: FlpBBCGGI19,
        *,
        algorithm_id: int,
        num_proofs: int = 1,
        xof: type[Xof] = XofTurboShake128,
    ) -> None:
        if not 2 <= shares < 256:
            raise ValueError("number of shares must be in [2, 256)")
        if not 1 <= num_proofs < 256:
            raise ValueError("number of proofs must be in [1, 256)")
        self.SHARES = shares
        self.PROOFS = num_proofs
        self.ID = algorithm_id
        self.flp = flp
        self.field: type[Field] = flp.field
        self.xof = xof
        self.VERIFY_KEY_SIZE = xof.SEED_SIZE
        seeds = shares * (2 if flp.JOINT_RAND_LEN > 0 else 1)
        self.RAND_SIZE = seeds * xof.SEED_SIZE

    # ----- auxiliary functions (§7.2.6) -----------------------------------------------
    def domain_separation_tag(self, usage: int, ctx: bytes) -> bytes:
        return format_dst(0, self.ID, usage) + ctx

    def helper_meas_share(self, ctx: bytes, agg_id: int, k_share: bytes) -> Vec:
        return self.xof.expand_into_vec(
            self.field,
            k_share,
            self.domain_separation_tag(USAGE_MEAS_SHARE, ctx),
            bytes([agg_id]),
            self.flp.MEAS_LEN,
        )

    def helper_proofs_share(self, ctx: bytes, agg_id: int, k_share: bytes) -> Vec:
        return self.xof.expand_into_vec(
            self.field,
            k_share,
            self.domain_separation_tag(USAGE_PROOF_SHARE, ctx),
            bytes([self.PROOFS, agg_id]),
            self.flp.PROOF_LEN * self.PROOFS,
        )

    def expand_input_share(
        self, ctx: bytes, agg_id: int, input_share: Prio3InputShare
    ) -> tuple[Vec, Vec, bytes | None]:
        if isinstance(input_share, Prio3HelperShare):
            if agg_id == 0:
                raise VdafEncodingError("Leader got a Helper share", operation="verify_init")
            k = input_share.k_share
            meas = self.helper_meas_share(ctx, agg_id, k)
            proofs = self.helper_proofs_share(ctx, agg_id, k)
            return meas, proofs, input_share.k_blind
        if agg_id != 0:
            raise VdafEncodingError("Helper got a Leader share", operation="verify_init")
        return input_share.meas_share, input_share.proofs_share, input_share.k_blind

    def prove_rands(self, ctx: bytes, k_prove: bytes) -> Vec:
        return self.xof.expand_into_vec(
            self.field,
            k_prove,
            self.domain_separation_tag(USAGE_PROVE_RANDOMNESS, ctx),
            bytes([self.PROOFS]),
            self.flp.PROVE_RAND_LEN * self.PROOFS,
        )

    def query_rands(self, verify_key: bytes, ctx: bytes, nonce: bytes) -> Vec:
        return self.xof.expand_into_vec(
            self.field,
            verify_key,
            self.domain_separation_tag(USAGE_QUERY_RANDOMNESS, ctx),
            bytes([self.PROOFS]) + nonce,
            self.flp.QUERY_RAND_LEN * self.PROOFS,
        )

    def joint_rand_part(
        self, ctx: bytes, agg_id: int, k_blind: bytes, meas_share: Vec, nonce: bytes
    ) -> bytes:
        return self.xof.derive_seed(
            k_blind,
            self.domain_separation_tag(USAGE_JOINT_RAND_PART, ctx),
            bytes([agg_id]) + nonce + self.field.encode_vec(meas_share),
        )

    def joint_rand_seed(self, ctx: bytes, k_joint_rand_parts: list[bytes]) -> bytes:
        return self.xof.derive_seed(
            bytes(self.xof.SEED_SIZE),
            self.domain_separation_tag(USAGE_JOINT_RAND_SEED, ctx),
            b"".join(k_joint_rand_parts),
        )

    def joint_rands(self, ctx: bytes, k_joint_rand_seed: bytes) -> Vec:
        return self.xof.expand_into_vec(
            self.field,
            k_joint_rand_seed,
            self.domain_separation_tag(USAGE_JOINT_RANDOMNESS, ctx),
            bytes([self.PROOFS]),
            self.flp.JOINT_RAND_LEN * self.PROOFS,
        )

    # ----- sharding (§7.2.1) ----------------------------------------------------------
    def shard(
        self, ctx: bytes, measurement: Any, nonce: bytes, rand: bytes
    ) -> tuple[list[bytes] | None, list[Prio3InputShare]]:
        """Split a measurement into a public share and one input share per Aggregator."""
        if len(nonce) != self.NONCE_SIZE:
            raise VdafEncodingError("nonce has the wrong size", operation="shard")
        if len(rand) != self.RAND_SIZE:
            raise VdafEncodingError("rand has the wrong size", operation="shard")
        try:
            meas = self.flp.encode(measurement)
        except (ValueError, TypeError) as exc:
            raise VdafEncodingError(f"invalid measurement: {exc}", operation="shard") from exc
        size = self.xof.SEED_SIZE
        seeds = [bytes(rand[i : i + size]) for i in range(0, self.RAND_SIZE, size)]
        if self._jr:
            return self._shard_with_joint_rand(ctx, meas, nonce, seeds)
        return self._shard_without_joint_rand(ctx, meas, seeds)

    def _prove_all(self, meas: Vec, prove_rands: Vec, joint_rands: Vec | None) -> Vec:
        plen, jlen = self.flp.PROVE_RAND_LEN, self.flp.JOINT_RAND_LEN
        proofs = []
        for i in range(self.PROOFS):
            jr = joint_rands[i * jlen : (i + 1) * jlen] if joint_rands is not None else None
            proofs.append(
                self.flp.prove(
                    meas,
                    prove_rands[i * plen : (i + 1) * plen],
                    jr if jr is not None else self.field.zeros(0),
                )
            )
        return np.concatenate(proofs, axis=0)

    def _shard_without_joint_rand(
        self, ctx: bytes, meas: Vec, seeds: list[bytes]
    ) -> tuple[list[bytes] | None, list[Prio3InputShare]]:
        F = self.field
        k_helper_shares = seeds[: self.SHARES - 1]
        k_prove = seeds[self.SHARES - 1]
        leader_meas = meas
        for j, k in enumerate(k_helper_shares):
            leader_meas = F.sub(leader_meas, self.helper_meas_share(ctx, j + 1, k))
        leader_proofs = self._prove_all(meas, self.prove_rands(ctx, k_prove), None)
        for j, k in enumerate(k_helper_shares):
            leader_proofs = F.sub(leader_proofs, self.helper_proofs_share(ctx, j + 1, k))
        shares: list[Prio3InputShare] = [Prio3LeaderShare(leader_meas, leader_proofs, None)]
        shares += [Prio3HelperShare(k, None) for k in k_helper_shares]
        return None, shares

    def _shard_with_joint_rand(
        self, ctx: bytes, meas: Vec, nonce: bytes, seeds: list[bytes]
    ) -> tuple[list[bytes] | None, list[Prio3InputShare]]:
        F = self.field
        n = self.SHARES - 1
        k_helper_shares = seeds[0 : 2 * n : 2]
        k_helper_blinds = seeds[1 : 2 * n : 2]
        k_leader_blind, k_prove = seeds[2 * n], seeds[2 * n + 1]
        leader_meas = meas
        parts: list[bytes] = []
        for j in range(n):
            helper_meas = self.helper_meas_share(ctx, j + 1, k_helper_shares[j])
            leader_meas = F.sub(leader_meas, helper_meas)
            parts.append(self.joint_rand_part(ctx, j + 1, k_helper_blinds[j], helper_meas, nonce))
        parts.insert(0, self.joint_rand_part(ctx, 0, k_leader_blind, leader_meas, nonce))
        joint_rands = self.joint_rands(ctx, self.joint_rand_seed(ctx, parts))
        leader_proofs = self._prove_all(meas, self.prove_rands(ctx, k_prove), joint_rands)
        for j in range(n):
            leader_proofs = F.sub(
                leader_proofs, self.helper_proofs_share(ctx, j + 1, k_helper_shares[j])
            )
        shares: list[Prio3InputShare] = [
            Prio3LeaderShare(leader_meas, leader_proofs, k_leader_blind)
        ]
        shares += [Prio3HelperShare(k_helper_shares[j], k_helper_blinds[j]) for j in range(n)]
        return parts, shares

    # ----- verification (§7.2.2) -----------------------------------------------------
    def verify_init(
        self,
        verify_key: bytes,
        ctx: bytes,
        agg_id: int,
        agg_param: None,
        nonce: bytes,
        public_share: list[bytes] | bytes | None,
        input_share: Prio3InputShare | bytes,
    ) -> tuple[Prio3VerifyState, Prio3VerifierShare]:
        """Expand the input share, query the proof(s); encoded bytes are accepted too."""
        op = "verify_init"
        if len(verify_key) != self.VERIFY_KEY_SIZE:
            raise VdafEncodingError("verify_key has the wrong size", operation=op)
        if not 0 <= agg_id < self.SHARES:
            raise VdafEncodingError("agg_id out of range", operation=op)
        if len(nonce) != self.NONCE_SIZE:
            raise VdafEncodingError("nonce has the wrong size", operation=op)
        if isinstance(public_share, bytes | bytearray):
            public_share = self.decode_public_share(bytes(public_share))
        if isinstance(input_share, bytes | bytearray):
            input_share = self.decode_input_share(agg_id, bytes(input_share))
        self._check_public_share(public_share, op)
        meas_share, proofs_share, k_blind = self.expand_input_share(ctx, agg_id, input_share)
        F, flp = self.field, self.flp
        if F.length(meas_share) != flp.MEAS_LEN or F.length(proofs_share) != (
            flp.PROOF_LEN * self.PROOFS
        ):
            raise VdafEncodingError("input share has the wrong length", operation=op)
        out_share = flp.truncate(meas_share)
        k_corrected, k_part = None, None
        joint_rands = None
        if self._jr:
            if k_blind is None or public_share is None:
                raise VdafEncodingError("missing joint randomness blind or parts", operation=op)
            k_part = self.joint_rand_part(ctx, agg_id, k_blind, meas_share, nonce)
            parts = list(public_share)
            parts[agg_id] = k_part
            k_corrected = self.joint_rand_seed(ctx, parts)
            joint_rands = self.joint_rands(ctx, k_corrected)
        query_rands = self.query_rands(verify_key, ctx, nonce)
        plen, qlen, jlen = flp.PROOF_LEN, flp.QUERY_RAND_LEN, flp.JOINT_RAND_LEN
        verifiers = []
        try:
            for i in range(self.PROOFS):
                jr = (
                    joint_rands[i * jlen : (i + 1) * jlen]
                    if joint_rands is not None
                    else F.zeros(0)
                )
                verifiers.append(
                    flp.query(
                        meas_share,
                        proofs_share[i * plen : (i + 1) * plen],
                        query_rands[i * qlen : (i + 1) * qlen],
                        jr,
                        self.SHARES,
                    )
                )
        except VdafError as exc:
            raise VdafError(str(exc), operation=op) from exc
        state = Prio3VerifyState(out_share, k_corrected)
        return state, Prio3VerifierShare(np.concatenate(verifiers, axis=0), k_part)

    def _check_public_share(self, public_share: list[bytes] | None, op: str) -> None:
        if self._jr:
            if public_share is None or len(public_share) != self.SHARES:
                raise VdafEncodingError("public share must hold one part per share", operation=op)
            if any(len(p) != self.xof.SEED_SIZE for p in public_share):
                raise VdafEncodingError("joint randomness part has the wrong size", operation=op)
        elif public_share not in (None, []):
            raise VdafEncodingError("unexpected public share", operation=op)

    def verifier_shares_to_message(
        self,
        ctx: bytes,
        agg_param: None,
        verifier_shares: list[Prio3VerifierShare] | list[bytes],
    ) -> bytes | None:
        """Sum the verifier shares and decide; raises VerificationFailed on rejection."""
        op = "verifier_shares_to_message"
        F, flp = self.field, self.flp
        if len(verifier_shares) != self.SHARES:
            raise VdafEncodingError("need one verifier share per Aggregator", operation=op)
        decoded = [
            self.decode_verifier_share(None, s) if isinstance(s, bytes | bytearray) else s
            for s in verifier_shares
        ]
        total = F.zeros(flp.VERIFIER_LEN * self.PROOFS)
        parts: list[bytes] = []
        for s in decoded:
            if F.length(s.verifiers_share) != flp.VERIFIER_LEN * self.PROOFS:
                raise VdafEncodingError("verifier share has the wrong length", operation=op)
            total = F.add(total, s.verifiers_share)
            if self._jr:
                if s.k_joint_rand_part is None:
                    raise VdafEncodingError("missing joint randomness part", operation=op)
                parts.append(s.k_joint_rand_part)
        vlen = flp.VERIFIER_LEN
        for i in range(self.PROOFS):
            if not flp.decide(total[i * vlen : (i + 1) * vlen]):
                raise VerificationFailed("proof verifier check failed", operation=op)
        return self.joint_rand_seed(ctx, parts) if self._jr else None

    def verify_next(
        self, ctx: bytes, verify_state: Prio3VerifyState, verifier_message: bytes | None
    ) -> Vec:
        """Check the joint randomness the Client used; return the output share."""
        op = "verify_next"
        if verify_state.used:
            raise VdafError("verification state already used", operation=op)
        verify_state.used = True
        if verifier_message == b"" and not self._jr:
            verifier_message = None
        expected = verify_state.k_corrected_joint_rand
        if (verifier_message is None) != (expected is None) or (
            expected is not None
            and verifier_message is not None
            and not _ct_eq(bytes(verifier_message), expected)
        ):
            raise VerificationFailed("joint randomness check failed", operation=op)
        return verify_state.out_share

    # ----- aggregation and unsharding (§7.2.4, §7.2.5) ---------------------------------
    def is_valid(self, agg_param: None, previous_agg_params: list[None]) -> bool:
        return len(previous_agg_params) == 0

    def agg_init(self, agg_param: None) -> Vec:
        return self.field.zeros(self.flp.OUTPUT_LEN)

    def agg_update(self, agg_param: None, agg_share: Vec, out_share: Vec) -> Vec:
        return self.field.add(agg_share, out_share)

    def aggregate(self, agg_param: None, out_shares: list[Vec]) -> Vec:
        agg = self.agg_init(agg_param)
        for s in out_shares:
            agg = self.agg_update(agg_param, agg, s)
        return agg

    def merge(self, agg_param: None, agg_shares: list[Vec]) -> Vec:
        return self.aggregate(agg_param, agg_shares)

    def unshard(self, agg_param: None, agg_shares: list[Vec], num_measurements: int) -> Any:
        return self.flp.decode(self.merge(agg_param, agg_shares), num_measurements)


def _ct_eq(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


# ----- instantiations (§7.4) ----------------------------------------------------------
class Prio3Count(Prio3):
    """§7.4.1: Field64, ID 0x00000001."""

    def __init__(self, shares: int) -> None:
        super().__init__(shares, FlpBBCGGI19(circuits.Count(Field64)), algorithm_id=0x00000001)


class Prio3Sum(Prio3):
    """§7.4.2: Field64, ID 0x00000002; measurements in [0, max_measurement]."""

    def __init__(self, shares: int, max_measurement: int) -> None:
        super().__init__(
            shares,
            FlpBBCGGI19(circuits.Sum(Field64, max_measurement)),
            algorithm_id=0x00000002,
        )


class Prio3SumVec(Prio3):
    """§7.4.3: Field128, ID 0x00000003; vectors of ``length`` ints in [0, max_measurement]."""

    def __init__(self, shares: int, length: int, max_measurement: int, chunk_length: int) -> None:
        super().__init__(
            shares,
            FlpBBCGGI19(circuits.SumVec(Field128, length, max_measurement, chunk_length)),
            algorithm_id=0x00000003,
        )


class Prio3Histogram(Prio3):
    """§7.4.4: Field128, ID 0x00000004; a bucket index in [0, length)."""

    def __init__(self, shares: int, length: int, chunk_length: int) -> None:
        super().__init__(
            shares,
            FlpBBCGGI19(circuits.Histogram(Field128, length, chunk_length)),
            algorithm_id=0x00000004,
        )


class Prio3MultihotCountVec(Prio3):
    """§7.4.5: Field128, ID 0x00000005; booleans with at most ``max_weight`` true."""

    def __init__(self, shares: int, length: int, max_weight: int, chunk_length: int) -> None:
        super().__init__(
            shares,
            FlpBBCGGI19(circuits.MultihotCountVec(Field128, length, max_weight, chunk_length)),
            algorithm_id=0x00000005,
        )


class Prio3SumVecWithMultiproof(Prio3):
    """Test-only (draft §7.4 note on multiple proofs): SumVec over any field with
    ``num_proofs`` proofs, ID 0xFFFFFFFF."""

    def __init__(
        self,
        shares: int,
        field: type[Field],
        num_proofs: int,
        length: int,
        max_measurement: int,
        chunk_length: int,
    ) -> None:
        super().__init__(
            shares,
            FlpBBCGGI19(circuits.SumVec(field, length, max_measurement, chunk_length)),
            algorithm_id=0xFFFFFFFF,
            num_proofs=num_proofs,
        )


class Prio3HigherDegree(Prio3):
    """Test-only (draft repository): PolyEval x(x−1)(x−2) over Field64, ID 0xFFFFFFFF."""

    def __init__(self, shares: int) -> None:
        super().__init__(
            shares, FlpBBCGGI19(circuits.HigherDegree(Field64)), algorithm_id=0xFFFFFFFF
        )


__all__ = [
    "VERSION",
    "Prio3",
    "Prio3Count",
    "Prio3HelperShare",
    "Prio3HigherDegree",
    "Prio3Histogram",
    "Prio3LeaderShare",
    "Prio3MultihotCountVec",
    "Prio3Sum",
    "Prio3SumVec",
    "Prio3SumVecWithMultiproof",
    "Prio3VerifierShare",
    "Prio3VerifyState",
    "ProofEncoding",
]
