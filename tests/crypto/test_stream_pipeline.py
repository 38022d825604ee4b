"""The pipelined STREAM engine: same bytes as the spec for any thread count, bounded, tamper-evident.

Small batches (2–3 chunks) make streams of a few hundred KiB cross many batch boundaries,
so every path of the pipeline (read-ahead, trailer split over two batches, ordered writer,
failure in a middle batch) runs in milliseconds.
"""

from __future__ import annotations

import io
import os
import time

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import veil
from veil.crypto.stream import (
    BATCH,
    CHUNK,
    CT_CHUNK,
    TAG,
    decrypt_stream,
    encrypt_stream,
    nonce,
)
from veil.errors import IntegrityError

KEY = bytes(range(32))
SIG = 64  # the signature trailer
CONFIGS = [(1, 2), (2, 2), (2, 3), (3, 5)]  # (workers, batch)
SIZES = [CHUNK + 1, 2 * CHUNK, 4 * CHUNK, 4 * CHUNK + 1, 6 * CHUNK - 1, 13 * CHUNK + 77]


def _reference(data: bytes) -> bytes:
    """The payload as docs/format-sealed.md defines it, one chunk at a time."""
    aead = AESGCM(KEY)
    n = max(1, -(-len(data) // CHUNK))
    return b"".join(
        aead.encrypt(nonce(i, i == n - 1), data[i * CHUNK : (i + 1) * CHUNK], None)
        for i in range(n)
    )


def _seal(data: bytes, **kw: int) -> bytes:
    out = io.BytesIO()
    assert encrypt_stream(KEY, io.BytesIO(data), out.write, **kw) == len(data)
    return out.getvalue()


def _open(blob: bytes, out: io.BytesIO | None = None, **kw: int) -> tuple[bytes, bytes]:
    out = out if out is not None else io.BytesIO()
    trailer = decrypt_stream(KEY, io.BytesIO(blob), out.write, **kw)
    return out.getvalue(), trailer


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize(("workers", "batch"), CONFIGS)
def test_any_thread_count_writes_the_spec_bytes(size: int, workers: int, batch: int) -> None:
    data = os.urandom(size)
    sealed = _seal(data, workers=workers, batch=batch)
    assert sealed == _reference(data) == _seal(data)  # the default configuration too
    assert _open(sealed, workers=workers, batch=batch) == (data, b"")


@pytest.mark.parametrize(("workers", "batch"), CONFIGS)
def test_trailer_split_across_batches(workers: int, batch: int) -> None:
    """A signature that starts in one batch and ends in the next is found and returned."""
    sig = os.urandom(SIG)
    for n_ct in range(batch * CT_CHUNK - SIG - 20, batch * CT_CHUNK + 20, 7):
        chunks, rem = divmod(n_ct, CT_CHUNK)
        if rem and rem <= TAG:
            continue  # not a valid payload length
        data = os.urandom(chunks * CHUNK + max(0, rem - TAG))
        sealed = _reference(data)
        assert len(sealed) == n_ct
        got = _open(sealed + sig, trailer=SIG, workers=workers, batch=batch)
        assert got == (data, sig)


@pytest.mark.parametrize(("workers", "batch"), CONFIGS)
@pytest.mark.parametrize("damage", ["flip", "swap", "drop", "truncate", "extend"])
def test_damage_in_a_middle_batch_releases_only_earlier_chunks(
    workers: int, batch: int, damage: str
) -> None:
    data = os.urandom(20 * CHUNK + 5)
    sealed = bytearray(_reference(data))
    k = 11  # the damaged chunk, in a middle batch for every configuration
    at = k * CT_CHUNK
    if damage == "flip":
        sealed[at + 100] ^= 1
    elif damage == "swap":
        sealed[at : at + 2 * CT_CHUNK] = (
            sealed[at + CT_CHUNK : at + 2 * CT_CHUNK] + sealed[at : at + CT_CHUNK]
        )
    elif damage == "drop":
        del sealed[at : at + CT_CHUNK]
    elif damage == "truncate":
        del sealed[at:]
    else:
        sealed += os.urandom(CT_CHUNK)
    out = io.BytesIO()
    with pytest.raises(IntegrityError):
        _open(bytes(sealed), out, workers=workers, batch=batch)
    released = out.getvalue()
    assert data.startswith(released) and len(released) % CHUNK == 0
    if damage != "extend":
        assert len(released) <= k * CHUNK  # nothing at or after the damaged chunk


def test_a_large_tampered_file_leaves_nothing_on_disk(identities, tmp_path) -> None:
    """Default batches, several of them: a flipped bit in a middle one, opened to a path."""
    x = identities["x25519"]
    data = os.urandom(5 * BATCH * CHUNK + 123)
    blob = bytearray(veil.seal(data, [x.recipient()]))
    blob[len(blob) // 2] ^= 0x40
    with pytest.raises(IntegrityError):
        veil.open_stream(io.BytesIO(bytes(blob)), tmp_path / "out.bin", [x])
    assert list(tmp_path.iterdir()) == []
    target = tmp_path / "ok.bin"
    veil.open_stream(io.BytesIO(veil.seal(data, [x.recipient()])), target, [x])
    assert target.read_bytes() == data


def test_a_large_signed_file_round_trips(identities, signer) -> None:
    x = identities["x25519"]
    data = os.urandom(3 * BATCH * CHUNK + 9)
    blob = veil.seal(data, [x.recipient()], sign_with=signer)
    out = io.BytesIO()
    opened = veil.open_stream(io.BytesIO(blob), out, [x], verify_sender=signer.recipient())
    assert out.getvalue() == data and opened.signer == signer.recipient()


class _CountingReader(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.read_bytes = 0

    def readinto(self, buf) -> int:  # type: ignore[override]
        n = super().readinto(buf)
        self.read_bytes += n
        return n


@pytest.mark.parametrize("op", ["seal", "open"])
@pytest.mark.parametrize("workers", [1, 2])
def test_read_ahead_is_bounded_by_a_slow_writer(op: str, workers: int) -> None:
    """With a writer slower than everything else, at most depth + 1 batches are read ahead."""
    batch = 2
    data = os.urandom(40 * CHUNK)
    src = _CountingReader(data if op == "seal" else _reference(data))
    unit = CHUNK if op == "seal" else CT_CHUNK
    # depth + 1 buffer pairs and the probe; tags make ciphertext outgrow the plaintext written
    bound = (workers + 3) * batch * unit + CT_CHUNK + 1 + 40 * TAG
    written = 0
    worst = 0

    def write(b: bytes | memoryview) -> None:
        nonlocal written, worst
        time.sleep(0.002)
        written += len(b)
        worst = max(worst, src.read_bytes - written)

    if op == "seal":
        encrypt_stream(KEY, src, write, workers=workers, batch=batch)
    else:
        decrypt_stream(KEY, src, write, workers=workers, batch=batch)
    assert 0 < worst <= bound
