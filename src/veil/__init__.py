"""veil: privacy-preserving AI infrastructure.

The top level is kept as small as Fernet's: seal bytes or streams to recipients, open them
with identities (docs/format-sealed.md). Everything else lives in sub-packages
(``veil.crypto``, ``veil.zk``, ``veil.vdaf``, ``veil.fl``).

>>> import veil
>>> alice = veil.generate_identity("x25519")
>>> blob = veil.seal(b"quarterly defaults", [alice.recipient()])
>>> veil.open(blob, [alice])
b'quarterly defaults'
"""

from veil.crypto.keys import (
    Identity,
    Recipient,
    generate_identity,
    load_identities,
    load_recipients,
    parse_recipient,
)
from veil.crypto.seal import open, open_stream, seal, seal_stream
from veil.errors import (
    FormatError,
    IntegrityError,
    KeyFormatError,
    NoIdentityError,
    VeilError,
)

__all__ = [
    "FormatError",
    "Identity",
    "IntegrityError",
    "KeyFormatError",
    "NoIdentityError",
    "Recipient",
    "VeilError",
    "generate_identity",
    "load_identities",
    "load_recipients",
    "open",
    "open_stream",
    "parse_recipient",
    "seal",
    "seal_stream",
]
__version__ = "0.1.0"
