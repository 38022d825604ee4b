"""The Helper under abuse, as a real process on 127.0.0.1 (issue 7 item 5; docs/security.md).

Every class of hostile request gets the typed answer of docs/protocol.md §8, and after each
class the service still answers its health check; the last test runs an honest round.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from dataclasses import replace

import httpx
import numpy as np
import pytest

from veil.aggregation.leader import VerifiedAggregator
from veil.aggregation.messages import (
    CollectRequest,
    VerifyItem,
    VerifyRequest,
    checksum,
    decode_verify_response,
)
from veil.aggregation.process import HelperProcess, free_port
from veil.aggregation.report import ReportMetadata, seal_share, verify_key_info
from veil.aggregation.testing import make_consortium
from veil.aggregation.transport import HttpHelper, auth_header, token_audience
from veil.crypto.hpke_keys import X25519Identity
from veil.crypto.signing import Ed25519Identity

pytestmark = pytest.mark.e2e
D = 16


class _Abort(Exception):
    pass


class Recorder:
    """A Leader transport that forwards to the real Helper and keeps the bytes it sent."""

    def __init__(self, http: HttpHelper, collect: bool = True) -> None:
        self.http, self.do_collect = http, collect
        self.verify_bodies: list[bytes] = []
        self.collect_bodies: list[bytes] = []

    def verify(self, body: bytes) -> bytes:
        self.verify_bodies.append(body)
        return self.http.verify(body)

    def collect(self, body: bytes) -> bytes:
        self.collect_bodies.append(body)
        if not self.do_collect:
            raise _Abort
        return self.http.collect(body)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    port = free_port()
    con = make_consortium(
        n_clients=4, dimension=D, helper_endpoint=f"http://127.0.0.1:{port}", denominator=10
    )
    hp = HelperProcess(tmp_path_factory.mktemp("abuse"), con.cfg, con.helper_hpke, port)
    hp.start()
    client = httpx.Client(base_url=con.cfg.helper_endpoint, timeout=30)
    yield con, hp, client
    client.close()
    hp.stop()


def _path(con, op: str, task: bytes | None = None) -> str:
    return f"/v1/tasks/{(task or con.cfg.task_id).hex()}/{op}"


def _post(client, con, op: str, body: bytes, *, auth: str | None = None, path: str | None = None):
    path = path or _path(con, op)
    if auth is None:
        auth = auth_header(con.leader_signing, "POST", path, body, audience=con.audience)
    headers = {"authorization": auth.encode("latin-1")} if auth else {}
    return client.post(path, content=body, headers=headers)


def _alive(env) -> None:
    con, hp, client = env
    assert hp.proc is not None and hp.proc.poll() is None, "the Helper process died"
    r = client.get("/v1/health")
    assert r.status_code == 200 and r.json()["task"] == con.cfg.task_id.hex()


def _typed(r: httpx.Response, status: int, kind: str | None) -> dict:
    assert r.status_code == status, (r.status_code, r.text[:300])
    body = r.json()
    if kind is not None:
        assert body["type"] == kind, body
    return body


def _reports(con, rnd: int, clients=(0, 1, 2)):
    rng = np.random.default_rng(rnd)
    return [con.builder(f"c{i}").build(rnd, rng.normal(size=D) * 0.1, 3) for i in clients]


def _verify_body(con, rnd: int, items: list[VerifyItem], vk: bytes | None = None) -> bytes:
    vk = os.urandom(48) if vk is None else vk
    sealed = seal_share(con.cfg.helper_hpke, vk, verify_key_info(con.cfg.task_id, rnd))
    return VerifyRequest(con.cfg.task_id, rnd, sealed, items).encode()


def _leader_http(con) -> HttpHelper:
    """The Leader's own HTTP client to the Helper (one attempt: a test wants the first answer)."""
    return HttpHelper(
        con.cfg.helper_endpoint,
        con.cfg.task_id,
        con.leader_signing,
        helper=con.cfg.helper_hpke,
        attempts=1,
    )


def _honest_batch(env, rnd: int) -> VerifyRequest:
    """The Leader's real verify request of round ``rnd`` (the round is left uncollected)."""
    con, _, _ = env
    http = _leader_http(con)
    rec = Recorder(http, collect=False)
    with pytest.raises(_Abort):
        VerifiedAggregator(con.cfg, con.leader_hpke, rec).aggregate_round(rnd, _reports(con, rnd))
    http.close()
    return VerifyRequest.decode(rec.verify_bodies[0])


