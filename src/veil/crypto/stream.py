"""AES-256-GCM in the STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár, CRYPTO 2015).

Implements the *Payload* section of docs/format-sealed.md: 64 KiB chunks, nonce = 11-byte
big-endian counter ‖ last-chunk flag. Large streams go through a bounded pipeline: the
calling thread reads 1 MiB batches, a pool thread seals or opens them, and a writer thread
emits them strictly in order, so reading, AEAD and writing overlap (their calls release the
GIL) and the output is byte for byte what one thread would write. Memory stays constant (a
few batch buffers) for any input size; every chunk is authenticated before its plaintext is
handed on, and nothing after a failed chunk is.

One AEAD thread is the default: AES-GCM runs at > 10 GB/s a core, and a second AEAD thread
gains nothing measurable, since each 64 KiB call is too short to amortise handing the GIL
back and forth (docs/benchmarks.md).
"""

from __future__ import annotations

import queue
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from types import TracebackType
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from veil.errors import IntegrityError

CHUNK = 64 * 1024
TAG = 16
CT_CHUNK = CHUNK + TAG
_MAX_COUNTER = 1 << 88
BATCH = 16  # chunks per batch: 1 MiB reads and writes keep system calls and hand-offs few
SLACK = 2  # batches in flight beyond one per worker: one queued for AEAD, one being written
DEFAULT_WORKERS = 1  # AEAD threads; the reader and the writer are two more


def nonce(counter: int, last: bool) -> bytes:
    """STREAM nonce: counter as 11 bytes big-endian, then 0x01 for the last chunk else 0x00."""
    if counter >= _MAX_COUNTER:
        raise IntegrityError("too many chunks")
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def default_workers() -> int:
    """AEAD threads when the caller does not choose: one (see the module docstring)."""
    return DEFAULT_WORKERS


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


class _Buffers:
    """One batch's input and output buffers, reused from batch to batch (no page faults)."""

    def __init__(self, in_size: int, out_size: int) -> None:
        self.inp = bytearray(in_size)
        self.out = bytearray(out_size)
        self.in_view = memoryview(self.inp)
        self.out_view = memoryview(self.out)


class _Pipeline:
    """Batches sealed or opened by a thread pool, emitted by one writer thread in order.

    A batch has a ``work`` part (AEAD: any pool thread, any order) and an ``emit`` part
    (hashing, writing) that the writer runs in submission order, after ``work`` succeeded and
    only if every earlier batch emitted; otherwise it re-raises the first error and writes
    nothing. Reading (the caller), AEAD and writing thus overlap; large reads and writes
    release the GIL for long. At most ``depth`` batches are in flight and the caller holds one
    more buffer pair, so memory is bounded by ``depth + 1`` pairs whatever the input size.
    """

    def __init__(self, workers: int | None, in_size: int, out_size: int) -> None:
        self.workers = default_workers() if workers is None else max(1, workers)
        self.depth = self.workers + SLACK
        self._sizes = (in_size, out_size)
        self._free: queue.SimpleQueue[_Buffers] = queue.SimpleQueue()
        self._pending: deque[Future[None]] = deque()
        self._pool: ThreadPoolExecutor | None = None
        self._writer: ThreadPoolExecutor | None = None
        self.allocated = 0  # buffer pairs ever made: the memory bound the tests check

    def __enter__(self) -> _Pipeline:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # on an error, batches not started are dropped; started ones find it upstream
        for ex in (self._writer, self._pool):
            if ex is not None:
                ex.shutdown(wait=True, cancel_futures=exc is not None)

    def buffers(self) -> _Buffers:
        """A free buffer pair; waits for the oldest batch first when ``depth`` are in flight."""
        while len(self._pending) >= self.depth:
            self._pending.popleft().result()
        try:
            return self._free.get_nowait()
        except queue.Empty:
            self.allocated += 1
            return _Buffers(*self._sizes)

    def release(self, bufs: _Buffers) -> None:
        self._free.put(bufs)

    def submit(
        self, bufs: _Buffers, work: Callable[[], object], emit: Callable[[], object]
    ) -> None:
        """Run ``work`` in the pool, then ``emit`` on the writer after the previous batch."""
        if self._pool is None or self._writer is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="veil-aead")
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="veil-write")
        prev = self._pending[-1] if self._pending else None
        done = self._pool.submit(work)

        def ordered() -> None:
            try:
                if prev is not None:
                    prev.result()  # already finished (one writer, in order): never after a failure
                done.result()
                emit()
            finally:
                wait([done])
                self._free.put(bufs)

        self._pending.append(self._writer.submit(ordered))

    def run_inline(
        self, bufs: _Buffers, work: Callable[[], object], emit: Callable[[], object]
    ) -> None:
        """The whole stream fits one batch: no thread is worth starting."""
        work()
        emit()
        self._free.put(bufs)

    def drain(self) -> None:
        """Wait for every batch in order, raising the first failure."""
        while self._pending:
            self._pending.popleft().result()


