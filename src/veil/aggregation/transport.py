"""How the Leader reaches the Helper: in process (tests, demo) or over HTTP (``httpx``)."""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Protocol

from veil.aggregation.aggregator import HelperCore
from veil.crypto.hpke_keys import X25519Recipient
from veil.crypto.signing import Ed25519Identity
from veil.errors import ProtocolError

AUTH_SCHEME = "Veil-Ed25519"
AUTH_LABEL = b"veil/v1/agg/auth\x00"
AUDIENCE_LABEL = b"veil/v1/agg/audience\x00"


class HelperTransport(Protocol):
    def verify(self, body: bytes) -> bytes: ...

    def collect(self, body: bytes) -> bytes: ...


class InProcessHelper:
    """Calls the Helper's handlers directly with the same bytes HTTP would carry."""

    def __init__(self, core: HelperCore) -> None:
        self.core = core

    def verify(self, body: bytes) -> bytes:
        return self.core.handle_verify(body)

    def collect(self, body: bytes) -> bytes:
        return self.core.handle_collect(body)

    def countersign(self, body: bytes) -> bytes:
        return self.core.handle_countersign(body)


def token_audience(helper_hpke: X25519Recipient, task_id: bytes) -> bytes:
    """Whom a token is for: one Helper (its HPKE public key) and one task (docs/protocol.md
    §6), so a token the Leader minted for another Helper or task is refused here."""
    return hashlib.sha256(AUDIENCE_LABEL + helper_hpke.public_bytes() + task_id).digest()


def auth_message(method: str, path: str, body_hash: bytes, ts: int, audience: bytes) -> bytes:
    """docs/protocol.md §6: what the Leader signs for one request (the body by its hash, so
    the Helper can check the token from the headers before it reads the body)."""
    return (
        AUTH_LABEL
        + method.upper().encode()
        + b"\x00"
        + path.encode()
        + b"\x00"
        + body_hash
        + b"\x00"
        + str(ts).encode()
        + b"\x00"
        + audience
    )


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def auth_header(
    key: Ed25519Identity,
    method: str,
    path: str,
    body: bytes,
    ts: int | None = None,
    *,
    audience: bytes,
) -> str:
    """``Veil-Ed25519 <ts>.<b64url SHA-256(body)>.<b64url signature>``."""
    ts = int(time.time()) if ts is None else ts
    digest = hashlib.sha256(body).digest()
    sig = key.sign(auth_message(method, path, digest, ts, audience))
    return f"{AUTH_SCHEME} {ts}.{b64url(digest)}.{b64url(sig)}"


class HttpHelper:
    """POSTs to the Helper service with a signed bearer token; retries with backoff."""

    def __init__(
        self,
        endpoint: str,
        task_id: bytes,
        leader_key: Ed25519Identity,
        *,
        helper: X25519Recipient,
        attempts: int = 5,
        backoff_s: float = 0.2,
        timeout_s: float = 120.0,
    ) -> None:
        import httpx  # lazy: httpx (≈90 ms) only for the HTTP transport, not in-process

        self.endpoint = endpoint.rstrip("/")
        self.prefix = f"/v1/tasks/{task_id.hex()}"
        self.key = leader_key
        self.audience = token_audience(helper, task_id)
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.client = httpx.Client(timeout=timeout_s)

    def verify(self, body: bytes) -> bytes:
        return self._post(f"{self.prefix}/verify", body)

    def collect(self, body: bytes) -> bytes:
        return self._post(f"{self.prefix}/collect", body)

    def countersign(self, body: bytes) -> bytes:
        """An audit record's canonical line → the Helper's countersignature (veil.audit)."""
        return self._post(f"{self.prefix}/countersign", body)

    def close(self) -> None:
        self.client.close()

    def _post(self, path: str, body: bytes) -> bytes:
        import httpx  # lazy: httpx (≈90 ms) only for the HTTP transport, not in-process

        delay = self.backoff_s
        last = "no attempt"
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(delay)
                delay *= 2
            headers = {
                "authorization": auth_header(self.key, "POST", path, body, audience=self.audience),
                "content-type": "application/octet-stream",
            }
            try:
                resp = self.client.post(self.endpoint + path, content=body, headers=headers)
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}"
                continue
            if resp.status_code >= 500:
                last = f"HTTP {resp.status_code}"
                continue
            if resp.status_code != 200:
                raise ProtocolError(
                    f"the Helper refused {path}: HTTP {resp.status_code} {resp.text[:200]}"
                )
            return resp.content
        raise ProtocolError(f"the Helper is unreachable after {self.attempts} attempts ({last})")
