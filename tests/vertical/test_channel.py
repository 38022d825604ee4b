"""Party messages: sealed to the receiver, signed by the sender, bound to session, direction
and sequence; a host answers every bad request with a typed error and keeps serving."""

from __future__ import annotations

import time

import numpy as np
import pytest

from veil.errors import (
    CheckpointError,
    DataError,
    IntegrityError,
    ProtocolError,
    VeilError,
)
from veil.vertical.channel import Channel, HostData, HostParty, InProcess
from veil.vertical.envelope import PartyCard, PartyIdentity, open_message, seal_message
from veil.vertical.local import in_process


class Counter:
    """A toy role: doubles an array and counts calls (its snapshot is the count)."""

    def __init__(self, data: HostData) -> None:
        self.data, self.count = data, 0

    def handle(self, kind: str, fields: dict) -> dict:
        if kind == "ctr.fail":
            raise DataError("column 3 is bad")
        if kind == "ctr.bug":
            raise RuntimeError("secret value 4242")
        self.count += 1
        return {"x": fields["x"] * 2, "count": self.count}

    def snapshot(self) -> dict:
        return {"count": self.count}

    def restore(self, fields: dict) -> None:
        self.count = int(fields["count"])


def _table(name: str = "shop") -> HostData:
    return HostData(name, ["a", "b"], np.zeros((2, 1)), ["f"])


def test_round_trip_and_traffic() -> None:
    channel, _ = in_process([_table()], {"ctr": Counter})
    assert channel.call("shop", "party.hello") == {"name": "shop", "rows": 2}
    out = channel.call("shop", "ctr.go", {"x": np.arange(3)})
    assert out["x"].tolist() == [0, 2, 4] and out["count"] == 1
    assert channel.traffic.messages == 4 and channel.traffic.total() > 0


def test_host_errors_arrive_typed_and_the_host_keeps_serving() -> None:
    channel, _ = in_process([_table()], {"ctr": Counter})
    with pytest.raises(DataError, match="shop: column 3 is bad"):
        channel.call("shop", "ctr.fail")
    with pytest.raises(VeilError) as info:
        channel.call("shop", "ctr.bug")
    assert "4242" not in str(info.value)  # an internal error names its type, never its data
    with pytest.raises(ProtocolError, match="unknown protocol"):
        channel.call("shop", "nope.go")
    assert channel.call("shop", "ctr.go", {"x": np.ones(1)})["count"] == 1


def test_checkpoint_and_restore() -> None:
    channel, _ = in_process([_table()], {"ctr": Counter})
    channel.call("shop", "ctr.go", {"x": np.ones(1)})
    channel.call("shop", "party.checkpoint", {"protocol": "ctr", "step": 1})
    channel.call("shop", "ctr.go", {"x": np.ones(1)})
    channel.call("shop", "party.restore", {"protocol": "ctr", "step": 1})
    assert channel.call("shop", "ctr.go", {"x": np.ones(1)})["count"] == 2
    with pytest.raises(CheckpointError):
        channel.call("shop", "party.restore", {"protocol": "ctr", "step": 7})


def test_checkpoints_survive_a_new_host_on_disk(tmp_path) -> None:
    channel, hosts = in_process([_table()], {"ctr": Counter}, state_dir=tmp_path)
    channel.call("shop", "ctr.go", {"x": np.ones(1)})
    hosts["shop"].data.aligned = np.array([1, 0])
    channel.call("shop", "party.checkpoint", {"protocol": "ctr", "step": 3})
    old = hosts["shop"]
    fresh = HostParty(old.me, old.guest, _table(), {"ctr": Counter}, old.session, tmp_path / "shop")
    channel.transport = InProcess({"shop": fresh})
    channel.call("shop", "party.restore", {"protocol": "ctr", "step": 3})
    assert fresh.data.aligned.tolist() == [1, 0]
    assert channel.call("shop", "ctr.go", {"x": np.ones(1)})["count"] == 2


