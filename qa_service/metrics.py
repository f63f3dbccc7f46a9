"""Prometheus metrics (`GET /metrics`, admin key): requests and latency per route, answers by source,
index size and age, push outbox by status.

Each app has its own registry, so several apps in one process (tests) never share counters. Route
labels are the route templates (`/api/documents/{doc_id}`), never raw paths: an id in a label would
grow the series without bound and could carry what a resident typed.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qa_service.logs import REQUEST_ID

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Retrieval answers in tens of milliseconds; an ingest may take seconds.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "qa_http_requests", "HTTP requests by route and status", ["method", "route", "status"],
            registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "qa_http_request_duration_seconds", "HTTP request latency by route", ["method", "route"],
            buckets=_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.answers = Counter(
            "qa_answers", "Answers given, by source (extractive, faq, generated) and abstention",
            ["source", "abstained"], registry=self.registry,
        )  # fmt: skip

    def watch(self, state: Callable[[], Any]) -> None:
        """Report the index and the push outbox of `state()` at every scrape."""
        self.registry.register(_StateCollector(state))

    def count_answer(self, source: str, abstained: bool) -> None:
        self.answers.labels(source=source, abstained=str(bool(abstained)).lower()).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _StateCollector(Collector):
    def __init__(self, state: Callable[[], Any]) -> None:
        self._state = state

    def collect(self) -> Iterator[Metric]:
        state = self._state()
        if state is None:
            return
        snap = state.snapshot()
        docs = GaugeMetricFamily("qa_index_documents", "Documents in the served index")
        docs.add_metric([], len(snap.index.documents))
        passages = GaugeMetricFamily("qa_index_passages", "Live passages in the served index")
        passages.add_metric([], len(snap.index))
        age = GaugeMetricFamily("qa_index_age_seconds", "Seconds since the served index snapshot was swapped in")
        age.add_metric([], max(0.0, time.time() - state.snapshot_time))
        yield from (docs, passages, age)
        outbox = GaugeMetricFamily("qa_push_outbox_messages", "Push messages by delivery status", labels=["status"])
        for status, n in state.push_store.status_counts().items():
            outbox.add_metric([status], n)
        yield outbox


access_logger = logging.getLogger("qa_service.access")
_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._-]{8,64}$")  # a proxy's id is kept if it looks like one


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers") or ():
        if name == b"x-request-id" and _REQUEST_ID.match(value):
            return value.decode()
    return uuid.uuid4().hex[:16]


class MetricsMiddleware:
    """Times every HTTP request, counts it under its route template in the metrics of `state()`, and
    writes the access log line `GET /api/search 200 3ms`: no query string, no client address.

    Outermost, so the Guard's own answers (413, 408, the last-resort 500) are counted and logged too.
    """

    def __init__(self, app: ASGIApp, state: Callable[[], Any]) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers if the app fails before starting a response
        rid = _request_id(scope)
        token = REQUEST_ID.set(rid)

        async def recording_send(msg: Message) -> None:
            nonlocal status
            if msg["type"] == "http.response.start":
                status = int(msg["status"])
                msg = {**msg, "headers": [*msg.get("headers", []), (b"x-request-id", rid.encode())]}
            await send(msg)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            seconds = time.perf_counter() - started
            method = str(scope.get("method", ""))
            path = _printable(scope.get("path", ""))
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            fields = {"method": method, "path": path, "route": route, "status": status}
            access_logger.info(
                "%s %s %d %.0fms", method, path, status, seconds * 1000,
                extra={**fields, "duration_ms": round(seconds * 1000, 1)},
            )  # fmt: skip
            REQUEST_ID.reset(token)
            state = self.state()
            if state is not None:  # before the lifespan has built the state there is nothing to count into
                state.metrics.requests.labels(method=method, route=route, status=str(status)).inc()
                state.metrics.latency.labels(method=method, route=route).observe(seconds)


def _printable(path: str, limit: int = 200) -> str:
    """The path as one short log line: a decoded %0A cannot start a forged line. Non-printing
    characters become spaces (not "?", which would read as a query string), so a number written
    with odd separators is still one number to the masking formatter."""
    clean = "".join(c if c.isprintable() else " " for c in path)
    return clean if len(clean) <= limit else clean[:limit] + "…"
