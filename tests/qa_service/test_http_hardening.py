"""HTTP hardening: Chinese-only messages, security headers and CSP, no-store, admin key and rate limit, body timeout."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
import threading
import time
from collections.abc import Iterator

import anyio
import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from qa_service.app import build_state, create_app
from qa_service.guard import Guard
from qa_service.pages import content_security_policy
from qa_service.ratelimit import RateLimiter
from qa_service.settings import Settings
from tests.qa_service.conftest import ADMIN_KEY, make_settings
from tests.qa_service.servers import ReadyServer
from tests.qa_service.test_hostile import CJK, ENGLISH, SPEC
from tests.qa_service.test_subscribe_page import browser  # noqa: F401  (fixture: Debian's chromium)

ADMIN = {"X-API-Key": ADMIN_KEY}
PAGES = ["/widget", "/documents/jn-jzz-2019", "/console", "/console/ops", "/subscribe"]
PORTAL = "https://www.licheng.gov.cn"


def envelope(r, status: int, code: str) -> str:
    assert r.status_code == status, (r.status_code, r.text[:300])
    err = r.json()["error"]
    assert err["code"] == code and set(err) == {"code", "message"}
    assert CJK.search(err["message"]) and not ENGLISH.search(err["message"]), err
    return err["message"]


def subscribe(client) -> dict:
    r = client.post("/api/profiles", json={"kind": "resident", "groups": ["高校毕业生"]})
    assert r.status_code == 201, r.text
    return r.json()


# -- messages ------------------------------------------------------------------------------------
def test_a_value_error_from_domain_code_is_logged_in_english_and_shown_in_chinese(client, state, monkeypatch, caplog):
    def bad(*_a, **_k):
        raise ValueError("top_k must be 1..100, got 0")

    monkeypatch.setattr(state.store, "record_answer", bad)
    caplog.set_level("INFO", logger="qa_service.errors")
    message = envelope(client.post("/api/ask", json={"question": "创业担保贷款额度"}), 422, "INVALID_REQUEST")
    assert "top_k" not in message
    assert any(r.levelname == "INFO" and "top_k must be 1..100" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("codec", ["gbk", "gb18030"])
@pytest.mark.parametrize("declared", [False, True])
def test_a_body_not_in_utf8_is_told_to_use_utf8(client, caplog, codec, declared):
    caplog.set_level("INFO", logger="qa_service.errors")
    ctype = "application/json" + (f"; charset={codec}" if declared else "")
    body = json.dumps({"question": "居住证怎么办"}, ensure_ascii=False).encode(codec)
    message = envelope(client.post("/api/ask", content=body, headers={"Content-Type": ctype}), 400, "MALFORMED_JSON")
    assert "UTF-8" in message
    assert "codec can't decode" in caplog.text  # the detail, for operators


def test_a_lone_surrogate_echoed_in_a_message_is_replaced_not_a_crash(client):
    body = b'{"question": "\\u5c45\\u4f4f\\u8bc1", "filters": {"status": ["\\ud800"]}}'
    message = envelope(client.post("/api/ask", content=body, headers={"Content-Type": "application/json"}),
                       422, "BAD_FILTER")  # fmt: skip
    assert "\ufffd" in message


# -- security headers ----------------------------------------------------------------------------
def test_every_response_says_nosniff_and_no_referrer(client, state, monkeypatch):
    monkeypatch.setattr(state.store, "record_answer", lambda *_a: 1 / 0)
    responses = [
        client.get("/api/search", params={"q": "居住证"}),  # 200 JSON
        client.get("/api/nothing"),  # 404 envelope
        client.post("/api/ask", content=b"{" * 70_000, headers={"Content-Type": "application/json"}),  # 413, Guard
        client.post("/api/ask", json={"question": "创业担保贷款额度"}),  # 500, Guard
        client.get("/openapi.json"),
        *(client.get(p) for p in PAGES),
    ]
    assert [r.status_code for r in responses[:4]] == [200, 404, 413, 500]
    for r in responses:
        assert r.headers["x-content-type-options"] == "nosniff", r.url
        assert r.headers["referrer-policy"] == "no-referrer", r.url
        assert "x-frame-options" in r.headers or "frame-ancestors" in r.headers.get("content-security-policy", "")


def test_json_responses_may_not_be_framed_or_run_anything(client):
    r = client.get("/api/search", params={"q": "居住证"})
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"


def _inline_hashes(html: str, tag: str) -> set[str]:
    blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.S)
    assert blocks, tag
    return {"'sha256-" + base64.b64encode(hashlib.sha256(b.encode()).digest()).decode() + "'" for b in blocks}


def _directives(csp: str) -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in (p.strip() for p in csp.split(";")) if d}


@pytest.mark.parametrize("path", PAGES)
def test_pages_allow_exactly_their_own_inline_scripts_and_styles(client, path):
    r = client.get(path)
    csp = _directives(r.headers["content-security-policy"])
    assert csp["default-src"] == ["'self'"] and csp["object-src"] == ["'none'"] and csp["base-uri"] == ["'none'"]
    assert set(csp["script-src"]) == _inline_hashes(r.text, "script")
    assert set(csp["style-src"]) == _inline_hashes(r.text, "style")
    assert "'unsafe-inline'" not in r.headers["content-security-policy"]
    assert csp["frame-ancestors"] == ["'self'"] and r.headers["x-frame-options"] == "SAMEORIGIN"


def test_the_portal_named_in_settings_may_frame_the_widget_but_not_the_other_pages(tmp_path, policy_index):
    st = build_state(make_settings(tmp_path, frame_ancestors=f"'self' {PORTAL}"), index=policy_index)
    with TestClient(create_app(state=st)) as c:
        for path in ("/widget",):
            r = c.get(path)
            assert _directives(r.headers["content-security-policy"])["frame-ancestors"] == ["'self'", PORTAL]
            assert "x-frame-options" not in r.headers  # it cannot name the portal; old browsers would block it
        for path in ("/", "/console", "/subscribe"):
            r = c.get(path)
            assert _directives(r.headers["content-security-policy"])["frame-ancestors"] == ["'self'"]
            assert r.headers["x-frame-options"] == "SAMEORIGIN"


@pytest.mark.parametrize("value", ["", "'self'; script-src *", "https://a.example,https://b.example", "x\ny"])
def test_frame_ancestors_setting_must_be_one_csp_source_list(value):
    with pytest.raises(ValueError, match="frame_ancestors"):
        Settings(frame_ancestors=value)


def test_a_page_loading_a_script_or_stylesheet_from_elsewhere_is_refused_at_start_up():
    for html in ('<script src="https://cdn.example/x.js"></script>', '<link rel="stylesheet" href="/x.css">'):
        with pytest.raises(ValueError, match="inline"):
            content_security_policy(html)


# -- caching of personal data --------------------------------------------------------------------
def test_profile_inbox_and_admin_responses_are_never_stored_by_caches(client):
    created = client.post("/api/profiles", json={"kind": "resident", "groups": ["高校毕业生"]})
    me = {"Authorization": f"Bearer {created.json()['token']}"}
    pid = created.json()["profile_id"]
    responses = [
        created,
        client.get("/api/profiles/me", headers=me),
        client.put("/api/profiles/me", headers=me, json={"kind": "resident", "topics": ["教育"]}),
        client.get("/api/profiles/me/inbox", headers=me),
        client.get(f"/api/profiles/{pid}", headers=ADMIN),
        client.get("/api/profiles/me"),  # 401: errors too
        client.get("/api/admin/feedback/export", headers=ADMIN),
        client.delete("/api/profiles/me", headers=me),
    ]
    assert [r.status_code for r in responses] == [201, 200, 200, 200, 200, 401, 200, 200]
    for r in responses:
        assert r.headers["cache-control"] == "no-store", r.request.url
    assert "no-store" not in client.get("/api/push/taxonomy").headers.get("cache-control", "")


# -- the admin key -------------------------------------------------------------------------------
ADMIN_OPS = [(m.upper(), p) for p, ops in SPEC["paths"].items() for m in ops if p.startswith("/api/admin/")]
PATH_ARGS = {"faq_id": "999999", "doc_id": "no-such-doc", "job_id": "999999"}


@pytest.mark.parametrize("method,path", ADMIN_OPS, ids=[f"{m} {p}" for m, p in ADMIN_OPS])
def test_every_admin_route_takes_the_key_both_ways_and_rejects_a_wrong_one(client, method, path):
    url = re.sub(r"\{(\w+)\}", lambda m: PATH_ARGS[m.group(1)], path)
    for headers in ({"X-API-Key": ADMIN_KEY}, {"Authorization": f"Bearer {ADMIN_KEY}"}):
        r = client.request(method, url, headers=headers, json={})
        assert r.status_code not in (401, 403), (headers, r.status_code, r.text[:200])
    for headers in ({}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"}, {"Authorization": ADMIN_KEY}):
        envelope(client.request(method, url, headers=headers, json={}), 401, "UNAUTHORIZED")


def test_admin_reads_any_profile_with_the_key_either_way(client):
    pid = subscribe(client)["profile_id"]
    for headers in ({"X-API-Key": ADMIN_KEY}, {"Authorization": f"Bearer {ADMIN_KEY}"}):
        r = client.get(f"/api/profiles/{pid}", headers=headers)
        assert r.status_code == 200 and r.json()["profile_id"] == pid, r.text[:200]
    envelope(client.get(f"/api/profiles/{pid}", headers={"X-API-Key": "wrong"}), 401, "UNAUTHORIZED")
    envelope(client.get(f"/api/profiles/{pid}", headers={"Authorization": "Bearer wrong"}), 401, "TOKEN_INVALID")


# -- the admin rate limit ------------------------------------------------------------------------
@pytest.fixture
def admin_limited(client) -> Iterator[tuple[TestClient, list[float]]]:
    """Admin bucket: burst of 3, then 1 per minute, on a clock the test moves."""
    now = [1000.0]
    client.app.state.admin_limiter = RateLimiter(per_minute=1, burst=3, clock=lambda: now[0])
    yield client, now


def test_wrong_admin_keys_use_up_the_admin_bucket_so_guessing_is_slow(admin_limited):
    client, now = admin_limited
    for _ in range(3):
        envelope(client.get("/api/admin/faq", headers={"X-API-Key": "guess"}), 401, "UNAUTHORIZED")
    r = client.get("/api/admin/faq", headers=ADMIN)  # even the right key waits now
    envelope(r, 429, "RATE_LIMITED")
    assert int(r.headers["Retry-After"]) == 60
    envelope(client.get("/api/profiles/x", headers={"X-API-Key": "guess"}), 429, "RATE_LIMITED")
    assert client.get("/api/search", params={"q": "居住证"}).status_code == 200  # residents have their own bucket
    now[0] += 60
    assert client.get("/api/admin/faq", headers=ADMIN).status_code == 200


def test_the_admin_bucket_is_per_client(admin_limited):
    client, _ = admin_limited

    async def status(host: str) -> int:
        transport = httpx.ASGITransport(app=client.app, client=(host, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://qa") as c:
            return (await c.get("/api/admin/faq", headers=ADMIN)).status_code

    async def run() -> list[int]:
        return [await status("10.0.0.1") for _ in range(4)] + [await status("10.0.0.2")]

    assert anyio.run(run) == [200, 200, 200, 429, 200]


def test_admin_rate_limit_comes_from_settings(tmp_path, policy_index):
    settings = make_settings(tmp_path, admin_rate_limit_per_minute=0.001, admin_rate_limit_burst=2)
    with TestClient(create_app(state=build_state(settings, index=policy_index))) as c:
        codes = [c.get("/api/admin/faq", headers=ADMIN).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


# -- half-sent requests --------------------------------------------------------------------------
@pytest.mark.parametrize("seconds", [0, -1.0])
def test_guard_needs_a_positive_body_timeout(seconds):
    with pytest.raises(ValueError, match="body_timeout_s must be > 0"):
        Guard(lambda *_: None, max_bytes=1024, body_timeout_s=seconds)


@pytest.fixture
def server_port(tmp_path, policy_index) -> Iterator[int]:
    st = build_state(make_settings(tmp_path, request_body_timeout_s=0.5), index=policy_index)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = ReadyServer(uvicorn.Config(create_app(state=st), log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.ready.wait(0.05):
            if not thread.is_alive():
                pytest.fail("uvicorn exited before serving the app")
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        st.store.close()
        st.push_store.close()


def _exchange(port: int, head: bytes, body: bytes) -> tuple[bytes, float]:
    """Send the headers and `body` (maybe only part of it), then nothing; read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(head + body)
        start = time.monotonic()
        data = b""
        while chunk := s.recv(65536):  # b"" once the server has closed the connection
            data += chunk
        return data, time.monotonic() - start


