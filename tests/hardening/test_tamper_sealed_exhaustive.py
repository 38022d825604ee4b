"""Exhaustive tamper suite for the sealed format (docs/format-sealed.md).

* every bit of a header — one recipient, and two recipients (X25519 + ML-KEM-768+X25519)
  with a signer line — flipped, opened through the public API to a path: IntegrityError,
  and no file (no target, no temporary) is left behind;
* every bit of the first and the last chunk of a three-chunk file, flipped, rejected by the
  STREAM layer with veil's own payload key and nonces (a white-box loop, ~10 µs a flip:
  over a million flips, far too many for a full open each);
* the same two chunks through the public API, to a path and to a stream, at every bit of
  their first and last 32 bytes (the ciphertext edge and the whole tag) and at one byte in
  every 509: IntegrityError, nothing on disk, and to a stream only the chunks before the
  tampered one (authentic) are released.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import veil
from veil.crypto.header import read_header
from veil.crypto.seal import _payload_key, _unwrap
from veil.crypto.stream import CHUNK, CT_CHUNK, nonce
from veil.errors import IntegrityError

PLAINTEXT = os.urandom(3 * CHUNK - 100)  # chunks of 64 KiB, 64 KiB and 64 KiB − 100


def _header_len(blob: bytes) -> int:
    return blob.index(b"\n", blob.index(b"\n---") + 1) + 1


@pytest.fixture(scope="module")
def three_chunks(identities):
    x = identities["x25519"]
    blob = veil.seal(PLAINTEXT, [x.recipient()])
    h = _header_len(blob)
    assert len(blob) - h == 3 * (CHUNK + 16) - 100  # three chunks, the last one short
    return x, blob, h


def _flip(blob: bytes, byte: int, bit: int) -> bytes:
    bad = bytearray(blob)
    bad[byte] ^= 1 << bit
    return bytes(bad)


def _open_to_path_fails_and_leaves_nothing(blob: bytes, ident, folder: Path) -> None:
    with pytest.raises(IntegrityError):
        veil.open_stream(io.BytesIO(blob), folder / "out.bin", [ident])
    leftovers = list(folder.iterdir())
    assert leftovers == [], leftovers


def _every_header_bit(blob: bytes, ident, folder: Path) -> int:
    h = _header_len(blob)
    for i in range(h * 8):
        _open_to_path_fails_and_leaves_nothing(_flip(blob, i // 8, i % 8), ident, folder)
    return h * 8


def test_every_header_bit_one_recipient(three_chunks, tmp_path: Path) -> None:
    x, blob, h = three_chunks
    assert _every_header_bit(blob, x, tmp_path) == h * 8


@pytest.mark.slow
def test_every_header_bit_two_recipients_signed(identities, signer, tmp_path: Path) -> None:
    x, m = identities["x25519"], identities["mlkem768-x25519"]
    blob = veil.seal(b"small", [x.recipient(), m.recipient()], sign_with=signer)
    header = blob[: _header_len(blob)]
    assert header.count(b"\n-> ") == 2 and b"\nsigned-by ed25519 " in header
    for ident in (x, m):  # each recipient's own stanza, the other's, the signer line, the MAC
        _every_header_bit(blob, ident, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("which", ["first", "last"])
def test_every_bit_of_a_chunk_is_authenticated(three_chunks, which: str) -> None:
    """All 8·|chunk| single-bit flips fail AES-GCM under veil's key and STREAM nonce."""
    x, blob, h = three_chunks
    header = read_header(io.BytesIO(blob))
    aead = AESGCM(_payload_key(_unwrap(header, [x]), header.salt))
    index = 0 if which == "first" else 2
    start = h + index * CT_CHUNK
    chunk = bytearray(blob[start : min(start + CT_CHUNK, len(blob))])
    n = nonce(index, last=index == 2)
    assert aead.decrypt(n, bytes(chunk), None) == PLAINTEXT[index * CHUNK : (index + 1) * CHUNK]
    accepted = []
    for i in range(len(chunk) * 8):
        chunk[i // 8] ^= 1 << (i % 8)
        try:
            aead.decrypt(n, chunk, None)
            accepted.append(i)
        except InvalidTag:
            pass
        chunk[i // 8] ^= 1 << (i % 8)
    assert accepted == []
    assert len(chunk) * 8 >= 8 * (CHUNK - 100)


def _positions(start: int, size: int) -> list[tuple[int, int]]:
    edges = [*range(32), *range(size - 32, size)]
    spots = [(start + b, bit) for b in edges for bit in range(8)]
    spots += [(start + b, b % 8) for b in range(32, size - 32, 509)]
    return spots


@pytest.mark.parametrize("which", ["first", "last"])
def test_chunk_tampering_through_the_public_api(three_chunks, tmp_path: Path, which) -> None:
    x, blob, h = three_chunks
    index = 0 if which == "first" else 2
    start = h + index * CT_CHUNK
    size = min(CT_CHUNK, len(blob) - start)
    spots = _positions(start, size)
    assert len(spots) > 500
    for byte, bit in spots:
        bad = _flip(blob, byte, bit)
        _open_to_path_fails_and_leaves_nothing(bad, x, tmp_path)
        out = io.BytesIO()
        with pytest.raises(IntegrityError):
            veil.open_stream(io.BytesIO(bad), out, [x])
        # to a stream: only the (authentic) chunks before the tampered one
        assert out.getvalue() == PLAINTEXT[: index * CHUNK]


def test_failed_open_keeps_an_existing_target(three_chunks, tmp_path: Path) -> None:
    x, blob, h = three_chunks
    target = tmp_path / "out.bin"
    for byte in (3, h - 2, h + 7, len(blob) - 1):
        target.write_bytes(b"previous contents")
        with pytest.raises(IntegrityError):
            veil.open_stream(io.BytesIO(_flip(blob, byte, 0)), target, [x])
        assert target.read_bytes() == b"previous contents"
        assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_the_untampered_file_opens(three_chunks, tmp_path: Path) -> None:
    """The control: the same calls succeed on the genuine file (the suite can pass for real)."""
    x, blob, _ = three_chunks
    veil.open_stream(io.BytesIO(blob), tmp_path / "out.bin", [x])
    assert (tmp_path / "out.bin").read_bytes() == PLAINTEXT
