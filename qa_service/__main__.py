"""`python -m qa_service`: serve on the host and port from settings.

Logging is set up here, and only here: one stderr handler whose formatter masks personal data
in every line (`qa_service.privacy.MaskingFormatter`). uvicorn's access log is off, because it
writes the query string (`/api/search?q=…`, `/api/ask/stream?question=…`); `AccessLog` writes
method, path without query, status and duration instead.
"""

from __future__ import annotations

import logging
import time

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qa_service.app import build_state, create_app
from qa_service.privacy import MaskingFormatter
from qa_service.settings import get_settings
from qa_service.store import StoreError

access_logger = logging.getLogger("qa_service.access")


class AccessLog:
    """ASGI wrapper logging `GET /api/search 200 3ms`: no query string, no client address."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers if the app fails before starting a response

        async def recording_send(msg: Message) -> None:
            nonlocal status
            if msg["type"] == "http.response.start":
                status = int(msg["status"])
            await send(msg)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            ms = (time.perf_counter() - started) * 1000
            access_logger.info("%s %s %d %.0fms", scope.get("method"), _printable(scope.get("path", "")), status, ms)


def _printable(path: str, limit: int = 200) -> str:
    """The path as one short log line: a decoded %0A cannot start a forged line (a space, so masking still sees
    "133%E3%80%801234" as the grouped number it is)."""
    clean = "".join(c if c.isprintable() else " " for c in path)
    return clean if len(clean) <= limit else clean[:limit] + "…"


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(MaskingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)


def main() -> None:
    configure_logging()
    settings = get_settings()
    # Built before the server starts, so a file the service cannot use is refused in one line naming it,
    # not in a traceback from inside the ASGI lifespan.
    try:
        state = build_state(settings)
    except StoreError as exc:
        logging.getLogger("qa_service").error("cannot start: %s", exc)
        raise SystemExit(2) from None
    try:
        # log_config=None: uvicorn's own loggers propagate to the masking handler above.
        uvicorn.run(
            AccessLog(create_app(settings, state=state)),
            host=settings.host,
            port=settings.port,
            access_log=False,
            log_config=None,
        )
    finally:
        state.store.close()
        state.push_store.close()


if __name__ == "__main__":
    main()
