"""The pages: demo portal (`/`), chat widget (`/widget`, `/widget.js`), reader (`/documents/{id}`), agents'
console, operators' view, push review, subscription form. Routes only hand out static files; every page
gets its data from the JSON API and inserts server text as text.
"""

from __future__ import annotations

import html
import re
from importlib import resources

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from qa_service.pages import Page
from qa_service.settings import Settings

_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^https?://\[[0-9a-fA-F:]+\](:[0-9]{1,5})?$")
_SERVICE = "{{service}}"  # the demo portal's one tag names the service by its full origin, as a portal would


def widget_frame_ancestors(settings: Settings) -> str:
    """Who may frame the chat panel: this origin, `frame_ancestors` and every allowed portal origin."""
    sources = ["'self'", *settings.frame_ancestors.split(), *settings.portal_origins]
    return " ".join(dict.fromkeys(sources))


def _origin(request: Request) -> str:
    origin = str(request.base_url).rstrip("/")
    return html.escape(origin, quote=True) if _ORIGIN.match(origin) else ""  # odd Host: a relative src


def build_router(settings: Settings) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    # Read once, with their CSP; only the chat panel may be framed by the portals.
    widget = Page.load("widget.html", widget_frame_ancestors(settings))
    portal = Page.load("index.html", self_scripts=True)
    pages = {name: Page.load(f"{name}.html") for name in ("reader", "console", "operators", "review", "subscribe")}
    script = (resources.files("qa_service") / "static" / "widget.js").read_text(encoding="utf-8")

    @router.get("/")
    def demo_portal(request: Request) -> HTMLResponse:
        return portal.response(portal.html.replace(_SERVICE, _origin(request)))

    @router.get("/widget")
    def chat_panel() -> HTMLResponse:
        return widget.response()

    @router.get("/widget.js")
    def widget_script() -> Response:
        # Loaded by portal pages of other origins: a public script, cached briefly so a fix reaches them soon.
        headers = {"Cache-Control": "public, max-age=300", "Cross-Origin-Resource-Policy": "cross-origin"}
        return Response(script, media_type="text/javascript; charset=utf-8", headers=headers)

    @router.get("/documents/{doc_id:path}")
    def reader(doc_id: str) -> HTMLResponse:
        return pages["reader"].response()  # the page reads its id from the address and fetches the JSON

    @router.get("/console")
    def console() -> HTMLResponse:
        return pages["console"].response()  # the data needs an agent key, entered on the page

    @router.get("/console/ops")
    def operators() -> HTMLResponse:
        return pages["operators"].response()  # the data needs the admin key

    @router.get("/console/review")
    def review() -> HTMLResponse:
        return pages["review"].response()  # the data comes from /api/admin/push/review, with the admin key

    @router.get("/subscribe")
    def subscribe() -> HTMLResponse:
        return pages["subscribe"].response()

    return router
