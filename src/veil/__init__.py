"""veil: privacy-preserving AI infrastructure.

The top level is kept as small as Fernet's: seal bytes or streams to recipients, open them
with identities. Everything else lives in sub-packages (``veil.crypto``, ``veil.zk``,
``veil.vdaf``, ``veil.fl``).
"""

from veil.errors import (
    FormatError,
    IntegrityError,
    KeyFormatError,
    NoIdentityError,
    VeilError,
)

__all__ = [
    "FormatError",
    "IntegrityError",
    "KeyFormatError",
    "NoIdentityError",
    "VeilError",
]
__version__ = "0.1.0"
