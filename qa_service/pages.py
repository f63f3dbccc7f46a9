"""The HTML pages (chat widget, reader, agents' console, operators' view, subscription form) with their
Content-Security-Policy, and the one place that says where a document is read (`reader_link`).

Each page is read once, at start-up; its inline `<script>` and `<style>` blocks are allowed by
their sha256 hashes and nothing else runs (no 'unsafe-inline', no other origin). Only the
chat widget may be framed by other sites (the portals), as the settings say.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from urllib.parse import quote

from fastapi.responses import HTMLResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_INLINE = {tag: re.compile(rf"<{tag}>(.*?)</{tag}>", re.S) for tag in ("script", "style")}
_EXTERNAL = re.compile(r"<(script|link)\b[^>]*\b(src|href)=", re.I)


def reader_link(doc_id: str, passage_id: str | None = None) -> str:
    """The reader page of a document (`/documents/<id>`), opened at a passage when one is given."""
    link = "/documents/" + quote(doc_id, safe="/")
    return link + ("#passage-" + quote(passage_id, safe="") if passage_id else "")


def sha256_source(block: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(block.encode("utf-8")).digest()).decode() + "'"


def _hashes(html: str, tag: str) -> list[str]:
    return [sha256_source(b) for b in _INLINE[tag].findall(html)]


def content_security_policy(html: str, frame_ancestors: str = "'self'", *, self_scripts: bool = False) -> str:
    """The policy for `html`: its own inline blocks, same-origin fetches, framed only by `frame_ancestors`.

    `self_scripts`: the page may also load scripts from its own origin (the demo portal loads /widget.js).
    """
    if not self_scripts and _EXTERNAL.search(html):
        raise ValueError("pages must inline their scripts and styles; found an external <script src> or <link href>")
    scripts = " ".join((["'self'"] if self_scripts else []) + _hashes(html, "script")) or "'none'"
    styles = " ".join(_hashes(html, "style")) or "'none'"
    return (
        f"default-src 'self'; script-src {scripts}; style-src {styles}; img-src 'self' data:; "
        f"connect-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        f"frame-ancestors {frame_ancestors}"
    )


@dataclass(frozen=True)
class Page:
    html: str
    headers: dict[str, str]

    @classmethod
    def load(cls, name: str, frame_ancestors: str = "'self'", *, self_scripts: bool = False) -> Page:
        html = (resources.files("qa_service") / "static" / name).read_text(encoding="utf-8")
        headers = {"Content-Security-Policy": content_security_policy(html, frame_ancestors, self_scripts=self_scripts)}
        if frame_ancestors == "'self'":
            headers["X-Frame-Options"] = "SAMEORIGIN"  # for browsers without CSP; it cannot name other sites
        return cls(html, headers)

    def response(self, html: str | None = None) -> HTMLResponse:
        return HTMLResponse(self.html if html is None else html, headers=self.headers)


# -- /docs and /redoc ---------------------------------------------------------------------------------
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})
REDOC_JS = "/static-offline-docs/redoc.standalone.js"
# The one remote URL in ReDoc's bundle (its "by Redocly" logo): pointed at the bundled favicon instead.
_REDOC_LOGO = (b"https://cdn.redoc.ly/redoc/logo-mini.svg", b"/static-offline-docs/favicon.png")


def docs_policy(html: str, *, redoc: bool) -> str:
    """Swagger UI and ReDoc (served by fastapi-offline from this origin): their scripts from 'self' plus the
    page's inline blocks by hash. ReDoc writes its styles at run time (styled-components), so its
    style-src needs 'unsafe-inline'; it never runs inline script."""
    scripts = " ".join(["'self'", *_hashes(html, "script")])
    styles = " ".join(["'self'", *(["'unsafe-inline'"] if redoc else _hashes(html, "style"))])
    return (
        f"default-src 'self'; script-src {scripts}; style-src {styles}; img-src 'self' data:; "
        "font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'self'"
    )


class DocsPolicy:
    """Adds `docs_policy` to the documentation pages, which fastapi-offline renders without one, and
    keeps ReDoc's bundle from asking its CDN for a logo."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or (path not in DOCS_PATHS and path != REDOC_JS):
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        body = bytearray()

        async def buffered(msg: Message) -> None:
            nonlocal start
            if msg["type"] == "http.response.start":
                start = msg
                return
            if msg["type"] != "http.response.body" or start is None:
                await send(msg)
                return
            body.extend(msg.get("body", b""))
            if msg.get("more_body"):
                return
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() not in (b"content-length", b"etag")]
            if path == REDOC_JS:
                body[:] = bytes(body).replace(*_REDOC_LOGO)
            elif any(k.lower() == b"content-type" and v.startswith(b"text/html") for k, v in headers):
                csp = docs_policy(body.decode("utf-8", "replace"), redoc=path == "/redoc")
                headers.append((b"content-security-policy", csp.encode()))
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": bytes(body)})

        await self.app(scope, receive, buffered)