def encrypt_stream(
    key: bytes,
    src: BinaryIO,
    write: Callable[[bytes | memoryview], object],
    *,
    workers: int | None = None,
    batch: int = BATCH,
) -> int:
    """Encrypt all of ``src`` chunk by chunk, handing sealed chunks to ``write`` in order.

    Returns the number of plaintext bytes. ``write`` gets whole batches of sealed chunks
    (``batch`` chunks, ≥ 2), from a pool thread of ``workers`` (default: ``DEFAULT_WORKERS``). The
    batch after a full one is read before it is sealed: an empty read decides the last chunk.
    """
    aead = AESGCM(key)
    # probe one chunk (+1 byte) first: a small input never pays for batch buffers or threads
    first = bytearray(CHUNK + 1)
    have = _read_full(src, memoryview(first))
    if have <= CHUNK:
        sealed = bytearray(have + TAG)
        aead.encrypt_into(nonce(0, True), memoryview(first)[:have], None, sealed)
        write(sealed)
        return have
    batch = max(2, batch)
    size = batch * CHUNK
    total = counter = 0
    with _Pipeline(workers, size, batch * CT_CHUNK) as pipe:
        cur = pipe.buffers()
        cur.inp[:have] = first
        have += _read_full(src, cur.in_view[have:])
        while True:
            nxt, got = None, 0
            if have == size:
                nxt = pipe.buffers()
                got = _read_full(src, nxt.in_view)
            last = got == 0
            work, emit = _seal_batch(aead, cur, have, counter, last, write)
            if last and counter == 0:
                pipe.run_inline(cur, work, emit)
            else:
                pipe.submit(cur, work, emit)
            counter += -(-have // CHUNK)
            total += have
            if last:
                if nxt is not None:
                    pipe.release(nxt)
                pipe.drain()
                return total
            assert nxt is not None
            cur, have = nxt, got


def _seal_batch(
    aead: AESGCM,
    bufs: _Buffers,
    have: int,
    counter: int,
    last: bool,
    write: Callable[[bytes | memoryview], object],
) -> tuple[Callable[[], None], Callable[[], None]]:
    """Seal ``bufs.inp[:have]`` as chunks ``counter``…; the final one is last if ``last``."""
    n = -(-have // CHUNK)
    end = have + n * TAG

    def work() -> None:
        inp, out = bufs.in_view, bufs.out_view
        for k in range(n):
            a, b = k * CHUNK, min((k + 1) * CHUNK, have)
            o = k * CT_CHUNK
            flag = last and k == n - 1
            aead.encrypt_into(nonce(counter + k, flag), inp[a:b], None, out[o : o + b - a + TAG])

    def emit() -> None:
        write(bufs.out_view[:end])

    return work, emit


def decrypt_stream(
    key: bytes,
    src: BinaryIO,
    write: Callable[[memoryview], object],
    *,
    trailer: int = 0,
    observe: Callable[[memoryview], object] | None = None,
    workers: int | None = None,
    batch: int = BATCH,
) -> bytes:
    """Decrypt a STREAM payload, calling ``write`` with plaintext once it is authentic.

    ``write`` gets a batch's plaintext (``batch`` chunks, ≥ 2) only after every chunk in it
    and every earlier batch authenticated, in order, from a pool thread of ``workers``
    (default: ``DEFAULT_WORKERS``); the last chunk is written on its own, after all before it.
    ``trailer`` bytes after the last chunk are returned (the optional signature); anything
    else after the last chunk, a missing last chunk or an empty last chunk after a full one
    raises :class:`IntegrityError`. ``observe`` sees all the ciphertext, in order (for hashing).
    """
    aead = AESGCM(key)
    # probe one chunk (+ trailer + 1 byte) first: a small payload never pays for batch buffers
    probe_len = CT_CHUNK + trailer + 1
    probe = bytearray(probe_len)
    have = _read_full(src, memoryview(probe))
    if have < probe_len:
        return _last_chunk(aead, memoryview(probe), have, 0, trailer, write, observe)
    batch = max(2, batch)
    size = batch * CT_CHUNK
    counter = 0
    with _Pipeline(workers, size, batch * CHUNK) as pipe:
        cur = pipe.buffers()
        cur.inp[:have] = probe
        have += _read_full(src, cur.in_view[have:])
        while True:
            nxt, got = None, 0
            if have == size:
                nxt = pipe.buffers()
                got = _read_full(src, nxt.in_view)
            if got > trailer:
                # more than a trailer follows this full batch: none of its chunks is the last
                work, emit = _open_batch(aead, cur, batch, counter, write, observe)
                pipe.submit(cur, work, emit)
                counter += batch
                assert nxt is not None
                cur, have = nxt, got
                continue
            # the payload ends in this batch: its last ``trailer - got`` bytes start the trailer
            end = have - trailer + got
            tail = bytes(cur.in_view[end:have])
            if nxt is not None:
                tail += bytes(nxt.in_view[:got])
                pipe.release(nxt)
            work, emit = _open_final(aead, cur, end, counter, write, observe)
            if counter == 0:
                pipe.run_inline(cur, work, emit)
            else:
                pipe.submit(cur, work, emit)
            pipe.drain()
            return tail


def _open_batch(
    aead: AESGCM,
    bufs: _Buffers,
    n: int,
    counter: int,
    write: Callable[[memoryview], object],
    observe: Callable[[memoryview], object] | None,
) -> tuple[Callable[[], None], Callable[[], None]]:
    """Open ``n`` full chunks, none of them the last, from ``bufs.inp``; chunk ``counter`` first."""

    def work() -> None:
        inp, out = bufs.in_view, bufs.out_view
        for k in range(n):
            try:
                aead.decrypt_into(
                    nonce(counter + k, False),
                    inp[k * CT_CHUNK : (k + 1) * CT_CHUNK],
                    None,
                    out[k * CHUNK : (k + 1) * CHUNK],
                )
            except InvalidTag:
                raise _truncated() from None

    def emit() -> None:
        if observe is not None:
            observe(bufs.in_view[: n * CT_CHUNK])
        write(bufs.out_view[: n * CHUNK])  # every chunk in the batch has authenticated

    return work, emit


def _open_final(
    aead: AESGCM,
    bufs: _Buffers,
    end: int,
    counter: int,
    write: Callable[[memoryview], object],
    observe: Callable[[memoryview], object] | None,
) -> tuple[Callable[[], None], Callable[[], None]]:
    """Open the batch ``bufs.inp[:end]`` that ends with the last chunk.

    The chunks before the last are opened in ``work``; the last is opened in ``emit``, after
    they were written, as one thread would (a tampered last chunk releases the ones before).
    """
    n = -(-end // CT_CHUNK)
    full = n - 1

    def work() -> None:
        _open_batch(aead, bufs, full, counter, write, observe)[0]()

    def emit() -> None:
        if full:
            if observe is not None:
                observe(bufs.in_view[: full * CT_CHUNK])
            write(bufs.out_view[: full * CHUNK])
        start = full * CT_CHUNK
        _last_chunk(aead, bufs.in_view[start:end], end - start, counter + full, 0, write, observe)

    return work, emit


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