@pytest.mark.parametrize(
    "path,framing,partial",
    [
        ("/api/ask", b"Content-Length: 200\r\n", '{"question": "居住'.encode()),
        ("/api/ask", b"Transfer-Encoding: chunked\r\n", b'8\r\n{"questi\r\n'),
        ("/api/admin/faq", b"Content-Length: 200\r\nX-API-Key: " + ADMIN_KEY.encode() + b"\r\n", b'{"q'),
        ("/api/profiles", b"Content-Length: 10\r\n", b""),
    ],
    ids=["content-length", "chunked", "admin", "no-body-yet"],
)
def test_a_stalled_body_gets_408_and_the_connection_is_closed(server_port, path, framing, partial):
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n".encode() + framing + b"\r\n"
    data, seconds = _exchange(server_port, head, partial)
    assert data.startswith(b"HTTP/1.1 408"), data[:200]
    assert 0.4 < seconds < 5, seconds
    body = json.loads(data.split(b"\r\n\r\n", 1)[1])
    assert body["error"]["code"] == "REQUEST_TIMEOUT" and CJK.search(body["error"]["message"])


def test_a_complete_request_on_the_same_server_is_answered(server_port):
    body = json.dumps({"question": "居住证需要哪些材料"}).encode()
    head = b"POST /api/ask HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nConnection: close\r\n"
    data, _ = _exchange(server_port, head + b"Content-Length: %d\r\n\r\n" % len(body), body)  # all of it at once
    assert data.startswith(b"HTTP/1.1 200"), data[:200]
    assert json.loads(data.split(b"\r\n\r\n", 1)[1])["answer"]


