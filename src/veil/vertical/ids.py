"""Entity IDs before private set intersection: one spelling per customer, then a digest.

Two parties only find a customer in common if they write its ID the same way, so every party
normalises each ID (:func:`normalise_id`) and hashes it under a domain tag (:func:`id_digest`)
before it enters PSI (docs/vertical.md, *Entity alignment*):

1. Unicode NFKC (full-width ``Ａ`` → ``A``, ligature ``ﬁ`` → ``fi``), case-folded
   (``ß`` → ``ss``, ``É`` → ``é``), NFKC again (case folding can un-normalise a string);
2. leading and trailing whitespace removed, every inner run of Unicode whitespace one space;
3. SHA-256 over ``b"veil/vertical/id/v1\\0"`` ‖ UTF-8 of the result.

The tag keeps these digests apart from any other SHA-256 of the same strings. The digest is
not secret (anyone holding a candidate ID can compute it): PSI, not hashing, is what hides
the non-shared IDs. Errors name counts, never an ID: a host's error reaches the label party.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable

from veil.errors import DataError

#: domain separation for the ID digest (bump the version if normalisation ever changes)
DOMAIN = b"veil/vertical/id/v1\0"
DIGEST_BYTES = 32


def normalise_id(text: str) -> str:
    """The one spelling of an ID that every party hashes (NFKC, case-folded, spaces collapsed)."""
    if not isinstance(text, str):
        raise DataError(f"an ID must be a string, not {type(text).__name__}")
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    normal = " ".join(folded.split())
    if not normal:
        raise DataError("an ID is empty (or only whitespace)")
    return normal


def id_digest(text: str) -> bytes:
    """SHA-256 of the domain tag and the normalised ID: what the parties intersect."""
    return hashlib.sha256(DOMAIN + normalise_id(text).encode("utf-8")).digest()


def digests(ids: Iterable[str]) -> list[bytes]:
    """Digests of one table's IDs, in row order; IDs equal after normalisation are refused,
    since a duplicated key has no single aligned row."""
    out = [id_digest(text) for text in ids]
    distinct = len(set(out))
    if distinct != len(out):
        raise DataError(
            f"{len(out) - distinct} of {len(out)} IDs repeat an earlier ID after "
            "normalisation; make the ID column unique"
        )
    return out
