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
    """Encrypt all of ``src`` chunk by chunk, handing sealed chunks to ``write`` in batches.

    Returns the number of plaintext bytes. Reads and writes ~1 MiB at a time (few system
    calls); one byte of lookahead past a full chunk decides which chunk is the last.
    """
    aead = AESGCM(key)
    # probe one chunk (+1 byte) first: a small input never pays for the 1 MiB buffers
    first = bytearray(CHUNK + 1)
    have = _read_full(src, memoryview(first))
    if have <= CHUNK:
        sealed = bytearray(have + TAG)
        aead.encrypt_into(nonce(0, True), memoryview(first)[:have], None, sealed)
        write(sealed)
        return have
    batch = _READ_BLOCK // CT_CHUNK
    inp = bytearray(batch * CHUNK + 1)
    in_view = memoryview(inp)
    inp[:have] = first
    have += _read_full(src, in_view[have:])
    out = bytearray(batch * CT_CHUNK)
    out_view = memoryview(out)
    counter = total = 0
    while True:
        eof = have < len(inp)
        # with more input beyond this batch, every chunk in it is full and not the last
        n_chunks = max(1, -(-have // CHUNK)) if eof else batch
        o = 0
        for k in range(n_chunks):
            piece = in_view[k * CHUNK : min((k + 1) * CHUNK, have)]
            last = eof and k == n_chunks - 1
            aead.encrypt_into(nonce(counter, last), piece, None, out_view[o : o + len(piece) + TAG])
            o += len(piece) + TAG
            counter += 1
        write(out_view[:o])
        if eof:
            return total + have
        total += batch * CHUNK
        inp[0] = inp[-1]  # the lookahead byte starts the next batch
        have = 1 + _read_full(src, in_view[1:])


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
    # probe one chunk (+ trailer + 1 byte) first: a small payload never pays for 1 MiB buffers
    probe_len = CT_CHUNK + trailer + 1
    probe = bytearray(probe_len)
    have = _read_full(src, memoryview(probe))
    if have < probe_len:
        return _last_chunk(aead, memoryview(probe), have, 0, trailer, write, observe)
    buf = bytearray(_READ_BLOCK + probe_len)
    buf[:have] = probe
    view = memoryview(buf)
    have += _read_full(src, view[have:])
    out = bytearray(_READ_BLOCK // CT_CHUNK * CHUNK + CHUNK)
    out_view = memoryview(out)
    counter = 0
    while True:
        pos = o = 0
        # a chunk is certainly not the last while more than CT_CHUNK + trailer bytes follow it
        while have - pos > CT_CHUNK + trailer:
            chunk = view[pos : pos + CT_CHUNK]
            try:
                aead.decrypt_into(nonce(counter, False), chunk, None, out_view[o : o + CHUNK])
            except InvalidTag:
                raise _truncated() from None
            if observe is not None:
                observe(chunk)
            counter += 1
            pos += CT_CHUNK
            o += CHUNK
        if o:
            write(out_view[:o])  # every chunk in the batch has authenticated
        rest = have - pos
        buf[:rest] = buf[pos:have]
        got = _read_full(src, view[rest:])
        have = rest + got
        if got == 0:
            break
    return _last_chunk(aead, view, have, counter, trailer, write, observe)


def _last_chunk(
    aead: AESGCM,
    view: memoryview,
    have: int,
    counter: int,
    trailer: int,
    write: Callable[[memoryview], object],
    observe: Callable[[memoryview], object] | None,
) -> bytes:
    """Open the last chunk (``view[:have]`` is it plus the trailer); return the trailer."""
    size = have - trailer
    if size < TAG or (size == TAG and counter > 0):
        raise _truncated()
    chunk = view[:size]
    plain = bytearray(size - TAG)
    try:
        aead.decrypt_into(nonce(counter, True), chunk, None, plain)
    except InvalidTag:
        raise _truncated() from None
    if observe is not None:
        observe(chunk)
    write(memoryview(plain))
    return bytes(view[size:have])
