"""The operators' review page (/console/review) in a real browser against the real app, review step on.

Same set-up as tests/qa_service/test_subscribe_page.py (uvicorn on a free port, Debian's chromium
through Playwright, its fake labeller: every document is for Licheng's 高校毕业生, no confidence),
so every ingested policy waits for review until an operator approves it on this page.
"""

from __future__ import annotations

import httpx
import pytest

from qa_service.app import build_state
from tests.qa_service.conftest import ADMIN_KEY, make_settings
from tests.qa_service.test_subscribe_page import (  # noqa: F401  (fixtures)
    ADMIN,
    POLICY,
    QUOTE,
    TIMEOUT_MS,
    base_url,
    browser,
    expect,
    fake_labeller,
)

HOSTILE_TITLE = '<img src=x onerror="document.title=1">历城区测试文件'


@pytest.fixture
def push_state(tmp_path, policy_index):
    st = build_state(make_settings(tmp_path, push_review=True), index=policy_index)
    st.push_labeller = fake_labeller
    yield st
    st.store.close()
    st.push_store.close()


@pytest.fixture
def page(browser, base_url):  # noqa: F811
    context = browser.new_context(locale="zh-CN")
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("dialog", lambda d: d.accept())
    tab.goto(base_url + "/console/review")
    yield tab
    context.close()
    assert errors == [], errors


@pytest.fixture
def http(base_url) -> httpx.Client:  # noqa: F811
    with httpx.Client(base_url=base_url, timeout=10) as c:
        yield c


def held_policy(http: httpx.Client) -> str:
    body = {"kind": "resident", "province": "山东省", "city": "济南市", "district": "历城区", "groups": ["高校毕业生"]}
    r = http.post("/api/profiles", json=body)
    assert r.status_code == 201, r.text
    hostile = {**POLICY, "id": "lc-test-2025", "title": HOSTILE_TITLE, "doc_number": None}
    assert http.post("/api/admin/documents", headers=ADMIN, json={"documents": [POLICY, hostile]}).status_code == 200
    assert http.get("/api/admin/push/jobs", params={"wait": 60}, headers=ADMIN).json()["active"] == 0  # planned
    assert http.post("/api/admin/push/deliver", headers=ADMIN).json()["sent"] == 0  # held
    return r.json()["profile_id"]


def test_the_page_is_served_with_its_csp_and_asks_for_the_key(page, http):
    r = http.get("/console/review")
    assert "script-src 'sha256-" in r.headers["content-security-policy"]
    assert ".innerHTML" not in r.text
    expect(page.locator("#msg")).to_have_text("请先输入管理密钥。")


def test_an_operator_sees_the_waiting_policy_and_approves_it(page, http):
    profile_id = held_policy(http)
    page.locator("#k").fill("wrong-key")
    page.get_by_role("button", name="保存（仅本次会话）").click()
    expect(page.locator("#msg")).to_contain_text("管理密钥")  # the server's Chinese 401 message
    page.locator("#k").fill(ADMIN_KEY)
    page.get_by_role("button", name="保存（仅本次会话）").click()
    expect(page.locator("#msg")).to_have_text("共 2 个文件待审核。")
    assert page.evaluate("() => sessionStorage.getItem('qa-admin-key')") == ADMIN_KEY
    item = page.locator('.r[data-doc="lc-jyjx-2025"]')
    expect(item).to_contain_text("历城区就业见习补贴办法")
    expect(item).to_contain_text("待审原因：标注未经置信度校准（仅规则标注），须人工审核")
    expect(item).to_contain_text(f"高校毕业生：“{QUOTE}”")
    expect(item).to_contain_text("将推送给 1 位订阅用户")
    expect(item).to_contain_text("山东省济南市历城区 1 人")
    expect(item).to_contain_text(profile_id)
    # A title with markup is shown as text, never run.
    expect(page.locator('.r[data-doc="lc-test-2025"] .t')).to_have_text(HOSTILE_TITLE)
    assert page.title() == "推送审核（先审后发）"

    item.get_by_role("button", name="批准发送").click()
    expect(page.locator("#msg")).to_have_text("已批准《历城区就业见习补贴办法》，1 条推送将在下次发送时送达。")
    expect(page.locator(".r")).to_have_count(1)
    page.locator('.r[data-doc="lc-test-2025"]').get_by_role("button", name="撤下不发").click()
    expect(page.locator("#msg")).to_contain_text("已撤下")
    expect(page.locator(".r")).to_have_count(0)
    assert http.post("/api/admin/push/deliver", headers=ADMIN).json()["sent"] == 1
    assert http.post("/api/admin/push/deliver", headers=ADMIN).json()["sent"] == 0
