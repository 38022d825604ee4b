"""The PINE VDAF (draft-chen-cfrg-vdaf-pine-02) on draft-irtf-cfrg-vdaf-11 conventions.

Method names follow the current VDAF drafts (``shard``, ``verify_init``,
``verifier_shares_to_message``, ``verify_next``, ``agg_init``, ``agg_update``, ``merge``,
``unshard``); VDAF-11 calls the middle three ``prep_init``, ``prep_shares_to_prep`` and
``prep_next``. There is no application context string (VDAF-11 has none), and PINE has no
aggregation parameter (pass ``None``). Sharding, preparation and the byte layouts follow the
reference code ``poc/vdaf_pine.py`` and ``tests/vectors/pine/README.md``.

.. warning:: This code has not undergone significant security analysis. Python is not
   constant time.
"""

from __future__ import annotations

import hmac
import os

import numpy as np

from veil.errors import (
    ConfigError,
    VdafEncodingError,
    VdafError,
    VerificationFailed,
    WraparoundRetry,
)
from veil.vdaf.field import Field, Field32, Field40, Field64, Field128
from veil.vdaf.pine.circuit import PineCircuits, wr_dot_products, wr_random_bytes
from veil.vdaf.pine.messages import (
    PineCodec,
    PineHelperShare,
    PineInputShare,
    PineLeaderShare,
    PinePublicShare,
    PineVerifierMessage,
    PineVerifierShare,
    PineVerifyState,
)
from veil.vdaf.pine.params import (
    ALPHA,
    NUM_WR_CHECKS,
    PineParams,
    decode_fixed_point,
    encode_gradient_ints,
)
from veil.vdaf.pine.xof11 import Xof, XofHmacSha256Aes128, XofTurboShake128

VERSION = 1  # the reference code's poc/VERSION: first byte of every DST

USAGE_MEAS_SHARE = 1
USAGE_PROOF_SHARE = 2
USAGE_JOINT_RANDOMNESS = 3
USAGE_PROVE_RANDOMNESS = 4
USAGE_QUERY_RANDOMNESS = 5
USAGE_JOINT_RAND_SEED = 6
USAGE_JOINT_RAND_PART = 7
USAGE_WR_JOINT_RANDOMNESS = 8
USAGE_WR_JOINT_RAND_SEED = 9
USAGE_WR_JOINT_RAND_PART = 10


