"""/docs (Swagger UI) and /redoc (ReDoc) work with no network: every asset from the service itself, under a
Content-Security-Policy, and not one violation of it in a real browser."""

from __future__ import annotations

import pytest

from tests.qa_service.browser import (
    DESKTOP,
    REPORT_CSP,
    Requests,
    demo_settings,
    expect,
    free_socket,
    new_context,
    serve_service,
    watch,
)


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    with serve_service(demo_settings(tmp_path_factory.mktemp("docs"), "http://portal.invalid"), free_socket()) as (
        url,
        _state,
    ):
        yield url


@pytest.mark.parametrize(
    "path,ready",
    [("/docs", ".opblock-summary-path[data-path='/api/ask']"), ("/redoc", "text='/api/agent/search'")],
)
def test_the_api_docs_render_offline_under_their_csp(browser, service, path, ready):
    context = new_context(browser, DESKTOP)
    requests = Requests(context)
    page = context.new_page()
    page.add_init_script(REPORT_CSP)
    errors = watch(page)
    response = page.goto(service + path)
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "'unsafe-eval'" not in csp and "frame-ancestors 'self'" in csp
    expect(page.locator(ready).first).to_be_visible(timeout=15000)
    assert page.evaluate("window.__csp") == [] and errors == []  # ReDoc's CDN logo is rewritten to ours
    assert requests.outside(service) == [], requests.urls
    context.close()
