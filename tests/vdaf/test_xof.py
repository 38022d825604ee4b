"""XOFs against the official vectors, and streaming consistency."""

from __future__ import annotations

import json

import pytest

from veil.vdaf.field import Field64, Field128
from veil.vdaf.xof import XofFixedKeyAes128, XofTurboShake128


@pytest.mark.parametrize("xof", [XofTurboShake128, XofFixedKeyAes128], ids=lambda x: x.__name__)
def test_official_vector(vdaf_vectors, xof):
    v = json.loads((vdaf_vectors / f"{xof.__name__}.json").read_text())
    seed, dst, binder = (bytes.fromhex(v[k]) for k in ("seed", "dst", "binder"))
    assert xof.derive_seed(seed, dst, binder).hex() == v["derived_seed"]
    out = xof.expand_into_vec(Field128, seed, dst, binder, v["length"])
    assert Field128.encode_vec(out).hex() == v["expanded_vec_field128"]


@pytest.mark.parametrize("xof", [XofTurboShake128, XofFixedKeyAes128], ids=lambda x: x.__name__)
def test_streaming_is_consistent(xof):
    seed = bytes(range(xof.SEED_SIZE))
    x = xof(seed, b"d", b"b")
    pieces = x.next(3) + x.next(17) + x.next(0) + x.next(44)
    assert pieces == xof(seed, b"d", b"b").next(64)
    x = xof(seed, b"d", b"b")
    v1 = x.next_vec(Field64, 10)
    v2 = x.next_vec(Field64, 10)
    both = xof(seed, b"d", b"b").next_vec(Field64, 20)
    assert Field64.to_ints(v1) + Field64.to_ints(v2) == Field64.to_ints(both)
