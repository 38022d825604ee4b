"""The Helper as an ASGI service (starlette + uvicorn): docs/protocol.md §5, §6, §8.

Leader requests carry a signed bearer token (Ed25519 over method, path, body hash, time and
audience: this Helper and task), checked from the headers before the body is read; bodies are
bounded; every :class:`VeilError` becomes a 4xx with its type, never a crash.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import time

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from veil.aggregation.aggregator import HelperCore
from veil.aggregation.transport import AUTH_SCHEME, auth_message, token_audience
from veil.errors import ConfigError, FormatError, ProtocolError, VeilError

log = logging.getLogger("veil.helper")
MAX_BODY = 64 * 1024 * 1024
MAX_SKEW_S = 300


class _TooLarge(Exception):
    pass


def _declared_too_large(request: Request, limit: int) -> bool:
    declared = request.headers.get("content-length")
    # isdigit() alone admits "²" and other non-ASCII digits; int() of 4,300+ digits raises
    return declared is not None and (
        not (declared.isascii() and declared.isdigit()) or len(declared) > 18
        or int(declared) > limit
    )  # fmt: skip


async def _read_body(request: Request, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _b64(text: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


def _authorised(core: HelperCore, request: Request, audience: bytes) -> bytes | None:
    """Check the token from the headers alone, before any of the body is read (an outsider
    cannot make the Helper buffer 64 MiB). Returns the body hash the token vouches for."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    # compare bytes: compare_digest raises TypeError on a str with non-ASCII characters
    if not hmac.compare_digest(scheme.encode("latin-1"), AUTH_SCHEME.encode()):
        return None
    ts_text, _, rest = token.partition(".")
    hash_text, _, sig_text = rest.partition(".")
    if not (ts_text.isascii() and ts_text.isdigit() and len(ts_text) <= 12):
        return None  # not plain ASCII seconds ("²" is a digit to isdigit, int() refuses it)
    if abs(time.time() - int(ts_text)) > MAX_SKEW_S:
        return None
    body_hash, sig = _b64(hash_text), _b64(sig_text)
    if body_hash is None or sig is None or len(body_hash) != 32:
        return None
    msg = auth_message(request.method, request.url.path, body_hash, int(ts_text), audience)
    return body_hash if core.cfg.leader_signing.verify(sig, msg) else None


def create_app(core: HelperCore, *, max_body: int = MAX_BODY) -> Starlette:
    audience = token_audience(core.cfg.helper_hpke, core.cfg.task_id)
    unauthorised = {"error": "unauthorized"}

    async def handle(request: Request) -> Response:
        op = request.path_params["op"]
        task = request.path_params["task"]
        if _declared_too_large(request, max_body):
            return JSONResponse({"error": "request body too large"}, status_code=413)
        body_hash = _authorised(core, request, audience)
        if body_hash is None:
            return JSONResponse(unauthorised, status_code=401)
        try:
            body = await _read_body(request, max_body)
        except _TooLarge:
            return JSONResponse({"error": "request body too large"}, status_code=413)
        if not hmac.compare_digest(hashlib.sha256(body).digest(), body_hash):
            return JSONResponse(unauthorised, status_code=401)
        if task != core.cfg.task_id.hex():
            return JSONResponse({"error": "unknown task", "type": "FormatError"}, 404)
        handler = {
            "verify": core.handle_verify,
            "collect": core.handle_collect,
            "countersign": core.handle_countersign,
        }.get(op)
        if handler is None:
            return JSONResponse({"error": "unknown operation"}, status_code=404)
        try:
            # CPU-bound VDAF work: run in a worker thread so the event loop stays responsive
            out = await run_in_threadpool(handler, body)
        except (FormatError, ConfigError) as exc:
            return JSONResponse({"error": str(exc), "type": type(exc).__name__}, 400)
        except ProtocolError as exc:
            return JSONResponse({"error": str(exc), "type": "ProtocolError"}, 409)
        except VeilError as exc:
            return JSONResponse({"error": str(exc), "type": type(exc).__name__}, 400)
        except Exception:  # never crash the service; log the type only (no data)
            log.exception("internal error in %s", op)
            return JSONResponse({"error": "internal error"}, status_code=500)
        return Response(out, media_type="application/octet-stream")

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "task": core.cfg.task_id.hex()})

    return Starlette(
        routes=[
            Route("/v1/health", health, methods=["GET"]),
            Route("/v1/tasks/{task}/{op}", handle, methods=["POST"]),
        ]
    )
