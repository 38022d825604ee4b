"""veil: privacy-preserving AI infrastructure.

The top level is kept as small as Fernet's: seal bytes or streams to recipients, open them
with identities (docs/format-sealed.md). Everything else lives in sub-packages
(``veil.crypto``, ``veil.zk``, ``veil.vdaf``, ``veil.fl``).

>>> import veil
>>> alice = veil.generate_identity("x25519")
>>> blob = veil.seal(b"quarterly defaults", [alice.recipient()])
>>> veil.open(blob, [alice])
b'quarterly defaults'

The sealing names are loaded on first use (PEP 562), so that ``import veil`` — which every
``veil.*`` import runs first, the command line's included — does not load ``cryptography``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from veil.errors import (
    FormatError,
    IntegrityError,
    KeyFormatError,
    NoIdentityError,
    VeilError,
)

if TYPE_CHECKING:
    from veil.crypto.keys import (
        Identity,
        Recipient,
        generate_identity,
        load_identities,
        load_recipients,
        parse_recipient,
    )
    from veil.crypto.seal import open, open_stream, seal, seal_stream

#: name -> module that defines it, loaded by __getattr__ on first access
_LAZY = {
    "Identity": "veil.crypto.keys",
    "Recipient": "veil.crypto.keys",
    "generate_identity": "veil.crypto.keys",
    "load_identities": "veil.crypto.keys",
    "load_recipients": "veil.crypto.keys",
    "parse_recipient": "veil.crypto.keys",
    "open": "veil.crypto.seal",
    "open_stream": "veil.crypto.seal",
    "seal": "veil.crypto.seal",
    "seal_stream": "veil.crypto.seal",
}

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


def __getattr__(name: str) -> Any:
    """Load a sealing name from its module on first access, then keep it here."""
    if name not in _LAZY:
        raise AttributeError(f"module 'veil' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
