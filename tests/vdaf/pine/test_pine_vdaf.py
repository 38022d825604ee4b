"""PINE end to end: round trips for every variant and aggregator count, and rejections."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest

from veil.errors import VdafEncodingError, VerificationFailed, WraparoundRetry
from veil.vdaf.pine import (
    VARIANTS,
    Pine,
    Pine64,
    PineLeaderShare,
    PinePublicShare,
    PineVerifierShare,
    norm_bound_from_float,
)


def _make(name: str, shares: int = 2, dim: int = 9) -> Pine:
    nfb = 7 if "32" in name or "40" in name else 10
    return VARIANTS[name](norm_bound_from_float(1.0, nfb), nfb, dim, 16, shares)


def _prep(vdaf: Pine, meas, nonce: bytes, verify_key: bytes, shares=None):
    ps, ins = shares or vdaf.shard_with_retry(meas, nonce)
    states, vss = [], []
    for j in range(vdaf.SHARES):
        st, vs = vdaf.verify_init(verify_key, j, None, nonce, ps, ins[j])
        states.append(st)
        vss.append(vs)
    msg = vdaf.verifier_shares_to_message(None, vss)
    return [vdaf.verify_next(st, msg) for st in states]


@pytest.mark.parametrize("name", sorted(VARIANTS))
@pytest.mark.parametrize("shares", [2, 3])
def test_round_trip(name: str, shares: int) -> None:
    vdaf = _make(name, shares)
    vk = os.urandom(vdaf.VERIFY_KEY_SIZE)
    rng = np.random.default_rng(7)
    total = np.zeros(9)
    aggs = [vdaf.agg_init(None) for _ in range(shares)]
    for _ in range(3):
        g = rng.normal(size=9)
        g = np.round(g / np.linalg.norm(g) * 0.9 * 2**7) / 2**7  # exact in fixed point
        total += g
        outs = _prep(vdaf, g, os.urandom(16), vk)
        aggs = [vdaf.agg_update(None, a, o) for a, o in zip(aggs, outs, strict=True)]
    result = vdaf.unshard(None, aggs, 3)
    assert np.allclose(result, total, atol=0)


def test_serialisation_round_trip_and_helper_is_seeds_only() -> None:
    vdaf = _make("Pine64", 2, dim=100)
    nonce, vk = os.urandom(16), os.urandom(16)
    ps, ins = vdaf.shard_with_retry(np.full(100, 0.05), nonce)
    enc = [vdaf.encode_input_share(s) for s in ins]
    assert len(enc[1]) == 4 * vdaf.SEED_SIZE
    dec = [vdaf.decode_input_share(j, e) for j, e in enumerate(enc)]
    ps2 = vdaf.decode_public_share(vdaf.encode_public_share(ps))
    outs = _prep(vdaf, None, nonce, vk, shares=(ps2, dec))
    assert np.allclose(vdaf.unshard(None, outs, 1), np.full(100, 0.05), atol=2**-10)


def _shares(vdaf: Pine, meas):
    nonce = os.urandom(16)
    ps, ins = vdaf.shard_with_retry(meas, nonce)
    return nonce, ps, ins


def test_tampered_measurement_share_is_rejected() -> None:
    vdaf = _make("Pine64", 2, dim=12)
    vk = os.urandom(16)
    nonce, ps, ins = _shares(vdaf, np.full(12, 0.1))
    leader = ins[0]
    meas = leader.meas_share.copy()
    meas[0] = vdaf.field.add(meas[:1], vdaf.field.vec([1]))[0]  # shift one coordinate
    bad = dataclasses.replace(leader, meas_share=meas)
    with pytest.raises(VerificationFailed):
        _prep(vdaf, None, nonce, vk, shares=(ps, [bad, ins[1]]))


@pytest.mark.parametrize("index", [0, 5, -1])
def test_tampered_proof_is_rejected(index: int) -> None:
    vdaf = _make("Pine64", 2, dim=12)
    vk = os.urandom(16)
    nonce, ps, ins = _shares(vdaf, np.full(12, 0.1))
    proofs = ins[0].proofs_share.copy()
    proofs[index] = vdaf.field.add(
        proofs[index : index + 1] if index != -1 else proofs[-1:], vdaf.field.vec([1])
    )[0]
    bad = dataclasses.replace(ins[0], proofs_share=proofs)
    with pytest.raises(VerificationFailed):
        _prep(vdaf, None, nonce, vk, shares=(ps, [bad, ins[1]]))


def test_wrong_public_share_is_rejected() -> None:
    vdaf = _make("Pine64HmacSha256Aes128", 2, dim=12)
    vk = os.urandom(vdaf.VERIFY_KEY_SIZE)
    nonce, ps, ins = _shares(vdaf, np.full(12, 0.1))
    parts = list(ps.wr_joint_rand_parts)
    parts[1] = os.urandom(vdaf.SEED_SIZE)
    bad = PinePublicShare(tuple(parts), ps.vf_joint_rand_parts)
    with pytest.raises(VerificationFailed):
        _prep(vdaf, None, nonce, vk, shares=(bad, ins))


def test_cheating_client_with_false_norm_is_rejected(monkeypatch) -> None:
    """A Client lying about its squared norm (claiming 0) fails the norm-equality proof."""
    vdaf = _make("Pine64", 2, dim=8)
    c = vdaf.circuits
    n = vdaf.params.num_bits_for_sq_norm
    fake = [0] * n + [int(b) for b in format(vdaf.params.sq_norm_bound, f"0{n}b")[::-1]]
    monkeypatch.setattr(c, "encode_norm", lambda ints: (0, fake))
    nonce, ps, ins = _shares(vdaf, np.full(8, 0.3))
    with pytest.raises(VerificationFailed, match="norm-equality"):
        _prep(vdaf, None, nonce, os.urandom(16), shares=(ps, ins))


def test_cheating_client_with_over_norm_gradient_is_rejected(monkeypatch) -> None:
    """Norm 2 > bound 1: the honest encoder refuses, so forge bits claiming v = u = B²/2."""
    vdaf = _make("Pine64", 2, dim=4)
    pr = vdaf.params
    n = pr.num_bits_for_sq_norm
    half = pr.sq_norm_bound // 2
    bits = [(half >> i) & 1 for i in range(n)] * 2
    monkeypatch.setattr(vdaf.circuits, "encode_norm", lambda ints: (half, bits))
    nonce, ps, ins = _shares(vdaf, [2.0, 0.0, 0.0, 0.0])
    with pytest.raises(VerificationFailed):
        _prep(vdaf, None, nonce, os.urandom(16), shares=(ps, ins))


def test_wraparound_retry_is_typed() -> None:
    """alpha = 0.1 makes the test range tiny: an in-bound gradient fails tests, shard says retry."""
    g = np.full(40, 0.155)  # norm ≈ 0.98
    strict = Pine64(2**10, 10, 40, 16, 2, alpha=0.1)
    with pytest.raises(WraparoundRetry) as info:
        strict.shard(g, os.urandom(16), os.urandom(strict.RAND_SIZE))
    assert info.value.operation == "shard"
    normal = Pine64(2**10, 10, 40, 16, 2)  # alpha = 8.7: passes
    assert normal.shard(g, os.urandom(16), os.urandom(normal.RAND_SIZE))


def test_fewer_required_successes_lets_the_client_pass() -> None:
    vdaf = Pine64(2**10, 10, 40, 16, 2, alpha=1.0, num_wr_checks=100, num_wr_successes=20)
    g = np.full(40, 0.155)
    outs = _prep(vdaf, g, os.urandom(16), os.urandom(16))
    assert np.allclose(vdaf.unshard(None, outs, 1), g, atol=2**-10)


@pytest.mark.parametrize(
    ("op", "call"),
    [
        (
            "verify_init",
            lambda v, ps, ins: v.verify_init(bytes(15), 0, None, bytes(16), ps, ins[0]),
        ),
        (
            "verify_init",
            lambda v, ps, ins: v.verify_init(bytes(16), 0, None, bytes(15), ps, ins[0]),
        ),
        (
            "verify_init",
            lambda v, ps, ins: v.verify_init(bytes(16), 2, None, bytes(16), ps, ins[0]),
        ),
        (
            "verify_init",
            lambda v, ps, ins: v.verify_init(bytes(16), 1, None, bytes(16), ps, ins[0]),
        ),
        ("verify_init", lambda v, ps, ins: v.verify_init(bytes(16), 0, 5, bytes(16), ps, ins[0])),
        (
            "verify_init",
            lambda v, ps, ins: v.verify_init(
                bytes(16),
                0,
                None,
                bytes(16),
                ps,
                dataclasses.replace(ins[0], meas_share=ins[0].meas_share[:-1]),
            ),
        ),
        (
            "verify_init",
            lambda v, ps, ins: v.verify_init(
                bytes(16),
                0,
                None,
                bytes(16),
                ps,
                dataclasses.replace(ins[0], meas_share=np.full_like(ins[0].meas_share, 2**64 - 1)),
            ),
        ),
        (
            "verify_init",
            lambda v, ps, ins: v.verify_init(
                bytes(16),
                1,
                None,
                bytes(16),
                ps,
                dataclasses.replace(ins[1], meas_share_seed=b"short"),
            ),
        ),
        (
            "verify_init",
            lambda v, ps, ins: v.verify_init(
                bytes(16),
                0,
                None,
                bytes(16),
                PinePublicShare(ps.wr_joint_rand_parts[:1], ps.vf_joint_rand_parts),
                ins[0],
            ),
        ),
        (
            "decode_input_share",
            lambda v, ps, ins: v.decode_input_share(0, v.encode_input_share(ins[0])[:-1]),
        ),
        (
            "decode_input_share",
            lambda v, ps, ins: v.decode_input_share(
                0, b"\xff" * 8 + v.encode_input_share(ins[0])[8:]
            ),
        ),
        ("decode_input_share", lambda v, ps, ins: v.decode_input_share(1, bytes(63))),
        ("decode_public_share", lambda v, ps, ins: v.decode_public_share(bytes(63))),
        ("decode_verifier_share", lambda v, ps, ins: v.decode_verifier_share(bytes(7))),
        ("decode_verifier_message", lambda v, ps, ins: v.decode_verifier_message(bytes(31))),
        ("decode_agg_share", lambda v, ps, ins: v.decode_agg_share(b"\xff" * 8 * 12)),
        ("verifier_shares_to_message", lambda v, ps, ins: v.verifier_shares_to_message(None, [])),
        ("shard", lambda v, ps, ins: v.shard([0.0] * 12, bytes(16), bytes(10))),
        ("shard", lambda v, ps, ins: v.shard([0.0] * 12, bytes(3), bytes(v.RAND_SIZE))),
    ],
)
def test_malformed_inputs_raise_typed_errors(op: str, call) -> None:
    vdaf = _make("Pine64", 2, dim=12)
    _, ps, ins = _shares(vdaf, np.full(12, 0.1))
    with pytest.raises(VdafEncodingError) as info:
        call(vdaf, ps, ins)
    assert info.value.operation == op


def test_verifier_share_out_of_field_rejected() -> None:
    vdaf = _make("Pine64", 2, dim=12)
    nonce, ps, ins = _shares(vdaf, np.full(12, 0.1))
    vs = [vdaf.verify_init(bytes(16), j, None, nonce, ps, ins[j])[1] for j in range(2)]
    bad = PineVerifierShare(
        np.full_like(vs[0].verifiers_share, 2**64 - 1),
        vs[0].wr_joint_rand_part,
        vs[0].vf_joint_rand_part,
    )
    with pytest.raises(VdafEncodingError, match="verifier_shares_to_message"):
        vdaf.verifier_shares_to_message(None, [bad, vs[1]])


def test_leader_share_type_is_checked() -> None:
    vdaf = _make("Pine64", 2, dim=12)
    nonce, ps, ins = _shares(vdaf, np.full(12, 0.1))
    assert isinstance(ins[0], PineLeaderShare)
    with pytest.raises(VdafEncodingError):
        vdaf.verify_init(bytes(16), 0, None, nonce, ps, ins[1])


def test_norm_that_wraps_around_the_field_is_caught() -> None:
    """In Field32, 65528² ≡ 63 (mod p): the field norm looks tiny, the real norm is huge.

    The honest encoder accepts the squared norm (it is computed mod p, as in the reference),
    but the wraparound tests fail about half the time, so an honest Client can never reach
    100 passes. A cheating Client that claims every test passed is rejected.
    """
    from veil.vdaf.pine import Pine32HmacSha256Aes128

    vdaf = Pine32HmacSha256Aes128(128, 0, 4, 8, 2)
    meas = [65528.0, 0.0, 0.0, 0.0]
    assert 65528**2 % vdaf.field.MODULUS == 63
    with pytest.raises(WraparoundRetry):
        vdaf.shard(meas, os.urandom(16), os.urandom(vdaf.RAND_SIZE))

    pr = vdaf.params
    nbits = pr.num_bits_for_wr_check

    def cheat(dots: list[int]) -> tuple[list[int], int]:
        bits: list[int] = []
        for dot in dots:
            v = (dot + pr.wr_check_bound - 1) % vdaf.field.MODULUS % 2**nbits
            bits += [(v >> i) & 1 for i in range(nbits)] + [1]
        return bits, pr.num_wr_successes

    vdaf.circuits.encode_wr_checks = cheat
    nonce = os.urandom(16)
    ps, ins = vdaf.shard(meas, nonce, os.urandom(vdaf.RAND_SIZE))
    with pytest.raises(VerificationFailed):
        _prep(vdaf, None, nonce, os.urandom(vdaf.VERIFY_KEY_SIZE), shares=(ps, ins))


@pytest.mark.parametrize("seed", range(6))
def test_random_leader_shares_are_rejected_with_typed_errors_only(seed: int) -> None:
    """Garbage of the right length either fails to decode or is rejected; nothing else."""
    rng = np.random.default_rng(seed)
    vdaf = _make("Pine40HmacSha256Aes128" if seed % 2 else "Pine64", 2, dim=10)
    nonce, ps, ins = _shares(vdaf, np.full(10, 0.2))
    good = vdaf.encode_input_share(ins[0])
    junk = rng.integers(0, 256, len(good), dtype=np.uint8).tobytes()
    if seed % 3 == 0:  # keep the measurement, garble the proof only
        cut = vdaf.MEAS_LEN * vdaf.field.ENCODED_SIZE
        junk = good[:cut] + junk[cut:]
    try:
        share = vdaf.decode_input_share(0, junk)
    except VdafEncodingError:
        return
    with pytest.raises(VerificationFailed):
        _prep(vdaf, None, nonce, os.urandom(vdaf.VERIFY_KEY_SIZE), shares=(ps, [share, ins[1]]))
