"""Report wire format (docs/protocol.md §3): metadata, two HPKE-sealed input shares, a signature.

Presentation language of RFC 8446 §3 as in draft-ietf-ppm-dap-15 §4.4; every length is
checked on parsing and trailing bytes are an error.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import x25519

from veil.crypto.hpke_keys import X25519Identity, X25519Recipient
from veil.errors import FormatError, IntegrityError

MAGIC = b"veilrp01"
ROLE_LEADER = 2  # DAP §4.1 Role values
ROLE_HELPER = 3
REPORT_ID_SIZE = 16
TASK_ID_SIZE = 32
SIGNATURE_SIZE = 64
LEADER_SHARE_HASH_SIZE = 32
#: §3.3: the report signature covers SHA-256 of the Leader's sealed share (the Helper checks
#: the signature with the hash the Leader forwards)
REPORT_SIG_LABEL = b"veil/v1/agg/report/v2\x00"
LEADER_SHARE_LABEL = b"veil/v1/agg/leader-share\x00"
_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
_HPKE_OVERHEAD = 32 + 16  # X25519 enc + GCM tag


class Reader:
    """A bounds-checked cursor over bytes; every short read is a :class:`FormatError`."""

    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise FormatError("truncated message")
        out = bytes(self.data[self.pos : self.pos + n])
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u32(self) -> int:
        return struct.unpack(">I", self.take(4))[0]

    def opaque8(self) -> bytes:
        return self.take(self.u8())

    def opaque32(self) -> bytes:
        return self.take(self.u32())

    def end(self) -> None:
        if self.pos != len(self.data):
            raise FormatError("trailing bytes after the message")


def opaque8(b: bytes) -> bytes:
    if len(b) > 255:
        raise FormatError("field longer than 255 bytes")
    return bytes([len(b)]) + b


def opaque32(b: bytes) -> bytes:
    return struct.pack(">I", len(b)) + b


@dataclass(frozen=True)
class ReportMetadata:
    task_id: bytes
    round: int
    report_id: bytes
    client_id: str
    pine_public_share: bytes
    weight_public_share: bytes

    def encode(self) -> bytes:
        return (
            self.task_id
            + struct.pack(">I", self.round)
            + self.report_id
            + opaque8(self.client_id.encode())
            + opaque32(self.pine_public_share)
            + opaque32(self.weight_public_share)
        )

    @classmethod
    def read(cls, r: Reader) -> ReportMetadata:
        task_id, rnd, report_id = r.take(TASK_ID_SIZE), r.u32(), r.take(REPORT_ID_SIZE)
        try:
            client_id = r.opaque8().decode("ascii")
        except UnicodeDecodeError as exc:
            raise FormatError("client id is not ASCII") from exc
        if not client_id:
            raise FormatError("empty client id")
        return cls(task_id, rnd, report_id, client_id, r.opaque32(), r.opaque32())

    def digest(self) -> bytes:
        return hashlib.sha256(self.encode()).digest()


@dataclass(frozen=True)
class Report:
    metadata: ReportMetadata
    leader_share: bytes  # HPKE enc ‖ ciphertext
    helper_share: bytes
    signature: bytes

    def signed_bytes(self) -> bytes:
        return signed_message(self.metadata, self.leader_share, self.helper_share)

    def encode(self) -> bytes:
        return self.signed_body() + self.signature

    def signed_body(self) -> bytes:
        return (
            MAGIC
            + self.metadata.encode()
            + opaque32(self.leader_share)
            + opaque32(self.helper_share)
        )

    @classmethod
    def decode(cls, data: bytes) -> Report:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError("a report is bytes")
        r = Reader(bytes(data))
        if r.take(len(MAGIC)) != MAGIC:
            raise FormatError("not a veil report (bad magic)")
        md = ReportMetadata.read(r)
        leader, helper = r.opaque32(), r.opaque32()
        for share in (leader, helper):
            if len(share) <= _HPKE_OVERHEAD:
                raise FormatError("sealed input share too short")
        sig = r.take(SIGNATURE_SIZE)
        r.end()
        return cls(md, leader, helper, sig)


@dataclass(frozen=True)
class PlaintextInputShare:
    pine: bytes
    weight: bytes

    def encode(self) -> bytes:
        return opaque32(self.pine) + opaque32(self.weight)

    @classmethod
    def decode(cls, data: bytes) -> PlaintextInputShare:
        r = Reader(data)
        out = cls(r.opaque32(), r.opaque32())
        r.end()
        return out


def signed_message(md: ReportMetadata, leader_share: bytes, helper_share: bytes) -> bytes:
    """§3.3: what the client signs. The Leader's share enters by its hash, so the Helper can
    check the signature with the hash the Leader forwards, never the Leader's share itself."""
    return signed_message_from_hash(md, leader_share_hash(leader_share), helper_share)


def leader_share_hash(leader_share: bytes) -> bytes:
    return hashlib.sha256(LEADER_SHARE_LABEL + leader_share).digest()


def signed_message_from_hash(md: ReportMetadata, leader_hash: bytes, helper_share: bytes) -> bytes:
    """§3.3 from SHA-256 of the Leader's sealed share (what the Helper receives)."""
    return REPORT_SIG_LABEL + md.encode() + leader_hash + opaque32(helper_share)


def share_info(md: ReportMetadata, role: int) -> bytes:
    """§3.1: the HPKE info binding task, round, report id, role and the metadata digest.

    cryptography's single-shot HPKE has no separate AEAD associated data, so the binding DAP
    puts in the AAD goes into ``info`` (RFC 9180 §5.1 key schedule).
    """
    return (
        b"veil/v1/agg/input-share\x00"
        + bytes([role])
        + md.task_id
        + struct.pack(">I", md.round)
        + md.report_id
        + md.digest()
    )


def vdaf_nonce(task_id: bytes, rnd: int, report_id: bytes) -> bytes:
    """§3.2: the 16-byte VDAF nonce bound to task, round and report id."""
    h = hashlib.sha256(b"veil/v1/agg/nonce\x00" + task_id + struct.pack(">I", rnd) + report_id)
    return h.digest()[:16]


def seal_share(recipient: X25519Recipient, plaintext: bytes, info: bytes) -> bytes:
    pk = x25519.X25519PublicKey.from_public_bytes(recipient.public_bytes())
    return _SUITE.encrypt(plaintext, pk, info=info)


def open_share(identity: X25519Identity, sealed: bytes, info: bytes) -> bytes:
    """Open a sealed share; any failure is one :class:`IntegrityError` (no oracle)."""
    try:
        sk = x25519.X25519PrivateKey.from_private_bytes(identity.private_bytes())
        return _SUITE.decrypt(sealed, sk, info=info)
    except (InvalidTag, ValueError) as exc:
        raise IntegrityError("input share does not open") from exc


def verify_key_info(task_id: bytes, rnd: int) -> bytes:
    return b"veil/v1/agg/verify-key\x00" + task_id + struct.pack(">I", rnd)
