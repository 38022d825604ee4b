"""AES-256-GCM in the STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár, CRYPTO 2015).

Implements the *Payload* section of docs/format-sealed.md: 64 KiB chunks, nonce = 11-byte
big-endian counter ‖ last-chunk flag. Memory stays constant (a few chunk buffers) for any
input size; every chunk is authenticated before its plaintext is handed on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from veil.errors import IntegrityError

CHUNK = 64 * 1024
TAG = 16
CT_CHUNK = CHUNK + TAG
_MAX_COUNTER = 1 << 88
_READ_BLOCK = 16 * CT_CHUNK  # ~1 MiB reads keep syscalls few without growing memory


def nonce(counter: int, last: bool) -> bytes:
    """STREAM nonce: counter as 11 bytes big-endian, then 0x01 for the last chunk else 0x00."""
    if counter >= _MAX_COUNTER:
        raise IntegrityError("too many chunks")
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def _truncated() -> IntegrityError:
    return IntegrityError("payload is truncated, reordered, extended or tampered with")


def _read_full(src: BinaryIO, view: memoryview) -> int:
    """Fill ``view`` from ``src`` as far as the stream allows; return the byte count."""
    got = 0
    while got < len(view):
        n = src.readinto(view[got:])  # type: ignore[attr-defined]
        if not n:
            break
        got += n
    return got


def encrypt_stream(key: bytes, src: BinaryIO, write: Callable[[bytes | memoryview], object]) -> int:
    """Encrypt all of ``src`` chunk by chunk, handing each sealed chunk to ``write``.

    Returns the number of plaintext bytes. One chunk of lookahead decides which chunk is last.
    """
    aead = AESGCM(key)
    bufs = (bytearray(CHUNK), bytearray(CHUNK))
    out = bytearray(CT_CHUNK)
    out_view = memoryview(out)
    cur = 0
    n_cur = _read_full(src, memoryview(bufs[cur]))
    counter = total = 0
    while True:
        nxt = 1 - cur
        # only a full chunk can be followed by another one
        n_next = _read_full(src, memoryview(bufs[nxt])) if n_cur == CHUNK else 0
        last = n_next == 0
        aead.encrypt_into(
            nonce(counter, last), memoryview(bufs[cur])[:n_cur], None, out_view[: n_cur + TAG]
        )
        write(out_view[: n_cur + TAG])
        total += n_cur
        if last:
            return total
        counter += 1
        cur, n_cur = nxt, n_next


def decrypt_stream(
    key: bytes,
    src: BinaryIO,
    write: Callable[[memoryview], object],
    *,
    trailer: int = 0,
    observe: Callable[[memoryview], object] | None = None,
) -> bytes:
    """Decrypt a STREAM payload, calling ``write`` with each chunk's plaintext once authentic.

    ``trailer`` bytes after the last chunk are returned (the optional signature); anything
    else after the last chunk, a missing last chunk or an empty last chunk after a full one
    raises :class:`IntegrityError`. ``observe`` sees every ciphertext chunk (for hashing).
    """
    aead = AESGCM(key)
    buf = bytearray(_READ_BLOCK + CT_CHUNK + trailer + 1)
    view = memoryview(buf)
    out = bytearray(CHUNK)
    out_view = memoryview(out)
    have = _read_full(src, view)
    counter = 0
    while True:
        pos = 0
        # a chunk is certainly not the last while more than CT_CHUNK + trailer bytes follow it
        while have - pos > CT_CHUNK + trailer:
            chunk = view[pos : pos + CT_CHUNK]
            try:
                aead.decrypt_into(nonce(counter, False), chunk, None, out_view)
            except InvalidTag:
                raise _truncated() from None
            if observe is not None:
                observe(chunk)
            write(out_view)
            counter += 1
            pos += CT_CHUNK
        rest = have - pos
        buf[:rest] = buf[pos:have]
        got = _read_full(src, view[rest:])
        have = rest + got
        if got == 0:
            break
    # what is left is the last chunk followed by the trailer
    size = have - trailer
    if size < TAG or (size == TAG and counter > 0):
        raise _truncated()
    chunk = view[:size]
    try:
        aead.decrypt_into(nonce(counter, True), chunk, None, out_view[: size - TAG])
    except InvalidTag:
        raise _truncated() from None
    if observe is not None:
        observe(chunk)
    write(out_view[: size - TAG])
    return bytes(view[size:have])