def test_unauthenticated_requests_are_401(env):
    con, _, client = env
    body = b'{"task": "00"}'
    path = _path(con, "verify")
    now = int(time.time())
    good_sig = auth_header(con.leader_signing, "POST", path, body, audience=con.audience).split(
        ".", 1
    )[1]
    tokens = {
        "no token": "",
        "other scheme": f"Bearer {now}.{good_sig}",
        "non-ASCII scheme": f"Veil-Ed25519\u00e9 {now}.{good_sig}",
        "bad signature (other key)": auth_header(
            Ed25519Identity.generate(), "POST", path, body, audience=con.audience
        ),
        "signature not base64": f"Veil-Ed25519 {now}.!!!!",
        "signature truncated": f"Veil-Ed25519 {now}.{good_sig[:40]}",
        "expired": auth_header(
            con.leader_signing, "POST", path, body, ts=now - 3600, audience=con.audience
        ),
        "from the future": auth_header(
            con.leader_signing, "POST", path, body, ts=now + 3600, audience=con.audience
        ),
        "other body": auth_header(
            con.leader_signing, "POST", path, body + b" ", audience=con.audience
        ),
        "other path": auth_header(
            con.leader_signing, "POST", _path(con, "collect"), body, audience=con.audience
        ),
        "other method": auth_header(con.leader_signing, "GET", path, body, audience=con.audience),
        "for another Helper": auth_header(
            con.leader_signing,
            "POST",
            path,
            body,
            audience=token_audience(X25519Identity.generate().recipient(), con.cfg.task_id),
        ),
        "for another task": auth_header(
            con.leader_signing,
            "POST",
            path,
            body,
            audience=token_audience(con.cfg.helper_hpke, os.urandom(32)),
        ),
        "no timestamp": f"Veil-Ed25519 .{good_sig}",
        "non-ASCII digit timestamp": f"Veil-Ed25519 \u00b2.{good_sig}",
        "5000-digit timestamp": f"Veil-Ed25519 {'9' * 5000}.{good_sig}",
    }
    for what, token in tokens.items():
        r = _post(client, con, "verify", body, auth=token)
        assert r.status_code == 401, (what, r.status_code, r.text[:200])
        assert r.json() == {"error": "unauthorized"}, what
    _alive(env)


def test_wrong_task_and_operation(env):
    con, _, client = env
    other = os.urandom(32)
    body = _verify_body(con, 0, [])
    _typed(_post(client, con, "verify", body, path=_path(con, "verify", other)), 404, "FormatError")
    bad_hex = "/v1/tasks/zz/verify"
    _typed(_post(client, con, "verify", body, path=bad_hex), 404, "FormatError")
    # the path names this task, the signed body another one
    alien = json.loads(body)
    alien["task"] = other.hex()
    r = _post(client, con, "verify", json.dumps(alien).encode())
    assert "unknown task" in _typed(r, 400, "FormatError")["error"]
    assert _post(client, con, "aggregate", body).status_code == 404
    assert client.get(_path(con, "verify")).status_code == 405
    _alive(env)


