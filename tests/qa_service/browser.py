"""Browser-test helpers: the service with the demo corpus on loopback (one per test module), a second
loopback origin standing in for a portal, Debian's chromium through Playwright, request-origin checks,
axe-core, and screenshots saved under var/test-artifacts/ (gitignored; `QA_TEST_ARTIFACTS` moves them).
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import uvicorn

from qa_service.app import build_state, create_app
from qa_service.settings import Settings
from tests.qa_service.servers import ReadyServer

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ADMIN_KEY = "browser-admin-key-0123456789"
AGENT_KEY = "agent-key-a01-0123456789"
TIMEOUT_MS = 15000  # generous: the CI machine is shared; waits end as soon as the page is ready
PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1366, "height": 860}


def free_socket() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # the kernel picks a free port; the server serves this very socket
    return sock


def origin_of(sock: socket.socket) -> str:
    return f"http://127.0.0.1:{sock.getsockname()[1]}"


def demo_settings(data_dir: Path, portal_origin: str, **overrides: object) -> Settings:
    """The demo corpus with the test fake encoder; admin and agent keys; delivery only on request."""
    base: dict[str, object] = dict(
        data_dir=data_dir,
        encoder="fake",
        abstain_dense_weight=0.0,  # calibrated for e5, not for the fake
        admin_api_key=ADMIN_KEY,
        agent_keys={"a01": AGENT_KEY},
        portal_origins=[portal_origin],
        rate_limit_per_minute=6000,
        rate_limit_burst=1000,
        push_deliver_interval_seconds=0,
    )
    base.update(overrides)
    return Settings(**base)  # type: ignore[arg-type]


@contextmanager
def serve_service(settings: Settings, sock: socket.socket) -> Iterator[tuple[str, object]]:
    """The app under uvicorn on `sock`; yields (base url, state)."""
    state = build_state(settings)
    server = ReadyServer(uvicorn.Config(create_app(state=state), log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.ready.wait(0.05):  # poll, so a server that died at start-up fails fast
            if not thread.is_alive():
                pytest.fail("uvicorn exited before serving the app")
        url = origin_of(sock)
        with urllib.request.urlopen(url + "/healthz", timeout=5) as r:
            assert json.load(r)["ok"]
        yield url, state
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        state.store.close()
        state.push_store.close()


@contextmanager
def serve_portal(pages: dict[str, str]) -> Iterator[str]:
    """Another origin: a plain static site serving `pages` (path -> HTML, read at request time, so they
    may be filled in once the service's address is known), as a government portal would."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            body = pages.get(self.path.split("?")[0])
            if body is None:
                self.send_error(404)
                return
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def chromium() -> Iterator[object]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is not installed: run `.venv/bin/pip install -e '.[dev]'`", pytrace=False)
    if not CHROMIUM.is_file():
        pytest.fail(
            f"chromium not found at {CHROMIUM}: `apt-get install -y --no-install-recommends chromium`", pytrace=False
        )
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-background-networking"])
        try:
            yield b
        finally:
            b.close()


class Requests:
    """Every request a browser context makes, to check each page talks to its own origin only."""

    def __init__(self, context: object) -> None:
        self.urls: list[str] = []
        context.on("request", lambda req: self.urls.append(req.url))  # type: ignore[attr-defined]

    def origins(self) -> set[str]:
        out = set()
        for u in self.urls:
            parts = urlsplit(u)
            out.add(f"{parts.scheme}://{parts.netloc}" if parts.netloc else parts.scheme + ":")
        return out

    def outside(self, *allowed: str) -> list[str]:
        """Requests to any origin but `allowed` (blob: and data: URLs are the page's own)."""
        return [u for u in self.urls if not u.startswith(("blob:", "data:")) and not u.startswith(allowed)]


def new_context(browser: object, viewport: dict[str, int], **kw: object) -> object:
    context = browser.new_context(viewport=viewport, locale="zh-CN", **kw)  # type: ignore[attr-defined]
    context.set_default_timeout(TIMEOUT_MS)
    return context


def expect(locator: object) -> object:
    from playwright.sync_api import expect as _expect

    return _expect(locator)  # type: ignore[arg-type]


def artifacts_dir() -> Path:
    d = Path(os.environ.get("QA_TEST_ARTIFACTS") or REPO / "var" / "test-artifacts")
    d.mkdir(parents=True, exist_ok=True)
    return d


def screenshot(page: object, name: str) -> Path:
    path = artifacts_dir() / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)  # type: ignore[attr-defined]
    assert path.stat().st_size > 1000
    return path


def serious_violations(page: object, context: object | None = None) -> list[str]:
    """axe-core's serious and critical violations on the page (or part of it), as readable lines."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, context=context)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} -> {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]


REPORT_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__csp.push(e.violatedDirective + " " + e.blockedURI));
"""


def watch(page: object) -> list[str]:
    """Script errors and CSP violations of `page`, collected for an assertion at the end."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))  # type: ignore[attr-defined]
    page.on(  # type: ignore[attr-defined]
        "console", lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None
    )
    return errors
