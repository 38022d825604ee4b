"""Fuzz the sealed-file header parser (``veil.crypto.header.read_header``).

Any input: ``IntegrityError`` or a parsed header. A parsed header must be canonical — its
``raw`` bytes are exactly the bytes consumed, re-serialising it gives them back, and the
stream is left right after them — so one header has one spelling and the MAC covers it.
"""

from __future__ import annotations

import io

from fuzz import Finding
from fuzz._keys import fixed_bytes
from veil.errors import IntegrityError

ALLOWED = (IntegrityError,)


def setup() -> list[bytes]:
    """Real headers: every stanza type, several recipients, a signer line, a passphrase."""
    import veil
    from veil.crypto.hpke_keys import MLKEM768X25519Identity, X25519Identity
    from veil.crypto.keys import ScryptRecipient, generate_identity

    x = X25519Identity.from_bytes(fixed_bytes("x25519"))
    m = MLKEM768X25519Identity.from_bytes(fixed_bytes("mlkem", 96))
    rsa = generate_identity("rsa-3072")
    signer = generate_identity("ed25519")
    seeds = [
        veil.seal(b"x", [x.recipient()]),
        veil.seal(b"x", [x.recipient(), m.recipient()], sign_with=signer),
        veil.seal(b"x", [rsa.recipient()]),
        veil.seal(b"x", [ScryptRecipient("pw", log_n=10)]),
    ]
    return [s[: s.index(b"\n", s.index(b"\n---")) + 1] for s in seeds]


def one_input(data: bytes) -> None:
    from veil.crypto.encoding import b64encode
    from veil.crypto.header import read_header

    src = io.BytesIO(data)
    header = read_header(src)
    if not data.startswith(header.raw) or src.tell() != len(header.raw):
        raise Finding("header.raw is not the bytes the parser consumed")
    if header.mac_input() + f" {b64encode(header.mac)}\n".encode() != header.raw:
        raise Finding("a parsed header does not re-serialise to its own bytes")
