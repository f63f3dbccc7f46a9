"""`python -m qa_service`: serve on the host and port from settings.

Logging is set up here, and only here: one stderr handler whose formatter masks personal data
in every line (`qa_service.privacy.MaskingFormatter`). uvicorn's access log is off, because it
writes the query string (`/api/search?q=…`, `/api/ask/stream?question=…`); the app's
`qa_service.metrics.MetricsMiddleware` logs method, path without query, status and duration instead.
"""

from __future__ import annotations

import logging

import uvicorn

from qa_service.app import build_state, create_app
from qa_service.logs import JsonFormatter
from qa_service.privacy import MaskingFormatter
from qa_service.settings import get_settings
from qa_service.store import StoreError


def configure_logging(level: int = logging.INFO, fmt: str = "text") -> None:
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())  # one JSON object a line, with the request id; masked too
    else:
        handler.setFormatter(MaskingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)


def main() -> None:
    settings = get_settings()
    configure_logging(fmt=settings.log_format)
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
            create_app(settings, state=state),
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
