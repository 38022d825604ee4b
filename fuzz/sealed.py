"""Fuzz opening a whole sealed file (header, stanzas, MAC, STREAM payload, signature).

Opened with fixed X25519 and ML-KEM-768+X25519 identities. Only ``IntegrityError`` (incl.
``SignatureError``), ``NoIdentityError`` and ``PassphraseError`` may come out. Two more
oracles, because a parser that raises the right type can still be wrong:

* an input that opens must be one of the genuine files sealed in :func:`setup` (anything
  else is a forgery: the format has one valid spelling per file);
* a failing input may have released (to a stream; to a path nothing at all) only authentic
  plaintext — whole 64 KiB chunks of a genuine file, or all of it when the failure came
  after the last chunk (trailing data, signature) — never a byte of unauthenticated data.
"""

from __future__ import annotations

import io
import os

from fuzz import Finding
from fuzz._keys import fixed_bytes
from veil.errors import IntegrityError, NoIdentityError, PassphraseError

ALLOWED = (IntegrityError, NoIdentityError, PassphraseError)

_IDENTITIES: list = []
_GENUINE: dict[bytes, bytes] = {}  # sealed file -> its plaintext


def setup() -> list[bytes]:
    """Files sealed to the fixed identities: empty, small, signed, 2 recipients, 2 chunks."""
    import veil
    from veil.crypto.hpke_keys import MLKEM768X25519Identity, X25519Identity
    from veil.crypto.keys import generate_identity
    from veil.crypto.stream import CHUNK

    x = X25519Identity.from_bytes(fixed_bytes("x25519"))
    m = MLKEM768X25519Identity.from_bytes(fixed_bytes("mlkem", 96))
    other = generate_identity("x25519")
    signer = generate_identity("ed25519")
    _IDENTITIES[:] = [x, m]
    cases = [
        (b"", [x.recipient()], None),
        (b"a sealed record: 42", [x.recipient()], None),
        (os.urandom(100), [other.recipient(), x.recipient()], signer),
        (os.urandom(50), [m.recipient()], None),
        (os.urandom(50), [other.recipient()], None),  # not for us: NoIdentityError
        (os.urandom(CHUNK + 20), [x.recipient()], None),
    ]
    seeds = []
    for plaintext, recipients, sign in cases:
        blob = veil.seal(plaintext, recipients, sign_with=sign)
        _GENUINE[blob] = plaintext
        seeds.append(blob)
    return seeds


def _authentic(released: bytes, plaintext: bytes) -> bool:
    """Whole chunks of a genuine plaintext, or all of it (a later signature/trailer failure)."""
    from veil.crypto.stream import CHUNK

    if not plaintext.startswith(released):
        return False
    return len(released) % CHUNK == 0 or released == plaintext


def one_input(data: bytes) -> None:
    from veil.crypto.seal import open_stream

    out = io.BytesIO()
    try:
        open_stream(io.BytesIO(data), out, _IDENTITIES)
    except ALLOWED:
        released = out.getvalue()
        if released and not any(_authentic(released, p) for p in _GENUINE.values()):
            raise Finding(f"{len(released)} bytes released from an input that failed") from None
        raise
    if _GENUINE.get(bytes(data)) != out.getvalue():
        raise Finding("an input that is not a genuine sealed file opened")
