"""The two XOFs PINE uses, in their VDAF-11 form.

* :class:`XofTurboShake128` — draft-irtf-cfrg-vdaf-11 §6.2.1: 16-byte seeds, and the absorbed
  string is ``le8(len(dst)) || dst || seed || binder`` under TurboSHAKE128 with domain byte 1.
  (Draft-20 uses 32-byte seeds and a two-byte dst length; that form lives in ``veil.vdaf.xof``.)
* :class:`XofHmacSha256Aes128` — defined by PINE's reference code
  (``poc/xof_hmac_sha256_aes128.py``, draft-chen-cfrg-vdaf-pine-02): 32-byte seeds,
  ``h = HMAC-SHA256(seed, le8(len(dst)) || dst || binder)``, and the output stream is
  AES-128-CTR over zeros with key ``h[0:16]`` and counter block ``h[16:32]`` whose last eight
  bytes are a big-endian 64-bit block counter that wraps without carrying into the first eight.

Both provide ``derive_seed`` and ``expand_into_vec`` (rejection sampling, VDAF-11 §6.2).
TurboSHAKE128 comes from pycryptodome; HMAC and AES from ``cryptography``.
"""

from __future__ import annotations

import hmac
from abc import ABC, abstractmethod
from hashlib import sha256

import numpy as np
from Crypto.Hash import TurboSHAKE128
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from veil.vdaf.field import Field


class Xof(ABC):
    """Common interface: construct from (seed, dst, binder), then read with :meth:`next`."""

    SEED_SIZE: int = 0

    @abstractmethod
    def __init__(self, seed: bytes, dst: bytes, binder: bytes) -> None:
        """Absorb the seed, domain-separation tag and binder (per XOF)."""

    @abstractmethod
    def next(self, length: int) -> bytes:
        """The next ``length`` output bytes."""

    @classmethod
    def _check(cls, seed: bytes, dst: bytes) -> None:
        if len(seed) != cls.SEED_SIZE:
            raise ValueError(f"{cls.__name__} seed must be {cls.SEED_SIZE} bytes, got {len(seed)}")
        if len(dst) > 255:
            raise ValueError("dst longer than 255 bytes")

    @classmethod
    def derive_seed(cls, seed: bytes, dst: bytes, binder: bytes) -> bytes:
        return cls(seed, dst, binder).next(cls.SEED_SIZE)

    def next_vec(self, fld: type[Field], length: int) -> np.ndarray:
        """``length`` field elements by rejection sampling, continuing this stream."""
        parts = []
        have = 0
        while have < length:
            want = length - have
            # Read a little extra when rejections are likely, so few rounds are needed.
            extra = 0 if 0.999 * (1 << (fld.MODULUS.bit_length())) < fld.MODULUS else want // 64 + 4
            cand = fld.from_uniform_bytes(self.next((want + extra) * fld.ENCODED_SIZE))
            parts.append(cand)
            have += len(cand)
        out = np.concatenate(parts) if len(parts) > 1 else parts[0]
        if len(out) > length:
            # Over-read: the elements past ``length`` must not be consumed in the reference
            # stream either, but expand_into_vec creates a fresh XOF, so nothing follows.
            out = out[:length]
        return out

    @classmethod
    def expand_into_vec(
        cls, fld: type[Field], seed: bytes, dst: bytes, binder: bytes, length: int
    ) -> np.ndarray:
        return cls(seed, dst, binder).next_vec(fld, length)


class XofTurboShake128(Xof):
    """VDAF-11 XofTurboShake128 (16-byte seeds, one-byte dst length, domain byte 1)."""

    SEED_SIZE = 16

    def __init__(self, seed: bytes, dst: bytes, binder: bytes) -> None:
        self._check(seed, dst)
        self._h = TurboSHAKE128.new(domain=1)
        self._h.update(bytes([len(dst)]) + dst + seed + binder)

    def next(self, length: int) -> bytes:
        return self._h.read(length) if length else b""


class XofHmacSha256Aes128(Xof):
    """PINE's XofHmacSha256Aes128 (32-byte seeds, HMAC-SHA256 then AES-128-CTR)."""

    SEED_SIZE = 32

    def __init__(self, seed: bytes, dst: bytes, binder: bytes) -> None:
        self._check(seed, dst)
        h = hmac.new(seed, bytes([len(dst)]) + dst + binder, sha256).digest()
        self._key = h[:16]
        self._nonce = h[16:24]
        self._counter = int.from_bytes(h[24:32], "big")  # next block's 64-bit counter
        self._buf = b""  # unread keystream bytes of the current block
        self._enc = self._encryptor(self._counter)
        self._blocks_to_wrap = 2**64 - self._counter

    def _encryptor(self, counter: int):
        iv = self._nonce + counter.to_bytes(8, "big")
        return Cipher(algorithms.AES(self._key), modes.CTR(iv)).encryptor()

    def _blocks(self, n: int) -> bytes:
        """Next ``n`` keystream blocks; the 64-bit counter wraps as in pycryptodome's CTR."""
        out = []
        while n:
            take = min(n, self._blocks_to_wrap)
            out.append(self._enc.update(bytes(16 * take)))
            n -= take
            self._blocks_to_wrap -= take
            if self._blocks_to_wrap == 0:
                self._enc = self._encryptor(0)
                self._blocks_to_wrap = 2**64
        return b"".join(out)

    def next(self, length: int) -> bytes:
        if length <= len(self._buf):
            out, self._buf = self._buf[:length], self._buf[length:]
            return out
        need = length - len(self._buf)
        stream = self._buf + self._blocks((need + 15) // 16)
        out, self._buf = stream[:length], stream[length:]
        return out
