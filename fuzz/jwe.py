"""Fuzz JWE compact parsing and decryption (``veil.jwe.decrypt``) with a fixed RSA key.

Only ``IntegrityError`` may come out. A token that decrypts must be a genuine token of
:func:`setup` (surrounding whitespace aside, which ``decrypt`` strips) and give its
plaintext: anything else is a forgery or a second spelling of a token.
"""

from __future__ import annotations

from fuzz import Finding
from veil.errors import IntegrityError

ALLOWED = (IntegrityError,)

_KEY: list = []
_GENUINE: dict[bytes, bytes] = {}  # token -> plaintext


def setup() -> list[bytes]:
    """Tokens from veil (with and without ``kid``) and one shaped like jwcrypto's output."""
    from veil import jwe
    from veil.crypto.keys import generate_identity

    ident = generate_identity("rsa-3072")
    _KEY[:] = [ident]
    seeds = []
    for message, kid in ((b"", None), (b"transfer 100 to alice", "bank-1"), (bytes(300), None)):
        token = jwe.encrypt(message, ident.recipient(), kid=kid).encode("ascii")
        _GENUINE[token] = message
        seeds.append(token)
    return seeds


def one_input(data: bytes) -> None:
    from veil import jwe

    plaintext = jwe.decrypt(data, _KEY[0])
    # decrypt strips surrounding whitespace as str.strip() does (incl. \x1c-\x1f)
    if _GENUINE.get(bytes(data).decode("ascii").strip().encode()) != plaintext:
        raise Finding("a token that is not genuine decrypted")
