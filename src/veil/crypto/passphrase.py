"""Passphrase recipients: scrypt (N = 2^logN, r = 8, p = 1) wrapping with AES-256-GCM.

A passphrase stanza is always the only stanza of its file (docs/format-sealed.md).
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from veil.crypto.encoding import b64decode, b64encode
from veil.crypto.recipient import (
    FILE_KEY_SIZE,
    SCRYPT_DEFAULT_LOG_N,
    SCRYPT_MAX_LOG_N,
    SCRYPT_MIN_LOG_N,
    Identity,
    Recipient,
    Stanza,
)
from veil.errors import KeyFormatError, PassphraseError


def _scrypt_key(passphrase: bytes, salt: bytes, log_n: int) -> bytes:
    return Scrypt(salt=b"veil/v1/scrypt" + salt, length=32, n=1 << log_n, r=8, p=1).derive(
        passphrase
    )


class ScryptRecipient(Recipient):
    """A passphrase as a recipient; it must be the only stanza of its file."""

    kind = "scrypt"
    stanza_type = "scrypt"

    def __init__(self, passphrase: str | bytes, *, log_n: int = SCRYPT_DEFAULT_LOG_N) -> None:
        if not SCRYPT_MIN_LOG_N <= log_n <= SCRYPT_MAX_LOG_N:
            raise ValueError(f"scrypt log_n must be in [{SCRYPT_MIN_LOG_N}, {SCRYPT_MAX_LOG_N}]")
        self._passphrase = passphrase.encode() if isinstance(passphrase, str) else passphrase
        if not self._passphrase:
            raise ValueError("empty passphrase")
        self._log_n = log_n

    def public_bytes(self) -> bytes:
        return b""

    def wrap(self, file_key: bytes, salt: bytes) -> Stanza:
        s = os.urandom(16)
        key = _scrypt_key(self._passphrase, s, self._log_n)
        body = AESGCM(key).encrypt(b"\x00" * 12, file_key, None)
        return Stanza("scrypt", (b64encode(s), str(self._log_n)), body)

    def __repr__(self) -> str:
        return "<ScryptRecipient>"


class ScryptIdentity(Identity):
    """A passphrase as an identity."""

    kind = "scrypt"

    def __init__(self, passphrase: str | bytes) -> None:
        self._passphrase = passphrase.encode() if isinstance(passphrase, str) else passphrase

    def recipient(self) -> Recipient:
        return ScryptRecipient(self._passphrase or b"?")

    def private_bytes(self) -> bytes:
        raise KeyFormatError("a passphrase identity has no key bytes")

    def matches(self, stanza: Stanza, salt: bytes) -> bool:
        return False

    def unwrap(self, stanza: Stanza) -> bytes | None:
        if stanza.type != "scrypt":
            return None
        salt, log_n = b64decode(stanza.args[0]), int(stanza.args[1])
        if len(salt) != 16 or len(stanza.body) != FILE_KEY_SIZE + 16:
            return None
        if not SCRYPT_MIN_LOG_N <= log_n <= SCRYPT_MAX_LOG_N:
            raise PassphraseError(f"scrypt work factor 2^{log_n} is outside the allowed range")
        try:
            return AESGCM(_scrypt_key(self._passphrase, salt, log_n)).decrypt(
                b"\x00" * 12, stanza.body, None
            )
        except InvalidTag:
            return None

    def __repr__(self) -> str:
        return "<ScryptIdentity>"