def test_the_deadline_ends_with_the_body_so_a_long_response_may_wait_for_a_disconnect():
    """Streaming responses keep calling receive() to notice a disconnect; that must not time out."""
    messages = [{"type": "http.request", "body": b"{}", "more_body": False}, {"type": "http.disconnect"}]
    sent: list[dict] = []

    async def app(scope, receive, send):
        assert (await receive())["body"] == b"{}"
        assert (await receive())["type"] == "http.disconnect"  # arrives after the deadline
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive():
        if len(messages) == 1:
            await anyio.sleep(0.3)  # the client stays connected past the 0.1 s body deadline
        return messages.pop(0)

    async def send(msg):
        sent.append(msg)

    scope = {"type": "http", "method": "POST", "path": "/api/ask", "headers": [(b"content-length", b"2")]}
    anyio.run(Guard(app, max_bytes=1024, body_timeout_s=0.1), scope, receive, send)
    assert sent[0]["status"] == 204


# -- the pages in a browser, under their CSP -------------------------------------------------------
REPORT_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(e.violatedDirective + " " + e.sample));
"""


def _use(path: str, pg) -> None:
    """What a resident or an agent does first on each page; it needs the page's inline script."""
    if path == "/widget":
        pg.fill("#q", "申领居住证需要提交哪些材料？")
        pg.click("button[type=submit]")
        pg.wait_for_function("() => (document.querySelector('.a') || {}).textContent?.includes('居民身份证')")
    else:
        pg.wait_for_selector("body[data-ready]")


@pytest.mark.parametrize("path", PAGES)
def test_pages_work_in_a_browser_without_a_single_csp_violation(browser, server_port, path):  # noqa: F811
    context = browser.new_context(locale="zh-CN")
    context.set_default_timeout(15000)  # a loaded 2-core machine, not a hang
    try:
        pg = context.new_page()
        pg.add_init_script(REPORT_VIOLATIONS)  # runs before the page's own scripts, outside its CSP
        errors: list[str] = []
        pg.on("pageerror", lambda exc: errors.append(str(exc)))
        pg.goto(f"http://127.0.0.1:{server_port}{path}")
        _use(path, pg)
        assert pg.evaluate("window.__csp") == [] and errors == []
    finally:
        context.close()
