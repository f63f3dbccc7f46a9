"""The FastAPI application: `python -m qa_service` (or `uvicorn qa_service.app:app --no-access-log`:
uvicorn's own access log writes query strings, which may hold residents' contact details).

The lifespan loads the index once and puts an `AppState` on `app.state.qa`; routes
get it through the `get_state` dependency (tests override it).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from starlette.middleware.cors import CORSMiddleware

from corpus.library import Library
from qa_service.errors import install_error_handlers
from qa_service.faq import load_faq_file
from qa_service.guard import Guard
from qa_service.loading import link_versions, load_encoder, open_index
from qa_service.metrics import MetricsMiddleware
from qa_service.pages import DocsPolicy
from qa_service.push import worker
from qa_service.push.delivery import PeriodicDeliverer, deliver
from qa_service.push.streets import street_table
from qa_service.ratelimit import RateLimiter
from qa_service.routes import admin, ask, documents, feedback, ops, pages, push, push_admin, search
from qa_service.routes.deps import StateDep
from qa_service.settings import Settings, get_settings
from qa_service.state import AppState
from qa_service.store import Store

logger = logging.getLogger(__name__)


def build_state(settings: Settings, index: Any | None = None, store: Store | None = None) -> AppState:
    """Everything the service needs; `index` lets tests (and the benchmark) pass a prebuilt one."""
    if index is None:
        index = open_index(settings, load_encoder(settings))
    link_versions(index)
    store = store or Store(settings.resolved_sqlite_path, retention_days=settings.answers_retention_days)
    if store.faq_count() == 0:
        for row in load_faq_file(settings.faq_path):
            store.upsert_faq(str(row["question"]), str(row["answer"]), row.get("doc_id") or row.get("source_doc_id"))
    state = AppState(settings, snapshot=None, store=store, library_factory=Library)  # type: ignore[arg-type]
    state.swap(state.rebuild_snapshot(index))
    return state


def _start_deliverer(state: AppState) -> Callable[[], None] | None:
    """Send queued pushes every `push_deliver_interval_seconds` (0: only the admin route sends): in the
    worker process (`push_worker = "process"`) or a thread; returns how to stop it."""
    s = state.settings
    if s.push_deliver_interval_seconds <= 0 or s.push_worker == "none":
        return None
    if s.push_worker == "process":
        proc = worker.start_process(s)
        return functools.partial(worker.stop_process, proc)
    run = functools.partial(
        deliver,
        state.push_store,
        state.push_channels if state.push_channels is not None else state.push_channel,
        500,
        max_attempts=s.push_max_attempts,
        retry_seconds=s.push_retry_seconds,
        lease_seconds=s.push_lease_seconds,
        digest_minute=s.push_digest_minute,
    )
    deliverer = PeriodicDeliverer(run, s.push_deliver_interval_seconds)
    deliverer.start()
    return deliverer.stop


def create_app(settings: Settings | None = None, state: AppState | None = None) -> FastAPI:
    """`state` given: use it (tests); else the lifespan builds it from settings at start-up."""
    settings = settings or (state.settings if state else get_settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = getattr(app.state, "qa", None) is None  # a state handed in is closed by its owner
        if owned:
            logger.info("loading the policy index from %s", settings.corpus_path)
            app.state.qa = build_state(settings)
            snap = app.state.qa.snapshot()
            logger.info("ready: %d documents, %d passages", len(snap.index.documents), len(snap.index))
            street_table(settings)  # the town table now, not on a resident's first request (or its warning)
        stop_deliverer = _start_deliverer(app.state.qa)
        stop_planner = app.state.qa.push_jobs.start()  # planning jobs (qa_service.push.jobs), never in a request
        yield
        stop_planner()
        if stop_deliverer is not None:
            stop_deliverer()
        if owned:
            app.state.qa.store.close()
            app.state.qa.push_store.close()

    # /docs and /redoc serve Swagger UI and ReDoc from the fastapi-offline wheel: no CDN, works offline.
    app = FastAPIOffline(
        title="历城区政策问答服务",
        description="带出处的政策问答、精确检索、政策文件库（版本与解读）。答不了时明确告知并引导拨打 12345。",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.qa = state
    app.state.admin_limiter = RateLimiter(settings.admin_rate_limit_per_minute, settings.admin_rate_limit_burst)
    app.state.agent_limiter = RateLimiter(settings.agent_rate_limit_per_minute, settings.agent_rate_limit_burst)
    install_error_handlers(app)
    for r in (
        ask.router,
        search.router,
        documents.router,
        feedback.router,
        admin.router,
        ops.router,
        push.router,
        push_admin.router,
    ):
        app.include_router(r)

    app.include_router(pages.build_router(settings))

    @app.get("/healthz", tags=["运维"], summary="健康检查")
    def healthz(st: StateDep) -> dict[str, Any]:
        snap = st.snapshot()
        return {
            "ok": True,
            "documents": len(snap.index.documents),
            "dense": getattr(snap.index, "encoder", None) is not None,
        }

    app.add_middleware(  # type: ignore[arg-type]
        Guard,
        max_bytes=settings.max_body_bytes,
        admin_max_bytes=settings.max_admin_body_bytes,
        body_timeout_s=settings.request_body_timeout_s,
    )
    app.add_middleware(DocsPolicy)  # type: ignore[arg-type]
    # Portals named in settings may call the API from their own pages (the preflight is answered here).
    app.add_middleware(  # type: ignore[arg-type]
        CORSMiddleware,
        allow_origins=list(settings.portal_origins),
        allow_methods=["GET", "POST"],
        allow_headers=["content-type"],
        max_age=600,
    )
    # Added last, so outermost: it also sees the Guard's own 413 / 408 / 500 answers.
    app.add_middleware(MetricsMiddleware, state=lambda: getattr(app.state, "qa", None))  # type: ignore[arg-type]
    return app


def __getattr__(name: str) -> Any:
    # `qa_service.app:app` is built on first access, so importing this module stays cheap for tests.
    if name == "app":
        globals()["app"] = create_app()
        return globals()["app"]
    raise AttributeError(name)
