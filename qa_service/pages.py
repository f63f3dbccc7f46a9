"""The HTML pages (chat widget, agents' console, subscription form) with their Content-Security-Policy.

Each page is read once, at start-up; its inline `<script>` and `<style>` blocks are allowed by
their sha256 hashes and nothing else runs (no 'unsafe-inline', no other origin). Only the
chat widget may be framed by other sites (the portal), as the `frame_ancestors` setting says.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from importlib import resources

from fastapi.responses import HTMLResponse

_INLINE = {tag: re.compile(rf"<{tag}>(.*?)</{tag}>", re.S) for tag in ("script", "style")}
_EXTERNAL = re.compile(r"<(script|link)\b[^>]*\b(src|href)=", re.I)


def _hashes(html: str, tag: str) -> list[str]:
    blocks = _INLINE[tag].findall(html)
    return ["'sha256-" + base64.b64encode(hashlib.sha256(b.encode("utf-8")).digest()).decode() + "'" for b in blocks]


def content_security_policy(html: str, frame_ancestors: str = "'self'") -> str:
    """The policy for `html`: its own inline blocks, same-origin fetches, framed only by `frame_ancestors`."""
    if _EXTERNAL.search(html):
        raise ValueError("pages must inline their scripts and styles; found an external <script src> or <link href>")
    scripts = " ".join(_hashes(html, "script")) or "'none'"
    styles = " ".join(_hashes(html, "style")) or "'none'"
    return (
        f"default-src 'self'; script-src {scripts}; style-src {styles}; img-src 'self' data:; "
        f"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        f"frame-ancestors {frame_ancestors}"
    )


@dataclass(frozen=True)
class Page:
    html: str
    headers: dict[str, str]

    @classmethod
    def load(cls, name: str, frame_ancestors: str = "'self'") -> Page:
        html = (resources.files("qa_service") / "static" / name).read_text(encoding="utf-8")
        headers = {"Content-Security-Policy": content_security_policy(html, frame_ancestors)}
        if frame_ancestors == "'self'":
            headers["X-Frame-Options"] = "SAMEORIGIN"  # for browsers without CSP; it cannot name other sites
        return cls(html, headers)

    def response(self) -> HTMLResponse:
        return HTMLResponse(self.html, headers=self.headers)
