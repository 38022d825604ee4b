"""Security review (issue 13) finding 10: the Helper's endpoint checks.

(a) the helper URL is parsed, not prefix-matched; (b) a Leader token is bound to one Helper
and one task; (c) a request is authenticated from its headers before its body is read.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os

import pytest
from starlette.testclient import TestClient

from veil.aggregation.aggregator import HelperCore
from veil.aggregation.service import create_app
from veil.aggregation.store import SqliteStore
from veil.aggregation.testing import consortium_of, make_consortium
from veil.aggregation.transport import auth_header, token_audience
from veil.crypto.hpke_keys import X25519Identity
from veil.errors import ConfigError


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1.evil.example",
        "http://127.0.0.1.evil.example:8810",
        "http://localhost.evil.example",
        "http://127.0.0.1@evil.example",
        "http://localhost:80@evil.example",
        "http://10.0.0.1:80",
        "ftp://127.0.0.1",
        "http://127.0.0.1:notaport",
        "https://",
    ],
)
def test_helper_url_is_parsed_not_prefix_matched(url: str) -> None:
    con = make_consortium(n_clients=1)
    with pytest.raises(ConfigError):
        dataclasses.replace(con.cfg, helper_endpoint=url)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8810",
        "http://127.8.9.1",
        "http://[::1]:8810",
        "http://localhost:1",
        "https://helper.example:443",
    ],
)
def test_loopback_or_https_helper_urls_are_accepted(url: str) -> None:
    con = make_consortium(n_clients=1)
    assert dataclasses.replace(con.cfg, helper_endpoint=url).helper_endpoint == url


def _client(con) -> TestClient:
    store = SqliteStore(":memory:", con.helper_hpke)
    return TestClient(create_app(HelperCore(con.cfg, con.helper_hpke, store)))


def test_token_for_another_helper_or_task_is_refused() -> None:
    """The Leader's key signs for two Helpers of one task id (or one Helper of two tasks):
    a token the Leader minted for one must not be accepted by the other."""
    con = make_consortium(n_clients=2)
    other_helper = X25519Identity.generate()
    twin = consortium_of(con.leader_hpke, con.leader_signing, other_helper, con.client_keys)
    twin.cfg = dataclasses.replace(twin.cfg, task_id=con.cfg.task_id)
    path = f"/v1/tasks/{con.cfg.task_id.hex()}/verify"
    body = b"{}"
    client = _client(con)
    for audience in (twin.audience, token_audience(con.cfg.helper_hpke, os.urandom(32))):
        token = auth_header(con.leader_signing, "POST", path, body, audience=audience)
        r = client.post(path, content=body, headers={"authorization": token})
        assert r.status_code == 401, r.text
    token = auth_header(con.leader_signing, "POST", path, body, audience=con.audience)
    r = client.post(path, content=body, headers={"authorization": token})
    assert r.status_code == 400 and r.json()["type"] == "FormatError"  # authenticated


def _asgi_post(app, path: str, headers: list[tuple[bytes, bytes]], body: bytes) -> tuple:
    """POST through the ASGI app; (status, bytes of the body the app pulled in)."""
    pulled, sent = [0], []
    chunks = [body[i : i + 65536] for i in range(0, len(body), 65536)]

    async def receive():
        if not chunks:
            return {"type": "http.request", "body": b"", "more_body": False}
        chunk = chunks.pop(0)
        pulled[0] += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(msg):
        sent.append(msg)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": headers, "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 8810),
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, pulled[0]


def test_unauthenticated_request_is_refused_before_its_body_is_read() -> None:
    con = make_consortium(n_clients=2)
    app = create_app(HelperCore(con.cfg, con.helper_hpke, SqliteStore(":memory:", con.helper_hpke)))
    path = f"/v1/tasks/{con.cfg.task_id.hex()}/verify"
    body = os.urandom(4 << 20)  # chunked: no length declared
    for token in (b"", b"Veil-Ed25519 1.AAAA.AAAA", b"Bearer x"):
        status, pulled = _asgi_post(app, path, [(b"authorization", token)], body)
        assert (status, pulled) == (401, 0)
    good = auth_header(con.leader_signing, "POST", path, body, audience=con.audience)
    status, pulled = _asgi_post(app, path, [(b"authorization", good.encode())], body)
    assert status == 400 and pulled == len(body)  # authenticated, read, then malformed
    # a token for other bytes: the body is read, its hash differs → 401
    other = auth_header(con.leader_signing, "POST", path, b"{}", audience=con.audience)
    status, _ = _asgi_post(app, path, [(b"authorization", other.encode())], body)
    assert status == 401
