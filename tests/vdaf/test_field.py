"""Field arithmetic against a Python-int reference (hypothesis), NTT against naive DFT."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.errors import VdafEncodingError
from veil.vdaf.field import Field32, Field40, Field64, Field128

FIELDS = [Field32, Field40, Field64, Field128]


def elems(F):
    p = F.MODULUS
    return st.one_of(st.integers(0, p - 1), st.sampled_from([0, 1, 2, p - 1, p - 2, p // 2]))


@pytest.mark.parametrize("F", FIELDS, ids=lambda f: f.__name__)
def test_arithmetic_matches_reference(F):
    p = F.MODULUS

    @settings(max_examples=60, deadline=None)
    @given(st.lists(st.tuples(elems(F), elems(F)), min_size=1, max_size=40))
    def check(pairs):
        xs = [x for x, _ in pairs]
        ys = [y for _, y in pairs]
        a, b = F.vec(xs), F.vec(ys)
        assert F.to_ints(F.add(a, b)) == [(x + y) % p for x, y in pairs]
        assert F.to_ints(F.sub(a, b)) == [(x - y) % p for x, y in pairs]
        assert F.to_ints(F.mul(a, b)) == [x * y % p for x, y in pairs]
        assert F.to_ints(F.neg(a)) == [-x % p for x in xs]
        assert F.to_int(F.sum(a)) == sum(xs) % p
        assert F.to_int(F.inner(a, b)) == sum(x * y for x, y in pairs) % p
        assert F.to_ints(F.pow(a, 5)) == [pow(x, 5, p) for x in xs]
        assert F.to_ints(F.decode_vec(F.encode_vec(a))) == xs
        for x in xs:
            if x:
                assert F.inv(x) * x % p == 1

    check()


@pytest.mark.parametrize("F", FIELDS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("n", [1, 2, 8, 32])
def test_ntt_matches_naive(F, n):
    import random

    rng = random.Random(n)
    p = F.MODULUS
    c = [rng.randrange(p) for _ in range(n)]
    w = F.root(n)
    naive = [sum(ci * pow(w, i * k, p) for i, ci in enumerate(c)) % p for k in range(n)]
    assert F.to_ints(F.ntt(F.vec(c), n)) == naive
    assert F.to_ints(F.intt(F.vec(naive))) == c
    s = F.root(2 * n)
    coset = [sum(ci * pow(s * pow(w, k, p), i, p) for i, ci in enumerate(c)) % p for k in range(n)]
    assert F.to_ints(F.ntt_coset(F.vec(c), n)) == coset
    batch = F.vec([c, c[::-1]])
    got = F.ntt(batch, n)
    assert F.to_ints(got[0]) == naive
    assert F.to_ints(F.poly_eval(F.vec(c), 12345)) == [
        sum(ci * pow(12345, i, p) for i, ci in enumerate(c)) % p
    ]


@pytest.mark.parametrize("F", FIELDS, ids=lambda f: f.__name__)
def test_generator_order(F):
    g = F.gen()
    assert pow(g, F.GEN_ORDER, F.MODULUS) == 1
    assert pow(g, F.GEN_ORDER // 2, F.MODULUS) != 1


@pytest.mark.parametrize("F", FIELDS, ids=lambda f: f.__name__)
def test_decode_rejects_out_of_field_and_bad_length(F):
    too_big = F.MODULUS.to_bytes(F.ENCODED_SIZE, "little")
    with pytest.raises(VdafEncodingError):
        F.decode_vec(too_big, operation="verify_init")
    with pytest.raises(VdafEncodingError) as ei:
        F.decode_vec(b"\x00" * (F.ENCODED_SIZE + 1), operation="verify_init")
    assert ei.value.operation == "verify_init"


def test_field40_modulus_is_the_prime():
    # 2^20·1048555 + 1 (the PINE README's decimal 1099510579201 is a typo: not prime)
    assert Field40.MODULUS == 1099489607681


def test_bit_vectors():
    F = Field64
    bits = F.vec(F.encode_into_bit_vec(200, 8))
    assert F.to_int(F.decode_from_bit_vec(bits)) == 200
    with pytest.raises(ValueError):
        F.encode_into_bit_vec(256, 8)


@pytest.mark.parametrize("F", [Field64, Field128], ids=lambda f: f.__name__)
def test_products_at_limb_boundaries(F):
    """The compiled reductions against Python ints on structured edge values."""
    import random

    p = F.MODULUS
    rng = random.Random(7)
    special = [0, 1, 2, p - 1, p - 2, (p - 1) // 2]
    for k in range(0, p.bit_length()):
        special += [(1 << k) % p, (p - (1 << k)) % p, ((1 << k) - 1) % p]
    xs = special + [rng.randrange(p) for _ in range(20000)]
    ys = [rng.choice(special) if i % 3 == 0 else rng.randrange(p) for i in range(len(xs))]
    got = F.to_ints(F.mul(F.vec(xs), F.vec(ys)))
    assert got == [x * y % p for x, y in zip(xs, ys, strict=True)]
    sq = F.to_ints(
        F.mul(
            F.vec(special), F.vec(special)[:, None] if F.LIMBS == 1 else F.vec(special)[:, None, :]
        )
    )
    assert sq == [x * y % p for x in special for y in special]


@pytest.mark.parametrize("F", FIELDS, ids=lambda f: f.__name__)
def test_vec_from_numpy_integer_arrays(F):
    import numpy as np

    p = F.MODULUS
    a = np.array([0, 1, -1, -5, 2**62, -(2**63), 2**63 - 1], dtype=np.int64)
    assert F.to_ints(F.vec(a)) == [int(x) % p for x in a]
    b = np.array([0, 2**64 - 1, 7], dtype=np.uint64)
    assert F.to_ints(F.vec(b)) == [int(x) % p for x in b]
    assert F.to_ints(F.vec(np.array([True, False]))) == [1, 0]
    assert F.to_ints(F.vec(np.array([-3, 4], dtype=np.int8))) == [p - 3, 4]
    assert F.vec(a.reshape(7, 1)).shape[:2] == (7, 1)
