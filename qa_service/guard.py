"""Guard: the outermost middleware of the app (inside the server's own error middleware).

- Request bodies over `max_bytes` (`admin_max_bytes` under /api/admin/, where operators ingest
  whole regulations) get 413 before any parsing.
- A body must arrive in full within `body_timeout_s` of the app first reading it, else 408 and
  the connection is closed: a client that sends headers and half a body cannot hold the request open.
- Every response carries the security headers; personal and admin data are marked `no-store`.
- Any unhandled exception becomes the Chinese error envelope (logged with its traceback)
  instead of a reset connection or a bare 500 page.
"""

from __future__ import annotations

import json
import logging

import anyio
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qa_service.errors import ErrorCode, envelope

logger = logging.getLogger(__name__)

ADMIN_PREFIX = "/api/admin/"
# Responses no cache (browser, proxy) may keep: profiles and inbox hold personal data; admin
# responses hold residents' feedback and delivery reports.
NO_STORE_PREFIXES = ("/api/profiles", ADMIN_PREFIX)
SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
# For everything that is not an HTML page (JSON, SSE, JSONL): nothing to run, never framed.
# Pages (qa_service.pages) send their own policy; FastAPI's /docs pages are left as they are.
API_CSP = b"default-src 'none'; frame-ancestors 'none'"


class BodyTimeout(HTTPException):
    """The client stopped sending its body; the error handlers answer 408 REQUEST_TIMEOUT."""

    def __init__(self) -> None:
        super().__init__(408)


class Guard:
    def __init__(
        self, app: ASGIApp, max_bytes: int, admin_max_bytes: int | None = None, body_timeout_s: float = 15.0
    ) -> None:
        if body_timeout_s <= 0:
            raise ValueError(f"body_timeout_s must be > 0, got {body_timeout_s}")
        self.app = app
        self.max_bytes = max_bytes
        self.admin_max_bytes = max(admin_max_bytes or max_bytes, max_bytes)
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        started = False

        async def guarded_send(msg: Message) -> None:
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
                msg = {**msg, "headers": _with_security_headers(path, list(msg.get("headers") or []))}
            await send(msg)

        try:
            await self._limited(scope, receive, guarded_send)
        except BodyTimeout:
            logger.info("request body not received in %.1f s on %s %s", self.body_timeout_s, scope.get("method"), path)
            if not started:
                await _send_json(guarded_send, 408, envelope(ErrorCode.REQUEST_TIMEOUT), close=True)
        except Exception:
            logger.exception("unhandled error on %s %s", scope.get("method"), path)
            if not started:
                await _send_json(guarded_send, 500, envelope(ErrorCode.INTERNAL_ERROR))

    async def _limited(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.admin_max_bytes if str(scope.get("path", "")).startswith(ADMIN_PREFIX) else self.max_bytes
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await _send_json(send, 413, envelope(ErrorCode.BODY_TOO_LARGE))
            return
        if length not in (None, b"0") or b"transfer-encoding" in headers:
            receive = _with_deadline(receive, self.body_timeout_s)
        if length is not None or scope.get("method") not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        # Without a length header (chunked), read up to the limit, then replay the body.
        chunks: list[bytes] = []
        seen = 0
        while True:
            msg = await receive()
            if msg["type"] != "http.request":
                break
            chunk = msg.get("body", b"")
            seen += len(chunk)
            if seen > limit:
                await _send_json(send, 413, envelope(ErrorCode.BODY_TOO_LARGE))
                return
            chunks.append(chunk)
            if not msg.get("more_body"):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _with_deadline(receive: Receive, seconds: float) -> Receive:
    """`receive`, raising BodyTimeout if the body is not complete `seconds` after it was first asked for.

    Only the body is timed: once its last chunk is in, calls pass straight through (a streaming
    response waits in `receive` for the client to disconnect, for as long as it streams).
    """
    deadline: float | None = None
    done = False

    async def receive_in_time() -> Message:
        nonlocal deadline, done
        if done:
            return await receive()
        if deadline is None:
            deadline = anyio.current_time() + seconds
        try:
            with anyio.fail_after(max(0.0, deadline - anyio.current_time())):
                msg = await receive()
        except TimeoutError:
            raise BodyTimeout() from None
        done = msg["type"] != "http.request" or not msg.get("more_body", False)
        return msg

    return receive_in_time


def _with_security_headers(path: str, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    names = {k.lower() for k, _ in headers}
    out = [h for h in headers if not (path.startswith(NO_STORE_PREFIXES) and h[0].lower() == b"cache-control")]
    out += [h for h in SECURITY_HEADERS if h[0] not in names]
    if path.startswith(NO_STORE_PREFIXES):
        out.append((b"cache-control", b"no-store"))
    html = any(k.lower() == b"content-type" and v.startswith(b"text/html") for k, v in headers)
    if not html:
        if b"content-security-policy" not in names:
            out.append((b"content-security-policy", API_CSP))
        if b"x-frame-options" not in names:
            out.append((b"x-frame-options", b"DENY"))
    return out


async def _send_json(send: Send, status: int, payload: dict, close: bool = False) -> None:
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = [(b"content-type", b"application/json; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
