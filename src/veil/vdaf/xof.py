"""Extendable-output functions of draft-irtf-cfrg-vdaf-20 §6.2.

Public API (stable; PINE adds its VDAF-11 XOFs beside these, same interface):

* ``Xof(seed, dst, binder)`` — an XOF stream; ``.next(length) -> bytes`` and
  ``.next_vec(field, length) -> vector`` (rejection sampling, §6.2).
* Class methods ``derive_seed(seed, dst, binder) -> bytes`` (the first ``SEED_SIZE``
  bytes) and ``expand_into_vec(field, seed, dst, binder, length) -> vector``.
* ``SEED_SIZE`` class constant.

:class:`XofTurboShake128` (§6.2.1) absorbs ``le16(len(dst)) || dst || le8(len(seed))
|| seed || binder`` with TurboSHAKE128 domain byte 0x01 (the draft's code block
misses a ``+`` after ``dst``; this layout is the intended one and the one the
official vectors use). :class:`XofFixedKeyAes128` (§6.2.2) derives an AES-128 key
as TurboSHAKE128(``le16(len(dst)) || dst || binder``, D=0x02) and hashes the
counter blocks ``seed ⊕ le128(i)`` with the fixed-key construction
``AES(σ(x)) ⊕ σ(x)``, ``σ(lo||hi) = hi || (hi ⊕ lo)``.

TurboSHAKE128 comes from pycryptodome, AES from ``cryptography``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np
from Crypto.Hash import TurboSHAKE128
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from veil.errors import VdafError
from veil.vdaf.field import Field, Vec


class Xof(ABC):
    """Base class: a seeded byte stream with rejection sampling into a field."""

    SEED_SIZE: ClassVar[int]

    @abstractmethod
    def __init__(self, seed: bytes, dst: bytes, binder: bytes) -> None:
        """Absorb the seed, domain-separation tag and binder (per XOF)."""

    @abstractmethod
    def next(self, length: int) -> bytes:
        """The next ``length`` output bytes."""

    def next_vec(self, field: type[Field], length: int) -> Vec:
        """``length`` field elements by rejection sampling, consuming exactly the bytes
        the draft's element-by-element loop would consume."""
        size = field.ENCODED_SIZE
        parts: list[Vec] = []
        have = 0
        while have < length:
            want = length - have
            got = field.from_uniform_bytes(self.next(want * size))
            parts.append(got)
            have += field.length(got)
        if not parts:
            return field.zeros(0)
        return np.concatenate(parts, axis=0)

    @classmethod
    def derive_seed(cls, seed: bytes, dst: bytes, binder: bytes) -> bytes:
        return cls(seed, dst, binder).next(cls.SEED_SIZE)

    @classmethod
    def expand_into_vec(
        cls, field: type[Field], seed: bytes, dst: bytes, binder: bytes, length: int
    ) -> Vec:
        return cls(seed, dst, binder).next_vec(field, length)

    @classmethod
    def _check_seed(cls, seed: bytes) -> None:
        if len(seed) != cls.SEED_SIZE:
            raise VdafError(
                f"{cls.__name__} seed must be {cls.SEED_SIZE} bytes, got {len(seed)}",
                operation="xof",
            )


class XofTurboShake128(Xof):
    """draft-20 §6.2.1 XofTurboShake128 (32-byte seeds)."""

    SEED_SIZE = 32

    def __init__(self, seed: bytes, dst: bytes, binder: bytes) -> None:
        self._check_seed(seed)
        if len(dst) >= 1 << 16:
            raise VdafError("dst too long", operation="xof")
        self._h = TurboSHAKE128.new(domain=1)
        self._h.update(
            len(dst).to_bytes(2, "little") + dst + len(seed).to_bytes(1, "little") + seed + binder
        )

    def next(self, length: int) -> bytes:
        return self._h.read(length) if length else b""


def _sigma(blocks: np.ndarray) -> np.ndarray:
    lo, hi = blocks[:, :8], blocks[:, 8:]
    return np.concatenate([hi, hi ^ lo], axis=1)


class XofFixedKeyAes128(Xof):
    """draft-20 §6.2.2 XofFixedKeyAes128 (16-byte seeds; fixed-key AES-128 in a
    counter-like mode). Faster than TurboSHAKE where AES-NI is available."""

    SEED_SIZE = 16

    def __init__(self, seed: bytes, dst: bytes, binder: bytes) -> None:
        self._check_seed(seed)
        if len(dst) >= 1 << 16:
            raise VdafError("dst too long", operation="xof")
        h = TurboSHAKE128.new(domain=2)
        h.update(len(dst).to_bytes(2, "little") + dst + binder)
        key = h.read(16)
        self._enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305
        self._seed = np.frombuffer(seed, dtype=np.uint8)
        self._consumed = 0

    def _blocks(self, first: int, count: int) -> bytes:
        idx = np.arange(first, first + count, dtype=np.uint64)
        ctr = np.zeros((count, 16), dtype=np.uint8)
        ctr[:, :8] = idx.astype("<u8").view(np.uint8).reshape(count, 8)
        sig = _sigma(ctr ^ self._seed[None, :])
        enc = np.frombuffer(self._enc.update(sig.tobytes()), dtype=np.uint8).reshape(count, 16)
        return (enc ^ sig).tobytes()

    def next(self, length: int) -> bytes:
        if length == 0:
            return b""
        start = self._consumed
        end = start + length
        first, last = start // 16, (end - 1) // 16
        stream = self._blocks(first, last - first + 1)
        self._consumed = end
        off = start - first * 16
        return stream[off : off + length]