def _pair() -> tuple[PartyIdentity, PartyIdentity, bytes]:
    return PartyIdentity.generate("guest"), PartyIdentity.generate("shop"), b"s" * 16


def test_a_message_is_bound_to_receiver_session_and_sender() -> None:
    guest, shop, session = _pair()
    blob = seal_message(guest, shop.card(), session, 5, b"body")
    assert open_message(shop, guest.card(), session, blob) == (5, b"body")
    with pytest.raises(ProtocolError, match="session"):
        open_message(shop, guest.card(), b"t" * 16, blob)
    other = PartyIdentity.generate("shop")
    with pytest.raises(VeilError):  # sealed to someone else: no identity opens it
        open_message(other, guest.card(), session, blob)
    impostor = PartyIdentity.generate("guest")
    with pytest.raises(IntegrityError):  # signed by another key
        open_message(shop, impostor.card(), session, blob)
    # reflected: the guest's own message sent back to the guest as if from the shop
    to_guest = seal_message(guest, guest.card(), session, 6, b"body")
    with pytest.raises(ProtocolError, match="addressed"):
        open_message(
            guest, PartyCard("shop", guest.card().hpke, guest.card().verify), session, to_guest
        )


def test_tampered_and_replayed_requests_are_refused() -> None:
    guest, shop, session = _pair()
    host = HostParty(shop, guest.card(), _table(), {"ctr": Counter}, session)
    channel = Channel(guest, {"shop": shop.card()}, InProcess({"shop": host}), session)
    channel.call("shop", "ctr.go", {"x": np.ones(1)})
    from veil.vertical import wire

    later = time.time_ns() + 10**9  # above the channel's wall-clock numbering
    first = seal_message(
        guest, shop.card(), session, later, wire.encode("ctr.go", {"x": np.ones(1)})
    )
    _, body = open_message(guest, shop.card(), session, host.respond(first))
    assert wire.decode(body)[0] == "ctr.go.ok"
    _, body = open_message(guest, shop.card(), session, host.respond(first))  # replay
    assert wire.decode(body) == (
        "party.error",
        {"error": "ProtocolError", "message": "replayed message"},
    )
    flipped = bytearray(first)
    flipped[len(flipped) // 2] ^= 1
    _, body = open_message(guest, shop.card(), session, host.respond(bytes(flipped)))
    assert wire.decode(body)[1]["error"] == "IntegrityError"
    assert host._roles["ctr"].count == 2  # neither the replay nor the tampered copy ran


def test_a_restarted_host_still_refuses_old_messages_and_a_restarted_guest_is_heard(
    tmp_path,
) -> None:
    guest, shop, session = _pair()
    from veil.vertical import wire

    def host() -> HostParty:
        return HostParty(shop, guest.card(), _table(), {"ctr": Counter}, session, tmp_path)

    first = host()
    sent: list[bytes] = []

    class Tap(InProcess):
        def exchange(self, party: str, blob: bytes) -> bytes:
            sent.append(blob)
            return super().exchange(party, blob)

    old = Channel(guest, {"shop": shop.card()}, Tap({"shop": first}), session)
    old.call("shop", "ctr.go", {"x": np.ones(1)})
    recorded = sent[-1]
    restarted = host()
    _, body = open_message(guest, shop.card(), session, restarted.respond(recorded))
    assert wire.decode(body)[1]["error"] == "ProtocolError"
    new_guest = Channel(guest, {"shop": shop.card()}, InProcess({"shop": restarted}), session)
    assert new_guest.call("shop", "ctr.go", {"x": np.ones(1)})["count"] == 1


def test_party_identity_files(tmp_path) -> None:
    me = PartyIdentity.generate("bank_1")
    secret, card = me.save(tmp_path)
    assert oct(secret.stat().st_mode & 0o777) == "0o600"
    back = PartyIdentity.load(secret)
    assert back.card() == me.card() or back.card().to_json() == me.card().to_json()
    assert PartyCard.from_json(card.read_text()).to_json() == me.card().to_json()
    with pytest.raises(VeilError):
        PartyIdentity.generate("bad name!")
