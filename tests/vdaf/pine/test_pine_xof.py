"""The VDAF-11 XOFs PINE uses: framing, streaming, counter wrap, rejection sampling."""

from __future__ import annotations

import hmac
from hashlib import sha256

import numpy as np
import pytest
from Crypto.Cipher import AES
from Crypto.Hash import TurboSHAKE128
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.vdaf.field import FIELDS
from veil.vdaf.pine.xof11 import XofHmacSha256Aes128, XofTurboShake128


def test_turboshake_vdaf11_framing() -> None:
    seed, dst, binder = bytes(range(16)), b"\x01\xff\xff\xff\xff\x00\x05", b"binder"
    h = TurboSHAKE128.new(domain=1)
    h.update(bytes([len(dst)]) + dst + seed + binder)  # one-byte dst length, no seed length
    assert XofTurboShake128(seed, dst, binder).next(100) == h.read(100)


def test_hmac_aes_framing() -> None:
    seed, dst, binder = bytes(range(32)), b"dst", b"binder"
    h = hmac.new(seed, bytes([3]) + dst + binder, sha256).digest()
    ctr = AES.new(h[:16], AES.MODE_CTR, nonce=h[16:24], initial_value=h[24:])
    assert XofHmacSha256Aes128(seed, dst, binder).next(100) == ctr.encrypt(bytes(100))


def test_hmac_aes_counter_wraps_without_carry() -> None:
    """Near 2^64 blocks the low counter wraps to 0 and the first 8 bytes stay fixed."""
    x = XofHmacSha256Aes128(bytes(32), b"d", b"")
    start = 2**64 - 3
    x._counter = start
    x._enc = x._encryptor(start)
    x._blocks_to_wrap = 2**64 - start
    got = x.next(16 * 7)
    ref = AES.new(x._key, AES.MODE_ECB)
    want = b"".join(
        ref.encrypt(x._nonce + ((start + i) % 2**64).to_bytes(8, "big")) for i in range(7)
    )
    assert got == want


@pytest.mark.parametrize("xof", [XofTurboShake128, XofHmacSha256Aes128])
@settings(max_examples=30, deadline=None)
@given(cuts=st.lists(st.integers(0, 70), max_size=6))
def test_stream_is_independent_of_read_sizes(xof, cuts) -> None:
    seed = bytes(xof.SEED_SIZE)
    whole = xof(seed, b"dst", b"b").next(sum(cuts))
    x = xof(seed, b"dst", b"b")
    assert b"".join(x.next(c) for c in cuts) == whole


@pytest.mark.parametrize("xof", [XofTurboShake128, XofHmacSha256Aes128])
def test_seed_size_enforced(xof) -> None:
    with pytest.raises(ValueError):
        xof(bytes(xof.SEED_SIZE + 1), b"", b"")
    with pytest.raises(ValueError):
        xof(bytes(xof.SEED_SIZE), bytes(256), b"")


@pytest.mark.parametrize("name", sorted(FIELDS))
@pytest.mark.parametrize("xof", [XofTurboShake128, XofHmacSha256Aes128])
def test_expand_into_vec_matches_one_at_a_time(name: str, xof) -> None:
    """Bulk rejection sampling equals the spec's element-by-element loop."""
    fld = FIELDS[name]
    seed = bytes(range(xof.SEED_SIZE))
    got = fld.to_ints(xof.expand_into_vec(fld, seed, b"dst", b"bind", 257))
    x = xof(seed, b"dst", b"bind")
    mask = (1 << (fld.MODULUS - 1).bit_length()) - 1
    want: list[int] = []
    while len(want) < 257:
        v = int.from_bytes(x.next(fld.ENCODED_SIZE), "little") & mask
        if v < fld.MODULUS:
            want.append(v)
    assert got == want


def test_rejection_actually_happens_for_field32() -> None:
    """Field32's p is below 2^32, so some candidates are rejected; order must be kept."""
    fld = FIELDS["Field32"]
    buf = XofTurboShake128(bytes(16), b"r", b"").next(4 * 200_000)
    cand = np.frombuffer(buf, dtype="<u4")
    assert np.any(cand >= fld.MODULUS)
    assert fld.to_ints(fld.from_uniform_bytes(buf)) == [int(v) for v in cand if v < fld.MODULUS]
