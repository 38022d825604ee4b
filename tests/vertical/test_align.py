"""Entity alignment by PSI: exact against a plain set intersection, consistent across
parties, strict about malformed or out-of-order messages, and silent about the label
party's non-shared IDs (every body a host received is searched for them)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np
import private_set_intersection.python as psi
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from veil.errors import DataError, FormatError, ProtocolError
from veil.vertical.align import Alignment, PsiHost, align
from veil.vertical.channel import Channel, HostData
from veil.vertical.ids import DOMAIN, digests, id_digest, normalise_id
from veil.vertical.local import in_process

ROLES = {"psi": PsiHost}


def _host(name: str, ids: list[str]) -> HostData:
    return HostData(name, ids, np.zeros((len(ids), 1)), ["f"])


def _variant(text: str, how: int) -> str:
    """Another spelling of the same ID: case, padding, inner spaces, full-width digits."""
    if how == 1:
        return text.upper()
    if how == 2:
        return f"  {text.replace('-', '- ')} \t"
    if how == 3:
        return text.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"})
    return text


def _check(alignment: Alignment, guest: list[str], hosts: list[HostData]) -> None:
    """The alignment is exactly the normalised intersection, in one order at every party."""
    expected = {normalise_id(i) for i in guest}
    for h in hosts:
        expected &= {normalise_id(i) for i in h.ids}
    got = [normalise_id(guest[r]) for r in alignment.guest_rows]
    assert len(got) == alignment.size == len(expected)
    assert set(got) == expected
    for h in hosts:
        assert h.aligned is not None and h.aligned.dtype == np.int64
        assert h.intersection is not None and np.array_equal(h.intersection, h.aligned)
        assert [normalise_id(h.ids[r]) for r in h.aligned] == got


# --- IDs ------------------------------------------------------------------------------


def test_normalisation_examples() -> None:
    assert normalise_id("  Alice\u00a0 \tSMITH ") == "alice smith"
    assert normalise_id("ＡＢＣ１２３") == "abc123"  # full-width
    assert normalise_id("Straße") == normalise_id("STRASSE") == "strasse"
    assert normalise_id("ﬁle") == "file"  # ligature
    assert normalise_id("e\u0301") == normalise_id("\u00e9")  # combining accent


@pytest.mark.parametrize("bad", ["", "   ", "\t\n", None, 42, b"abc"])
def test_empty_or_non_string_ids_are_refused(bad: object) -> None:
    with pytest.raises(DataError):
        normalise_id(bad)  # type: ignore[arg-type]


def test_digest_is_tagged_sha256_of_the_normal_form() -> None:
    assert id_digest(" Bob ") == hashlib.sha256(DOMAIN + b"bob").digest()
    assert id_digest("BOB") == id_digest("bob") != hashlib.sha256(b"bob").digest()


@given(st.text(max_size=30))
def test_normalisation_is_idempotent(text: str) -> None:
    try:
        once = normalise_id(text)
    except DataError:
        return
    assert normalise_id(once) == once


def test_duplicates_after_normalisation_are_counted_never_named() -> None:
    with pytest.raises(DataError, match="2 of 5 IDs") as info:
        digests(["secret-7", "SECRET-7", "x", " x ", "y"])
    assert "secret" not in str(info.value).lower()


# --- exactness ----------------------------------------------------------------------


@pytest.mark.parametrize("overlap", ["none", "all", "half", "guest-in-host", "host-in-guest"])
def test_exact_two_parties(overlap: str) -> None:
    ids = [f"cust-{i:05d}" for i in range(400)]
    guest, host_ids = {
        "none": (ids[:200], ids[200:]),
        "all": (ids[:300], [_variant(i, k % 4) for k, i in enumerate(ids[:300])][::-1]),
        "half": (ids[:300], ids[150:]),
        "guest-in-host": (ids[100:200], ids),
        "host-in-guest": (ids, ids[100:200]),
    }[overlap]
    host = _host("bank", host_ids)
    channel, _ = in_process([host], ROLES)
    result = align(channel, guest)
    _check(result, guest, [host])
    assert result.host_rows == {"bank": len(host_ids)}
    assert result.per_host == {"bank": result.size}
    assert result.bytes_sent > 0 and result.bytes_received > 0 and result.seconds > 0


_IDS = st.lists(st.integers(0, 60), max_size=40, unique=True)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_IDS, _IDS, st.lists(st.integers(0, 3), min_size=40, max_size=40))
def test_exact_against_set_intersection(g: list[int], h: list[int], spell: list[int]) -> None:
    guest = [f"id-{i}" for i in g] or ["id-999"]
    host = _host("shop", [_variant(f"id-{i}", spell[k]) for k, i in enumerate(h)])
    channel, _ = in_process([host], ROLES)
    _check(align(channel, guest), guest, [host])


def test_three_parties_intersect_over_all_hosts() -> None:
    guest = [f"c{i}" for i in range(0, 1200)]
    bank = _host("bank", [f"C{i}" for i in range(600, 2000)])
    shop = _host("shop", [f" c{i} " for i in range(0, 1800, 2)])
    channel, _ = in_process([bank, shop], ROLES)
    result = align(channel, guest)
    _check(result, guest, [bank, shop])
    assert result.size == 300  # even numbers in 600..1199
    assert result.per_host == {"bank": 600, "shop": 600}
    assert result.host_rows == {"bank": 1400, "shop": 900}


def test_order_is_shuffled_not_the_guest_row_order() -> None:
    guest = [f"c{i}" for i in range(300)]
    host = _host("bank", guest[::-1])
    channel, _ = in_process([host], ROLES)
    rows = align(channel, guest).guest_rows
    assert sorted(rows.tolist()) == list(range(300))
    assert rows.tolist() != list(range(300))  # fails with probability 1/300!


def test_empty_host_table_aligns_nothing() -> None:
    host = _host("bank", [])
    channel, _ = in_process([host], ROLES)
    result = align(channel, ["a", "b"])
    assert result.size == 0 and host.aligned is not None and len(host.aligned) == 0


def test_guest_needs_ids_and_hosts() -> None:
    channel, _ = in_process([_host("bank", ["a"])], ROLES)
    with pytest.raises(DataError):
        align(channel, [])
    with pytest.raises(DataError):
        align(channel, "abc")
    with pytest.raises(ProtocolError):
        align(channel, ["a"], hosts=[])


def test_duplicate_ids_are_refused_at_either_party() -> None:
    channel, _ = in_process([_host("bank", ["a", "b"])], ROLES)
    with pytest.raises(DataError):
        align(channel, ["Secret-1", "secret-1 "])
    channel, _ = in_process([_host("bank", ["Secret-1", "SECRET-1"])], ROLES)
    with pytest.raises(DataError, match="bank: 1 of 2 IDs") as info:
        align(channel, ["a"])
    assert "secret" not in str(info.value).lower()


def test_snapshot_restores_the_aligned_rows() -> None:
    host = _host("bank", ["a", "b", "c"])
    channel, _ = in_process([host], ROLES)
    align(channel, ["c", "a", "z"])
    rows = host.aligned
    channel.call("bank", "party.checkpoint", {"protocol": "psi", "step": 0})
    host.aligned = host.intersection = None
    channel.call("bank", "party.restore", {"protocol": "psi", "step": 0})
    assert host.aligned is not None and host.aligned.tolist() == rows.tolist()
    assert host.intersection is not None and host.intersection.tolist() == rows.tolist()


def test_snapshot_holds_no_key() -> None:
    role = PsiHost(_host("bank", ["a", "b"]))
    role.handle("psi.setup", {"client_size": 1})
    assert role.snapshot() == {}
    role.restore({})
    with pytest.raises(FormatError):
        role.restore({"aligned": np.array([0, 1])})


# --- a host's checks ------------------------------------------------------------------


def _psi_run(channel: Channel, party: str, items: list[str]) -> None:
    """Setup and request by hand, so that a test can then send its own psi.result."""
    client = psi.client.CreateWithNewKey(True)
    channel.call(party, "psi.setup", {"client_size": len(items)})
    request = client.CreateRequest([id_digest(i).hex() for i in items]).SerializeToString()
    channel.call(party, "psi.request", {"request": request})


@pytest.mark.parametrize(
    ("blob", "error"),
    [
        (id_digest("not-held"), ProtocolError),
        (id_digest("a") + id_digest("a"), ProtocolError),
        (id_digest("a")[:31], FormatError),
        (id_digest("a") + b"\x00", FormatError),
    ],
)
def test_result_must_name_held_digests_once(blob: bytes, error: type) -> None:
    channel, _ = in_process([_host("bank", ["a", "b"])], ROLES)
    _psi_run(channel, "bank", ["a", "c"])
    with pytest.raises(error, match="bank:"):
        channel.call("bank", "psi.result", {"digests": blob})
    with pytest.raises(ProtocolError, match="before a completed"):  # no second try
        channel.call("bank", "psi.result", {"digests": id_digest("a")})


def test_steps_run_in_order_and_a_key_answers_once() -> None:
    channel, _ = in_process([_host("bank", ["a", "b"])], ROLES)
    with pytest.raises(ProtocolError, match=r"without a fresh psi\.setup"):
        channel.call("bank", "psi.request", {"request": b""})
    with pytest.raises(ProtocolError, match="before a completed"):
        channel.call("bank", "psi.result", {"digests": id_digest("a")})
    _psi_run(channel, "bank", ["a"])
    with pytest.raises(ProtocolError, match=r"without a fresh psi\.setup"):
        channel.call("bank", "psi.request", {"request": b""})
    with pytest.raises(ProtocolError, match="unknown PSI message"):
        channel.call("bank", "psi.other", {})


def _request(items: list[str], **change: object) -> bytes:
    request = psi.client.CreateWithNewKey(True).CreateRequest(items)
    for name, value in change.items():
        if name == "points":
            del request.encrypted_elements[:]
            request.encrypted_elements.extend(value)  # type: ignore[arg-type]
        else:
            setattr(request, name, value)
    return request.SerializeToString()


def _off_curve() -> bytes:
    """A well-formed compressed encoding whose x is not on P-256."""
    for x in range(1, 100):
        point = b"\x02" + x.to_bytes(32, "big")
        try:
            psi.server.CreateWithNewKey(True).ProcessRequest(
                _parse_request(_request(["a"], points=[point]))
            )
        except RuntimeError:
            return point
    raise AssertionError("no off-curve x found")


def _parse_request(blob: bytes) -> psi.Request:
    request = psi.Request()
    request.ParseFromString(blob)
    return request


@pytest.mark.parametrize(
    "request_bytes",
    [
        pytest.param(lambda: b"\xff\xff\xff", id="junk"),
        pytest.param(lambda: _request(["a"]), id="too-few"),
        pytest.param(lambda: _request(["a", "b", "c"]), id="too-many"),
        pytest.param(lambda: _request(["a", "b"], reveal_intersection=False), id="size-only"),
        pytest.param(lambda: _request(["a"], points=[b"\x02" * 33, b"\x02" * 32]), id="short"),
        pytest.param(lambda: _request(["a"], points=[b"\x05" * 33, b"\x02" * 33]), id="prefix"),
        pytest.param(lambda: _request(["a"], points=[_off_curve(), _off_curve()]), id="curve"),
    ],
)
def test_host_refuses_a_malformed_request(request_bytes: Callable[[], bytes]) -> None:
    channel, _ = in_process([_host("bank", ["a", "b"])], ROLES)
    channel.call("bank", "psi.setup", {"client_size": 2})
    with pytest.raises(FormatError, match="bank:"):
        channel.call("bank", "psi.request", {"request": request_bytes()})


@pytest.mark.parametrize("size", [0, -1, 10**9])
def test_host_refuses_a_bad_client_size(size: int) -> None:
    channel, _ = in_process([_host("bank", ["a"])], ROLES)
    with pytest.raises(FormatError):
        channel.call("bank", "psi.setup", {"client_size": size})


# --- the guest's checks on a host's replies -------------------------------------------


class _Lying(PsiHost):
    """A host whose setup or response is replaced (``mode`` picks how)."""

    mode = ""

    def handle(self, kind: str, fields: dict) -> dict:
        reply = super().handle(kind, fields)
        if kind == "psi.setup":
            return self._bad_setup(reply)
        if kind == "psi.request":
            return self._bad_response(reply)
        return reply

    def _bad_setup(self, reply: dict) -> dict:
        if self.mode == "setup-junk":
            return {"setup": b"\x0a\xff\xff"}
        if self.mode == "setup-empty":
            return {"setup": b""}
        if self.mode == "setup-gcs":
            server = psi.server.CreateWithNewKey(True)
            return {"setup": server.CreateSetupMessage(0.01, 3, ["a"]).SerializeToString()}
        if self.mode == "setup-extra":
            return {**reply, "extra": 1}
        if self.mode == "setup-point":
            setup = psi.ServerSetup()
            setup.ParseFromString(reply["setup"])
            setup.raw.encrypted_elements.append(b"\x02" * 20)
            return {"setup": setup.SerializeToString()}
        return reply

    def _bad_response(self, reply: dict) -> dict:
        if self.mode == "response-junk":
            return {"response": b"\xff"}
        response = psi.Response()
        response.ParseFromString(reply["response"])
        if self.mode == "response-short":
            del response.encrypted_elements[-1]
        elif self.mode == "response-long":
            response.encrypted_elements.append(response.encrypted_elements[0])
        elif self.mode == "response-bytes":
            response.encrypted_elements[0] = b"\x02" * 34
        return {"response": response.SerializeToString()}


@pytest.mark.parametrize(
    "mode",
    [
        "setup-junk",
        "setup-empty",
        "setup-gcs",
        "setup-extra",
        "setup-point",
        "response-junk",
        "response-short",
        "response-long",
        "response-bytes",
    ],
)
def test_guest_refuses_a_malformed_reply(mode: str) -> None:
    roles = {"psi": type("Liar", (_Lying,), {"mode": mode})}
    channel, _ = in_process([_host("bank", ["a", "b", "c"])], roles)
    with pytest.raises(FormatError):
        align(channel, ["a", "b", "x"])


# --- leakage --------------------------------------------------------------------------


def _forms(text: str) -> list[bytes]:
    """Every way an ID could appear in a message: raw, normalised, digest, hex digest."""
    normal = normalise_id(text)
    digest = id_digest(text)
    return [text.encode(), normal.encode(), digest, digest.hex().encode()]


def test_hosts_receive_nothing_of_the_guests_non_shared_ids() -> None:
    guest = [f"Cust-{i:04d}@example.com" for i in range(500)]
    bank = _host("bank", [g.lower() for g in guest[100:400]] + ["other-1"])
    shop = _host("shop", [g.upper() for g in guest[300:]] + ["other-2"])
    channel, parties = in_process([bank, shop], ROLES, record=True)
    result = align(channel, guest)
    assert result.size == 100
    final = {id_digest(guest[r]) for r in result.guest_rows}
    for data in (bank, shop):
        held = {normalise_id(i) for i in data.ids}
        bodies = parties[data.name].received
        assert len(bodies) == 3
        secret = [g for g in guest if normalise_id(g) not in held]
        assert len(secret) in (200, 300)
        for text in secret:
            for form in _forms(text):
                assert not any(form in body for body in bodies), (data.name, text)
        # what a host is told in clear: the final intersection's digests, nothing more
        assert all(d in bodies[-1] for d in final)  # the search does find what is sent
        for text in guest:
            if id_digest(text) not in final:
                assert not any(id_digest(text) in body for body in bodies)


def test_select_points_the_working_rows_at_aligned_positions() -> None:
    from veil.vertical.channel import HostData
    from veil.vertical.local import in_process

    host_ids = [f"id-{i}" for i in range(50)]
    host = HostData("shop", host_ids, np.arange(50, dtype=np.float64)[:, None], ["f"])
    channel, parties = in_process([host], {"psi": PsiHost})
    with pytest.raises(ProtocolError, match="before an alignment"):
        channel.call("shop", "psi.select", {"positions": np.array([0])})
    alignment = align(channel, [f"ID-{i}" for i in range(25, 75)])
    full = parties["shop"].data.aligned.copy()
    channel.call("shop", "psi.select", {"positions": np.array([3, 1], dtype=np.int64)})
    assert parties["shop"].data.aligned.tolist() == [full[3], full[1]]
    assert parties["shop"].data.intersection.tolist() == full.tolist()
    for bad in ([], [1, 1], [-1], [alignment.size]):
        with pytest.raises(FormatError):
            channel.call("shop", "psi.select", {"positions": np.array(bad, dtype=np.int64)})