def _raw_http(port: int, head: bytes, send_body=None, timeout=20.0) -> bytes:
    """Send raw bytes; return what the server answered (HTTP/1.1, one request)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(head)
        if send_body is not None:
            # the server may answer and close before we finish sending: expected
            with contextlib.suppress(OSError):
                send_body(s)
        data = b""
        try:
            while chunk := s.recv(65536):
                data += chunk
                if b"\r\n\r\n" in data:
                    break
        except OSError:
            pass
        return data


def test_oversized_bodies_are_413_without_reading_them(env):
    con, hp, _ = env
    path = _path(con, "verify")
    # declares 1 GiB and sends none of it: the answer must come from the header alone
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {1 << 30}\r\n"
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    t0 = time.time()
    answer = _raw_http(hp.port, head)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert time.time() - t0 < 10
    # chunked (no length declared): refused once 64 MiB have streamed in
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
        f"Authorization: {auth_header(con.leader_signing, 'POST', path, b'', audience=con.audience)}"
        "\r\n\r\n"
    ).encode()
    piece = b"x" * (1 << 20)

    def chunks(s):
        for _ in range(80):  # 80 MiB at most, bounded
            s.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
        s.sendall(b"0\r\n\r\n")

    answer = _raw_http(hp.port, head, chunks)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    _alive(env)


def test_malformed_encodings_are_typed(env):
    con, _, client = env
    rng = np.random.default_rng(7)
    good = _verify_body(con, 1, [])
    bomb = b"[" * 200_000 + b"]" * 200_000
    cases = {
        "random bytes": rng.bytes(4096),
        "empty": b"",
        "not an object": b"[1, 2, 3]",
        "truncated": good[: len(good) // 2],
        "nesting bomb": bomb,
        "task id 31 bytes": good.replace(con.cfg.task_id.hex().encode(), b"ab" * 31),
        "round not a uint32": good.replace(b'"round": 1', b'"round": 4294967296'),
        "round a bool": good.replace(b'"round": 1', b'"round": true'),
        "reports not a list": good.replace(b'"reports": []', b'"reports": {}'),
        "report of 3 fields": good.replace(b'"reports": []', b'"reports": [["", "", ""]]'),
        "report field not base64": good.replace(b'"reports": []', b'"reports": [[1, 2, 3, 4]]'),
        "batch over max_batch": good.replace(
            b'"reports": []', json.dumps({"reports": [[""] * 6] * 33})[1:-1].encode()
        ),
    }
    for what, body in cases.items():
        r = _post(client, con, "verify", body)
        assert r.status_code == 400, (what, r.status_code, r.text[:200])
        assert r.json()["type"] == "FormatError", what
    # a verify key that opens to the wrong length / does not open at all
    short_vk = _verify_body(con, 1, [], vk=os.urandom(47))
    _typed(_post(client, con, "verify", short_vk), 400, "FormatError")
    junk_vk = json.loads(good)
    junk_vk["verify_key"] = "AAAA" * 20
    _typed(_post(client, con, "verify", json.dumps(junk_vk).encode()), 409, "ProtocolError")
    for what, body in {
        "collect random": rng.bytes(100),
        "collect ids not a list": b'{"task": "%s", "round": 1, "report_ids": 5}'
        % con.cfg.task_id.hex().encode(),
        "collect checksum not hex": CollectRequest(con.cfg.task_id, 1, [], b"")
        .encode()
        .replace(b'"checksum": ""', b'"checksum": "xyz"'),
    }.items():
        r = _post(client, con, "collect", body)
        assert r.status_code == 400 and r.json()["type"] == "FormatError", (what, r.text)
    _alive(env)


def test_valid_framing_with_junk_inside(env):
    con, _, client = env
    rnd = 2
    req = _honest_batch(env, rnd)
    a, b, c = req.items
    other_task = ReportMetadata(os.urandom(32), rnd, os.urandom(16), "c1", b"", b"")

    def send(items, vk_sealed=req.verify_key_sealed, r=rnd):
        body = VerifyRequest(con.cfg.task_id, r, vk_sealed, items).encode()
        resp = _post(client, con, "verify", body)
        assert resp.status_code == 200, resp.text[:300]
        return [x.reason.value if x.reason else None for x in decode_verify_response(resp.content)]

    def junk(n: int) -> bytes:
        return os.urandom(n)

    # well-formed JSON and base64, garbage inside each field; the Leader's own verify key
    assert send(
        [
            replace(a, metadata=junk(200)),
            replace(a, metadata=a.metadata[:-1]),
            replace(b, metadata=other_task.encode()),
            replace(b, helper_share=junk(len(b.helper_share))),
            replace(b, helper_share=b.helper_share[:10]),
            replace(c, leader_pine_vs=junk(len(c.leader_pine_vs))),
            replace(c, leader_pine_vs=c.leader_pine_vs[:-1]),
            replace(c, leader_pine_vs=b""),
            replace(c, leader_weight_vs=junk(len(c.leader_weight_vs))),
            replace(c, leader_weight_vs=c.leader_weight_vs + b"\0"),
            replace(c, signature=junk(64)),
            replace(c, leader_share_hash=junk(32)),
        ]
    ) == [
        "malformed",
        "malformed",
        "wrong_task",
        "bad_signature",  # the client signed its Helper share: changed, it is not the client's
        "bad_signature",
        "update_invalid",
        "update_invalid",
        "update_invalid",
        "weight_invalid",
        "weight_invalid",
        "bad_signature",
        "bad_signature",
    ]
    # another verify key for a round already bound: the whole request is refused
    other_vk = seal_share(
        con.cfg.helper_hpke, os.urandom(48), verify_key_info(con.cfg.task_id, rnd)
    )
    body = VerifyRequest(con.cfg.task_id, rnd, other_vk, [a]).encode()
    _typed(_post(client, con, "verify", body), 409, "ProtocolError")
    # round-2 reports inside a round-3 request; relabelled to round 3 their shares do not open
    vk3 = seal_share(con.cfg.helper_hpke, os.urandom(48), verify_key_info(con.cfg.task_id, 3))
    assert send([a, b], vk3, 3) == ["wrong_round", "wrong_round"]
    relabel = [
        replace(x, metadata=_with_round(x.metadata, 3)) for x in (b, c)
    ]  # the round is signed: relabelled, the reports are no longer the clients'
    assert send(relabel, vk3, 3) == ["bad_signature"] * 2
    # the genuine items still verify after all that (a retry of the open round)
    assert send([a, b, c]) == [None, None, None]
    _alive(env)


def _reader(data: bytes):
    from veil.aggregation.report import Reader

    return Reader(data)


def _with_round(metadata: bytes, rnd: int) -> bytes:
    md = ReportMetadata.read(_reader(metadata))
    return ReportMetadata(
        md.task_id, rnd, os.urandom(16), md.client_id, md.pine_public_share, md.weight_public_share
    ).encode()


def test_replayed_batches(env):
    con, _, client = env
    rnd = 4
    http = _leader_http(con)
    rec = Recorder(http, collect=False)
    leader = VerifiedAggregator(con.cfg, con.leader_hpke, rec)
    reports = _reports(con, rnd)
    with pytest.raises(_Abort):
        leader.aggregate_round(rnd, reports)
    (verify_body,) = rec.verify_bodies
    first = decode_verify_response(http.verify(verify_body))
    # the same batch again while the round is open: an idempotent Leader retry, same answer
    again = decode_verify_response(_post(client, con, "verify", verify_body).content)
    assert again == first and all(x.reason is None for x in first)
    # the same report ids in a later round: replayed
    req = VerifyRequest.decode(verify_body)
    later = [replace(x, metadata=_same_id_round(x.metadata, rnd + 1)) for x in req.items]
    r = _post(client, con, "verify", _verify_body(con, rnd + 1, later))
    # the round is signed: relabelled, they are refused before the replay check
    assert [x.reason.value for x in decode_verify_response(r.content)] == ["bad_signature"] * 3
    # collect the round, then replay: verify → 409, collect → the same share (no fresh noise)
    ids = [x.report_id for x in first]
    collect = CollectRequest(con.cfg.task_id, rnd, ids, checksum(ids)).encode()
    share = _post(client, con, "collect", collect)
    assert share.status_code == 200
    body = _typed(_post(client, con, "verify", verify_body), 409, "ProtocolError")
    assert "collected" in body["error"]
    assert _post(client, con, "collect", collect).content == share.content
    # a byte-for-byte replay of a captured request (same token) is the same request
    token = auth_header(
        con.leader_signing, "POST", _path(con, "verify"), verify_body, audience=con.audience
    )
    for _ in range(2):
        _typed(_post(client, con, "verify", verify_body, auth=token), 409, "ProtocolError")
    # collect mismatches: checksum, duplicates, ids never accepted, a round never verified
    bad = [
        CollectRequest(con.cfg.task_id, 9, ids, os.urandom(32)),
        CollectRequest(con.cfg.task_id, 9, ids + ids[:1], checksum(ids + ids[:1])),
        CollectRequest(con.cfg.task_id, 9, ids, checksum(ids)),
    ]
    for req in bad:
        _typed(_post(client, con, "collect", req.encode()), 409, "ProtocolError")
    http.close()
    _alive(env)


def _same_id_round(metadata: bytes, rnd: int) -> bytes:
    md = ReportMetadata.read(_reader(metadata))
    return ReportMetadata(
        md.task_id, rnd, md.report_id, md.client_id, md.pine_public_share, md.weight_public_share
    ).encode()


def test_honest_round_still_works_after_the_abuse(env):
    con, _, _ = env
    _alive(env)
    http = _leader_http(con)
    leader = VerifiedAggregator(con.cfg, con.leader_hpke, http)
    rng = np.random.default_rng(11)
    ups = [rng.normal(size=D) * 0.05 for _ in range(4)]
    reports = [con.builder(f"c{i}").build(20, ups[i], i + 1) for i in range(4)]
    res = leader.aggregate_round(20, reports)
    assert sorted(res.accepted) == ["c0", "c1", "c2", "c3"] and res.rejected == []
    want = sum((i + 1) * ups[i] for i in range(4)) / 10
    assert res.denominator == 10  # D = the expected Σw: the weighted mean
    np.testing.assert_allclose(res.aggregate, want, atol=1e-3)
    http.close()