def optimal_chunk_length(num_inputs: int, arity: int = 2) -> int:
    """Chunk length minimising a ParallelSum proof: ``arity·L + 2P − 1``, P = 2^⌈log2(1+calls)⌉.

    ``num_inputs`` counts sub-gadget calls (gradient entries for the squaring gadget, bits
    plus tests for Mul). √(2n/arity) in general; for d = 10^6 it gives a ~4 KB proof.
    """
    best, best_cost = 1, None
    p = 2
    while True:
        chunk = -(-num_inputs // (p - 1))
        cost = arity * chunk + 2 * p - 1
        if best_cost is None or cost < best_cost:
            best, best_cost = chunk, cost
        if chunk == 1:
            return best
        p *= 2


def _byte(n: int) -> bytes:
    return bytes([n])


# ----- the VDAF ----------------------------------------------------------------------------------


class Pine(PineCodec):
    """PINE over a field and an XOF; use the concrete variants (:class:`Pine64`, …)."""

    NONCE_SIZE = 16
    ROUNDS = 1
    ID: int = 0xFFFFFFFF
    FIELD: type[Field] = Field64
    XOF: type[Xof] = XofTurboShake128
    DEFAULT_PROOFS = 2
    DEFAULT_PROOFS_NORM_EQUALITY = 1

    def __init__(
        self,
        l2_norm_bound: int,
        num_frac_bits: int,
        dimension: int,
        chunk_length: int,
        num_shares: int,
        *,
        chunk_length_norm_equality: int | None = None,
        num_proofs: int | None = None,
        num_proofs_norm_equality: int | None = None,
        alpha: float = ALPHA,
        num_wr_checks: int = NUM_WR_CHECKS,
        num_wr_successes: int | None = None,
    ) -> None:
        """``l2_norm_bound`` is the fixed-point bound (see :func:`norm_bound_from_float`).

        ``chunk_length_norm_equality`` defaults to ≈√dimension, which keeps the norm-equality
        proof small; ``num_wr_successes`` defaults to ``num_wr_checks``.
        """
        if chunk_length_norm_equality is None:
            chunk_length_norm_equality = (
                optimal_chunk_length(dimension, arity=1)
                if isinstance(dimension, int) and dimension > 0
                else 1
            )
        self.params = PineParams.create(
            self.FIELD,
            l2_norm_bound,
            num_frac_bits,
            dimension,
            chunk_length,
            chunk_length_norm_equality,
            alpha,
            num_wr_checks,
            num_wr_checks if num_wr_successes is None else num_wr_successes,
        )
        self.PROOFS = self.DEFAULT_PROOFS if num_proofs is None else num_proofs
        self.PROOFS_NORM_EQUALITY = (
            self.DEFAULT_PROOFS_NORM_EQUALITY
            if num_proofs_norm_equality is None
            else num_proofs_norm_equality
        )
        for name, v in (
            ("num_proofs", self.PROOFS),
            ("num_proofs_norm_equality", self.PROOFS_NORM_EQUALITY),
        ):
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 255:
                raise ConfigError(f"{name} must be an integer in [1, 255]")
        if (
            isinstance(num_shares, bool)
            or not isinstance(num_shares, int)
            or not 2 <= num_shares <= 255
        ):
            raise ConfigError("num_shares must be an integer in [2, 255]")
        self.SHARES = num_shares
        self.circuits = PineCircuits(self.params)
        self.field = self.FIELD
        self.SEED_SIZE = self.XOF.SEED_SIZE
        self.VERIFY_KEY_SIZE = self.XOF.SEED_SIZE
        self.RAND_SIZE = (1 + 2 * (num_shares - 1) + 2 * num_shares) * self.XOF.SEED_SIZE
        self.MEAS_LEN = self.params.meas_len
        self.OUTPUT_LEN = self.params.dimension
        fn, fm = self.circuits.flp_norm, self.circuits.flp_main
        self.PROOFS_LEN = fn.PROOF_LEN * self.PROOFS_NORM_EQUALITY + fm.PROOF_LEN * self.PROOFS
        self.VERIFIERS_LEN = (
            fn.VERIFIER_LEN * self.PROOFS_NORM_EQUALITY + fm.VERIFIER_LEN * self.PROOFS
        )

    # ----- fixed-point helpers ------------------------------------------------------------
    def encode_float_vec(self, values: object) -> np.ndarray:
        """Floats → field elements exactly as :meth:`shard` encodes the gradient.

        ``round_half_even(x·2^num_frac_bits) mod p``; NaN, ±inf, subnormals, a wrong length
        and magnitudes ≥ p raise :class:`VdafEncodingError`.
        """
        ints = encode_gradient_ints(values, self.params.dimension, self.params.num_frac_bits)
        return self.circuits.gradient_to_field(ints)

    def decode_float_vec(self, vec: np.ndarray) -> list[float]:
        """Field elements → floats (above ⌊p/2⌋ is negative), as :meth:`unshard` decodes."""
        return decode_fixed_point(self.field, vec, self.params.num_frac_bits)

    # ----- domain separation and derived randomness ---------------------------------------
    def domain_separation_tag(self, usage: int) -> bytes:
        return _byte(VERSION) + self.ID.to_bytes(4, "big") + usage.to_bytes(2, "big")

    def _proof_binder(self) -> bytes:
        return _byte(self.PROOFS_NORM_EQUALITY) + _byte(self.PROOFS)

    def helper_meas_share(self, agg_id: int, seed: bytes) -> np.ndarray:
        return self.XOF.expand_into_vec(
            self.field,
            seed,
            self.domain_separation_tag(USAGE_MEAS_SHARE),
            _byte(agg_id),
            self.MEAS_LEN,
        )

    def helper_proofs_share(self, agg_id: int, seed: bytes) -> np.ndarray:
        return self.XOF.expand_into_vec(
            self.field,
            seed,
            self.domain_separation_tag(USAGE_PROOF_SHARE),
            self._proof_binder() + _byte(agg_id),
            self.PROOFS_LEN,
        )

    def joint_rand_part(
        self, agg_id: int, blind: bytes, meas_share: np.ndarray, nonce: bytes, usage: int
    ) -> bytes:
        return self.XOF.derive_seed(
            blind,
            self.domain_separation_tag(usage),
            _byte(agg_id) + nonce + self.field.encode_vec(meas_share),
        )

    def joint_rand_seed(self, parts: list[bytes] | tuple[bytes, ...], usage: int) -> bytes:
        return self.XOF.derive_seed(
            bytes(self.SEED_SIZE), self.domain_separation_tag(usage), b"".join(parts)
        )

    def vf_joint_rands(self, seed: bytes) -> np.ndarray:
        return self.XOF.expand_into_vec(
            self.field,
            seed,
            self.domain_separation_tag(USAGE_JOINT_RANDOMNESS),
            _byte(self.PROOFS),
            self.circuits.MAIN_JOINT_RAND_LEN * self.PROOFS,
        )

    def prove_rands(self, seed: bytes) -> np.ndarray:
        fn, fm = self.circuits.flp_norm, self.circuits.flp_main
        return self.XOF.expand_into_vec(
            self.field,
            seed,
            self.domain_separation_tag(USAGE_PROVE_RANDOMNESS),
            self._proof_binder(),
            fn.PROVE_RAND_LEN * self.PROOFS_NORM_EQUALITY + fm.PROVE_RAND_LEN * self.PROOFS,
        )

    def query_rands(self, verify_key: bytes, nonce: bytes) -> np.ndarray:
        return self.XOF.expand_into_vec(
            self.field,
            verify_key,
            self.domain_separation_tag(USAGE_QUERY_RANDOMNESS),
            self._proof_binder() + nonce,
            self.PROOFS_NORM_EQUALITY + self.PROOFS,
        )

    def wr_dots(
        self, seed: bytes, grad: np.ndarray, signed: np.ndarray | None = None
    ) -> np.ndarray:
        """Dot products of the gradient (share) with the wraparound test vectors."""
        pr = self.params
        xof = self.XOF(seed, self.domain_separation_tag(USAGE_WR_JOINT_RANDOMNESS), b"")
        z = wr_random_bytes(xof, pr.num_wr_checks, pr.dimension)
        return self.field.vec(wr_dot_products(self.field, grad, z, pr.dimension, signed))

    # ----- FLP over all proofs ---------------------------------------------------------------
    def _prove(
        self, meas: np.ndarray, dots: np.ndarray, prove_rands: np.ndarray, vf_rands: np.ndarray
    ) -> np.ndarray:
        c = self.circuits
        fn, fm = c.flp_norm, c.flp_main
        a_n, a_m = fn.PROVE_RAND_LEN, fm.PROVE_RAND_LEN
        pne = self.PROOFS_NORM_EQUALITY
        seeds_n = [prove_rands[i * a_n : (i + 1) * a_n] for i in range(pne)]
        proofs = fn.prove_many(c.norm_call_inputs(meas), seeds_n)
        off = pne * a_n
        jl = c.MAIN_JOINT_RAND_LEN
        for i in range(self.PROOFS):
            rows, _ = c.main_call_inputs(meas, dots, vf_rands[i * jl : (i + 1) * jl], 1)
            seed = prove_rands[off + i * a_m : off + (i + 1) * a_m]
            proofs += fm.prove_many(rows, [seed])
        return np.concatenate(proofs)

    def _query(
        self,
        meas: np.ndarray,
        dots: np.ndarray,
        proofs: np.ndarray,
        query_rands: np.ndarray,
        vf_rands: np.ndarray,
    ) -> np.ndarray:
        c = self.circuits
        fn, fm = c.flp_norm, c.flp_main
        query_rands = self.field.to_ints(query_rands)  # one query point t per proof
        out = []
        off = 0
        norm_rows = c.norm_call_inputs(meas)
        norm_out = c.norm_output(meas)
        for i in range(self.PROOFS_NORM_EQUALITY):
            out.append(
                fn.query(norm_rows, proofs[off : off + fn.PROOF_LEN], query_rands[i], norm_out)
            )
            off += fn.PROOF_LEN
        jl = c.MAIN_JOINT_RAND_LEN
        for i in range(self.PROOFS):
            rows, main_out = c.main_call_inputs(
                meas, dots, vf_rands[i * jl : (i + 1) * jl], self.SHARES
            )
            t = query_rands[self.PROOFS_NORM_EQUALITY + i]
            out.append(fm.query(rows, proofs[off : off + fm.PROOF_LEN], t, main_out))
            off += fm.PROOF_LEN
        return np.concatenate(out)

    # ----- sharding ---------------------------------------------------------------------------
    def shard(
        self, measurement: object, nonce: bytes, rand: bytes
    ) -> tuple[PinePublicShare, list[PineInputShare]]:
        """Encode, secret-share and prove a gradient (a sequence of floats of length d).

        Raises :class:`WraparoundRetry` when the wraparound tests drawn from this ``rand`` do
        not give exactly ``num_wr_successes`` passes: call again with fresh ``rand``
        (:meth:`shard_with_retry` does). Raises :class:`VdafEncodingError` for NaN, infinite
        or subnormal entries, a wrong length, or a norm above the bound.
        """
        op = "shard"
        self._check_bytes(nonce, self.NONCE_SIZE, "nonce", op)
        self._check_bytes(rand, self.RAND_SIZE, "rand", op)
        pr = self.params
        fld = self.field
        c = self.circuits
        n = self.SEED_SIZE
        seeds = [rand[i : i + n] for i in range(0, self.RAND_SIZE, n)]
        S = self.SHARES
        helper = [seeds[4 * j : 4 * j + 4] for j in range(S - 1)]
        k_leader_wr_blind, k_leader_vf_blind, k_prove = seeds[4 * (S - 1) :]

        ints = encode_gradient_ints(measurement, pr.dimension, pr.num_frac_bits)
        x = c.gradient_to_field(ints)
        _, norm_bits = c.encode_norm(ints)
        meas1 = np.concatenate([x, fld.vec(np.array(norm_bits, dtype=np.uint64))])
        l1 = len(meas1)
        helper_shares = [self.helper_meas_share(j + 1, h[0]) for j, h in enumerate(helper)]

        leader1 = meas1
        wr_parts = []
        for j, h in enumerate(helper):
            leader1 = fld.sub(leader1, helper_shares[j][:l1])
            wr_parts.append(
                self.joint_rand_part(
                    j + 1, h[2], helper_shares[j][:l1], nonce, USAGE_WR_JOINT_RAND_PART
                )
            )
        wr_parts.insert(
            0, self.joint_rand_part(0, k_leader_wr_blind, leader1, nonce, USAGE_WR_JOINT_RAND_PART)
        )
        wr_seed = self.joint_rand_seed(wr_parts, USAGE_WR_JOINT_RAND_SEED)

        dots = self.wr_dots(wr_seed, x, ints)
        wr_bits, passed = c.encode_wr_checks(fld.to_ints(dots))
        if passed != pr.num_wr_successes:
            raise WraparoundRetry(
                f"{passed} of {pr.num_wr_checks} wraparound tests passed, "
                f"{pr.num_wr_successes} required: shard again with fresh rand",
                operation=op,
            )
        meas = np.concatenate([meas1, fld.vec(np.array(wr_bits, dtype=np.uint64))])
        leader = meas
        vf_parts = []
        for j, h in enumerate(helper):
            leader = fld.sub(leader, helper_shares[j])
            vf_parts.append(
                self.joint_rand_part(j + 1, h[3], helper_shares[j], nonce, USAGE_JOINT_RAND_PART)
            )
        vf_parts.insert(
            0, self.joint_rand_part(0, k_leader_vf_blind, leader, nonce, USAGE_JOINT_RAND_PART)
        )
        vf_rands = self.vf_joint_rands(self.joint_rand_seed(vf_parts, USAGE_JOINT_RAND_SEED))

        proofs = self._prove(meas, dots, self.prove_rands(k_prove), vf_rands)
        for j, h in enumerate(helper):
            proofs = fld.sub(proofs, self.helper_proofs_share(j + 1, h[1]))
        shares: list[PineInputShare] = [
            PineLeaderShare(leader, proofs, k_leader_wr_blind, k_leader_vf_blind)
        ]
        shares += [PineHelperShare(h[0], h[1], h[2], h[3]) for h in helper]
        return PinePublicShare(tuple(wr_parts), tuple(vf_parts)), shares

    def shard_with_retry(
        self,
        measurement: object,
        nonce: bytes,
        *,
        max_attempts: int = 64,
        rng=None,
    ) -> tuple[PinePublicShare, list[PineInputShare]]:
        """:meth:`shard` with fresh randomness (``os.urandom`` unless ``rng(n)`` is given)
        until the wraparound tests give exactly ``num_wr_successes`` passes."""
        draw = rng or os.urandom
        for _ in range(max_attempts):
            try:
                return self.shard(measurement, nonce, draw(self.RAND_SIZE))
            except WraparoundRetry:
                continue
        raise VdafError(f"wraparound tests failed {max_attempts} times in a row", operation="shard")

    # ----- preparation ------------------------------------------------------------------------
    def verify_init(
        self,
        verify_key: bytes,
        agg_id: int,
        agg_param: None,
        nonce: bytes,
        public_share: PinePublicShare,
        input_share: PineInputShare,
    ) -> tuple[PineVerifyState, PineVerifierShare]:
        """Aggregator ``agg_id``'s first (only) round: the VDAF-11 ``prep_init``."""
        op = "verify_init"
        self._check_bytes(verify_key, self.VERIFY_KEY_SIZE, "verify_key", op)
        self._check_bytes(nonce, self.NONCE_SIZE, "nonce", op)
        self._check_agg_param(agg_param, op)
        if isinstance(agg_id, bool) or not isinstance(agg_id, int) or not 0 <= agg_id < self.SHARES:
            raise VdafEncodingError(f"agg_id {agg_id!r} out of range", operation=op)
        self._check_public_share(public_share, op)
        pr = self.params
        if agg_id == 0:
            if not isinstance(input_share, PineLeaderShare):
                raise VdafEncodingError("the Leader needs a Leader input share", operation=op)
            meas, proofs = input_share.meas_share, input_share.proofs_share
            self._check_vec(meas, self.MEAS_LEN, "measurement share", op)
            self._check_vec(proofs, self.PROOFS_LEN, "proofs share", op)
        else:
            if not isinstance(input_share, PineHelperShare):
                raise VdafEncodingError("a Helper needs a Helper input share", operation=op)
            self._check_bytes(
                input_share.meas_share_seed, self.SEED_SIZE, "measurement share seed", op
            )
            self._check_bytes(
                input_share.proofs_share_seed, self.SEED_SIZE, "proofs share seed", op
            )
            meas = self.helper_meas_share(agg_id, input_share.meas_share_seed)
            proofs = self.helper_proofs_share(agg_id, input_share.proofs_share_seed)
        self._check_bytes(input_share.wr_joint_rand_blind, self.SEED_SIZE, "wraparound blind", op)
        self._check_bytes(input_share.vf_joint_rand_blind, self.SEED_SIZE, "verification blind", op)

        l1 = pr.encoded_gradient_and_norm_len
        wr_part = self.joint_rand_part(
            agg_id, input_share.wr_joint_rand_blind, meas[:l1], nonce, USAGE_WR_JOINT_RAND_PART
        )
        parts = list(public_share.wr_joint_rand_parts)
        parts[agg_id] = wr_part
        wr_seed = self.joint_rand_seed(parts, USAGE_WR_JOINT_RAND_SEED)
        dots = self.wr_dots(wr_seed, meas[: pr.dimension])

        vf_part = self.joint_rand_part(
            agg_id, input_share.vf_joint_rand_blind, meas, nonce, USAGE_JOINT_RAND_PART
        )
        parts = list(public_share.vf_joint_rand_parts)
        parts[agg_id] = vf_part
        vf_seed = self.joint_rand_seed(parts, USAGE_JOINT_RAND_SEED)

        verifiers = self._query(
            meas, dots, proofs, self.query_rands(verify_key, nonce), self.vf_joint_rands(vf_seed)
        )
        state = PineVerifyState(meas[: pr.dimension].copy(), wr_seed, vf_seed)
        return state, PineVerifierShare(verifiers, wr_part, vf_part)

    def verifier_shares_to_message(
        self, agg_param: None, verifier_shares: list[PineVerifierShare]
    ) -> PineVerifierMessage:
        """Sum the verifier shares, run every proof's decision, recompute the joint-rand seeds.

        Raises :class:`VerificationFailed` if any proof rejects (VDAF-11 ``prep_shares_to_prep``).
        """
        op = "verifier_shares_to_message"
        self._check_agg_param(agg_param, op)
        if len(verifier_shares) != self.SHARES:
            raise VdafEncodingError(f"expected {self.SHARES} verifier shares", operation=op)
        fld = self.field
        total = fld.zeros(self.VERIFIERS_LEN)
        for vs in verifier_shares:
            if not isinstance(vs, PineVerifierShare):
                raise VdafEncodingError("not a PineVerifierShare", operation=op)
            self._check_vec(vs.verifiers_share, self.VERIFIERS_LEN, "verifier share", op)
            self._check_bytes(vs.wr_joint_rand_part, self.SEED_SIZE, "wraparound part", op)
            self._check_bytes(vs.vf_joint_rand_part, self.SEED_SIZE, "verification part", op)
            total = fld.add(total, vs.verifiers_share)
        fn, fm = self.circuits.flp_norm, self.circuits.flp_main
        off = 0
        for _ in range(self.PROOFS_NORM_EQUALITY):
            if not fn.decide(total[off : off + fn.VERIFIER_LEN]):
                raise VerificationFailed("norm-equality proof rejected", operation=op)
            off += fn.VERIFIER_LEN
        for _ in range(self.PROOFS):
            if not fm.decide(total[off : off + fm.VERIFIER_LEN]):
                raise VerificationFailed("range/wraparound proof rejected", operation=op)
            off += fm.VERIFIER_LEN
        wr_seed = self.joint_rand_seed(
            [vs.wr_joint_rand_part for vs in verifier_shares], USAGE_WR_JOINT_RAND_SEED
        )
        vf_seed = self.joint_rand_seed(
            [vs.vf_joint_rand_part for vs in verifier_shares], USAGE_JOINT_RAND_SEED
        )
        return PineVerifierMessage(wr_seed, vf_seed)

    def verify_next(
        self, state: PineVerifyState, verifier_message: PineVerifierMessage
    ) -> np.ndarray:
        """Check the joint-rand seeds agree (constant time); return the output share."""
        op = "verify_next"
        if not isinstance(verifier_message, PineVerifierMessage):
            raise VdafEncodingError("not a PineVerifierMessage", operation=op)
        ok_wr = hmac.compare_digest(verifier_message.wr_joint_rand_seed, state.wr_joint_rand_seed)
        ok_vf = hmac.compare_digest(verifier_message.vf_joint_rand_seed, state.vf_joint_rand_seed)
        if not (ok_wr & ok_vf):
            raise VerificationFailed("joint randomness seeds disagree", operation=op)
        return state.out_share

    # ----- aggregation ------------------------------------------------------------------------
    def agg_init(self, agg_param: None) -> np.ndarray:
        self._check_agg_param(agg_param, "agg_init")
        return self.field.zeros(self.OUTPUT_LEN)

    def agg_update(
        self, agg_param: None, agg_share: np.ndarray, out_share: np.ndarray
    ) -> np.ndarray:
        self._check_vec(out_share, self.OUTPUT_LEN, "output share", "agg_update")
        return self.field.add(agg_share, out_share)

    def aggregate(self, agg_param: None, out_shares: list[np.ndarray]) -> np.ndarray:
        """VDAF-11 ``aggregate``: the sum of a list of output shares."""
        acc = self.agg_init(agg_param)
        for o in out_shares:
            acc = self.agg_update(agg_param, acc, o)
        return acc

    def merge(self, agg_param: None, agg_shares: list[np.ndarray]) -> np.ndarray:
        acc = self.agg_init(agg_param)
        for a in agg_shares:
            self._check_vec(a, self.OUTPUT_LEN, "aggregate share", "merge")
            acc = self.field.add(acc, a)
        return acc

    def unshard(
        self, agg_param: None, agg_shares: list[np.ndarray], num_measurements: int
    ) -> list[float]:
        """Sum the aggregate shares and decode the fixed-point sum to floats."""
        agg = self.merge(agg_param, agg_shares)
        return decode_fixed_point(self.field, agg, self.params.num_frac_bits)


class Pine64(Pine):
    """PINE on Field64 with XofTurboShake128 (VDAF-11): 2 main proofs, 1 norm-equality."""


class Pine128(Pine):
    """PINE on Field128 with XofTurboShake128 (VDAF-11): 1 + 1 proofs."""

    FIELD = Field128
    DEFAULT_PROOFS = 1


class Pine64HmacSha256Aes128(Pine):
    """PINE on Field64 with XofHmacSha256Aes128 (ID 0xFFFF1004)."""

    ID = 0xFFFF1004
    XOF = XofHmacSha256Aes128


class Pine32HmacSha256Aes128(Pine):
    """PINE on Field32 with XofHmacSha256Aes128 (ID 0xFFFF1005): 5 + 1 proofs by default."""

    ID = 0xFFFF1005
    FIELD = Field32
    XOF = XofHmacSha256Aes128
    DEFAULT_PROOFS = 5


class Pine40HmacSha256Aes128(Pine):
    """PINE on Field40 with XofHmacSha256Aes128 (ID 0xFFFF1006): 4 + 1 proofs by default."""

    ID = 0xFFFF1006
    FIELD = Field40
    XOF = XofHmacSha256Aes128
    DEFAULT_PROOFS = 4


VARIANTS: dict[str, type[Pine]] = {
    cls.__name__: cls
    for cls in (
        Pine64,
        Pine128,
        Pine64HmacSha256Aes128,
        Pine32HmacSha256Aes128,
        Pine40HmacSha256Aes128,
    )
}
