"""Log lines as JSON objects (`QA_LOG_FORMAT=json`), each with the id of the request it belongs to.

The request id is set by `qa_service.metrics.MetricsMiddleware` for the duration of a request (and sent
back as `X-Request-ID`); every string is masked like the text format's lines, so no contact detail leaves.
"""

from __future__ import annotations

import json
import logging
import time
from contextvars import ContextVar

from qa_service.privacy import mask_personal

REQUEST_ID: ContextVar[str | None] = ContextVar("qa_request_id", default=None)
# Fields the access log passes with `extra=`; anything else a record carries is not written.
_FIELDS = ("method", "path", "route", "status", "duration_ms")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": mask_personal(record.getMessage()),
        }
        rid = REQUEST_ID.get()
        if rid:
            out["request_id"] = rid
        for name in _FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                out[name] = mask_personal(value) if isinstance(value, str) else value
        if record.exc_info:
            out["error"] = mask_personal(self.formatException(record.exc_info))
        return json.dumps(out, ensure_ascii=False)
