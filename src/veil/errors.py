"""One exception hierarchy for all of veil.

Every error veil raises on purpose is a :class:`VeilError`, so a caller (or the CLI)
can catch one class. The subclasses say *what kind* of failure happened, never more
than is safe: every way a sealed file can be corrupted or tampered with is the same
:class:`IntegrityError`, so an attacker learns nothing from which check failed.
"""

from __future__ import annotations


class VeilError(Exception):
    """Base class of every error veil raises deliberately."""

    #: process exit status the CLI uses for this kind of error
    exit_code: int = 1


class FormatError(VeilError, ValueError):
    """Input is not in the expected format (bad encoding, wrong length, unknown version)."""

    exit_code = 4


class KeyFormatError(FormatError):
    """A key, identity file or recipient string could not be parsed or is unsupported."""


class IntegrityError(VeilError):
    """A sealed object failed authentication: it is corrupted, truncated or tampered with.

    Raised for *every* such failure (header MAC, a chunk tag, truncation, trailing data,
    reordered chunks, a bad signature), so that no failure mode acts as an oracle.
    """

    exit_code = 1


class SignatureError(IntegrityError):
    """A signature did not verify, or the signer is not the expected one."""


class NoIdentityError(VeilError):
    """None of the supplied identities can open this sealed object (not a recipient)."""

    exit_code = 3


class PassphraseError(NoIdentityError):
    """The passphrase is wrong (or the passphrase-protected object is damaged)."""


class ProofError(VeilError):
    """A zero-knowledge proof, or one claim in a bundle, did not verify.

    ``claim`` names the failing claim when a bundle is checked.
    """

    def __init__(self, message: str, *, claim: str | None = None) -> None:
        super().__init__(message if claim is None else f"claim {claim!r}: {message}")
        self.claim = claim


class EncodingError(FormatError):
    """A group element, scalar, field element or share failed validation on decoding."""


class VdafError(VeilError):
    """A VDAF operation (Prio3, PINE) failed; ``operation`` names it, e.g. ``verify_init``."""

    def __init__(self, message: str, *, operation: str | None = None) -> None:
        super().__init__(message if operation is None else f"{operation}: {message}")
        self.operation = operation


class VdafEncodingError(VdafError, FormatError):
    """Malformed share, wrong length, or a value outside the field."""

    exit_code = 4


class VerificationFailed(VdafError):
    """The fully linear proof of a report did not verify: the report is rejected."""


class ProtocolError(VeilError):
    """A peer broke the protocol (wrong round, replay, bad signature on a report, bad state)."""


class ConfigError(VeilError, ValueError):
    """A configuration file or option is invalid."""

    exit_code = 2


class DataError(VeilError, ValueError):
    """A dataset or table cannot be used as asked (unknown column, one class, junk values)."""

    exit_code = 2


class CheckpointError(VeilError):
    """A checkpoint is missing, corrupted or does not match the model."""


class WraparoundRetry(VdafError):
    """A PINE Client's wraparound tests did not give exactly the required number of passes.

    Not a fault of the measurement: shard again with fresh randomness.
    """
