"""Party-to-party messages, sealed to the receiver (HPKE, X25519) and signed by the sender.

Every message of a vertical protocol is a :mod:`veil.vertical.wire` body wrapped in veil's
sealed format (docs/format-sealed.md) with the sender's Ed25519 signature. The sealed
plaintext starts with a binding line naming sender, receiver, session and sequence number,
so a message cannot be replayed into another session, reflected back to its sender, or
replayed within its session (docs/vertical.md, *Envelope*).
"""

from __future__ import annotations

import hmac
import json
import os
from dataclasses import dataclass
from pathlib import Path

from veil.crypto.hpke_keys import X25519Identity, X25519Recipient
from veil.crypto.keys import parse_identities, parse_recipient
from veil.crypto.seal import atomic_write
from veil.crypto.seal import open as open_sealed
from veil.crypto.seal import seal as seal_bytes
from veil.crypto.signing import Ed25519Identity, Ed25519PublicKey
from veil.errors import FormatError, KeyFormatError, ProtocolError

_BINDING = b"veil/vertical/v1\n"


@dataclass(frozen=True)
class PartyCard:
    """A party's public keys: whom to seal to, whose signature to expect."""

    name: str
    hpke: X25519Recipient
    verify: Ed25519PublicKey

    def to_json(self) -> str:
        return json.dumps({"name": self.name, "hpke": str(self.hpke), "verify": str(self.verify)})

    @classmethod
    def from_json(cls, text: str) -> PartyCard:
        try:
            obj = json.loads(text)
            name, hpke, verify = (
                obj["name"],
                parse_recipient(obj["hpke"]),
                parse_recipient(obj["verify"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise KeyFormatError("not a party card") from exc
        if not isinstance(hpke, X25519Recipient) or not isinstance(verify, Ed25519PublicKey):
            raise KeyFormatError("a party card holds an X25519 and an Ed25519 public key")
        return cls(_check_name(name), hpke, verify)


@dataclass(frozen=True)
class PartyIdentity:
    """A party's private keys (a secret: never logged)."""

    name: str
    hpke: X25519Identity
    signing: Ed25519Identity

    @classmethod
    def generate(cls, name: str) -> PartyIdentity:
        return cls(_check_name(name), X25519Identity.generate(), Ed25519Identity.generate())

    def card(self) -> PartyCard:
        verify = self.signing.recipient()
        assert isinstance(verify, Ed25519PublicKey)
        return PartyCard(self.name, self.hpke.recipient(), verify)

    def save(self, directory: Path) -> tuple[Path, Path]:
        """Write ``<name>.identity`` (mode 0600) and ``<name>.card.json`` into ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        secret = directory / f"{self.name}.identity"
        text = f"# veil party {self.name}\n{self.hpke.to_string()}\n{self.signing.to_string()}\n"
        atomic_write(secret, text.encode())
        os.chmod(secret, 0o600)
        card = directory / f"{self.name}.card.json"
        atomic_write(card, self.card().to_json().encode())
        return secret, card

    @classmethod
    def load(cls, path: Path) -> PartyIdentity:
        identities = parse_identities(path.read_text(encoding="utf-8"))
        hpke = [i for i in identities if isinstance(i, X25519Identity)]
        signing = [i for i in identities if isinstance(i, Ed25519Identity)]
        if len(hpke) != 1 or len(signing) != 1:
            raise KeyFormatError(f"{path}: a party identity holds one X25519 and one Ed25519 key")
        name = path.name.removesuffix(".identity")
        return cls(_check_name(name), hpke[0], signing[0])


def load_cards(directory: Path) -> dict[str, PartyCard]:
    """Every ``*.card.json`` in ``directory``, by party name."""
    cards = [PartyCard.from_json(p.read_text()) for p in sorted(directory.glob("*.card.json"))]
    return {c.name: c for c in cards}


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name or len(name) > 64:
        raise KeyFormatError("a party name is 1 to 64 characters")
    if not all(c.isalnum() or c in "-_" for c in name):
        raise KeyFormatError("a party name uses letters, digits, '-' and '_' only")
    return name


def seal_message(
    sender: PartyIdentity, receiver: PartyCard, session: bytes, seq: int, body: bytes
) -> bytes:
    """Seal ``body`` to ``receiver``, signed by ``sender``, bound to (session, seq)."""
    binding = json.dumps(
        {"from": sender.name, "to": receiver.name, "session": session.hex(), "seq": seq},
        separators=(",", ":"),
    ).encode()
    return seal_bytes(_BINDING + binding + b"\n" + body, [receiver.hpke], sign_with=sender.signing)


def open_message(
    me: PartyIdentity, sender: PartyCard, session: bytes, blob: bytes
) -> tuple[int, bytes]:
    """Open a message from ``sender`` in ``session``; returns (seq, body).

    A message sealed to someone else, signed by someone else, or bound to another session
    or direction raises (IntegrityError from the sealed format, ProtocolError here).
    """
    plain = open_sealed(blob, [me.hpke], verify_sender=sender.verify)
    if not plain.startswith(_BINDING):
        raise FormatError("not a vertical party message")
    line_end = plain.find(b"\n", len(_BINDING))
    if line_end < 0:
        raise FormatError("party message has no binding line")
    try:
        binding = json.loads(plain[len(_BINDING) : line_end])
        frm, to, sess, seq = binding["from"], binding["to"], binding["session"], binding["seq"]
    except (ValueError, KeyError, TypeError) as exc:
        raise FormatError("party message binding is malformed") from exc
    if frm != sender.name or to != me.name:
        raise ProtocolError("party message is addressed to or from someone else")
    if not isinstance(sess, str) or not hmac.compare_digest(sess.encode(), session.hex().encode()):
        raise ProtocolError("party message belongs to another session")
    if type(seq) is not int or seq < 0:
        raise FormatError("party message sequence number is malformed")
    return seq, plain[line_end + 1 :]
