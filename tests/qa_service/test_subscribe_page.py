"""The residents' subscription page (/subscribe) in a real browser against the real app.

The app runs under uvicorn on a free localhost port with the small library from conftest and
a fake labeller; Debian's chromium (/usr/bin/chromium) is driven by Playwright. Labels, by hand:
every document is for Licheng residents on the topic 就业创业, and names 高校毕业生 with the
quote below, so a profile in 历城区 with the group 高校毕业生 is sent it with the reason
“适用于济南市历城区，您属于高校毕业生。”. The street table is Jinan's 164 official streets
(tests/qa_service/streets.py), or none (`streets_installed` False: `make regions` never ran).
"""

from __future__ import annotations

import json
import re
import socket
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from corpus.models import Document
from corpus.push.targeting import Jurisdiction, JurisdictionLevel, Targeting
from corpus.push.taxonomy import Audience
from qa_service.app import build_state, create_app
from qa_service.push.channels import render_config
from qa_service.push.streets import NO_TABLE_NOTICE
from tests.qa_service.browser import (
    DESKTOP,
    PHONE,
    REPORT_CSP,
    Requests,
    new_context,
    screenshot,
    serious_violations,
    watch,
)
from tests.qa_service.conftest import ADMIN_KEY, make_settings
from tests.qa_service.servers import ReadyServer
from tests.qa_service.streets import jinan_rows, write_jinan_table

CHROMIUM = Path("/usr/bin/chromium")
ADMIN = {"X-API-Key": ADMIN_KEY}
LICHENG = Jurisdiction(JurisdictionLevel.DISTRICT, "山东省", "济南市", ("历城区",))
QUOTE = "离校两年内未就业高校毕业生"
REASON = "适用于济南市历城区，您属于高校毕业生。"
TIMEOUT_MS = 5000
# Every channel configured, so the form offers them all; these tests never deliver to the made-up hosts.
CHANNELS = dict(
    push_webhook_enabled=True,
    push_channels_allow_loopback=True,
    push_public_base_url="https://zw.licheng.gov.cn",
    push_unsubscribe_secret="unsubscribe-secret-for-these-tests-only-0123",
    push_smtp_host="smtp.example.com",
    push_smtp_from="push@licheng.gov.cn",
    push_sms_gateway_url="https://sms.example.com/send",
    push_sms_gateway_key="gateway-key",
    push_sms_template_id="TPL-1",
)

# A Licheng graduate, subscribed through the API, whom POLICY concerns.
GRADUATE = {"kind": "resident", "province": "山东省", "city": "济南市", "district": "历城区", "groups": ["高校毕业生"]}
POLICY = {
    "id": "lc-jyjx-2025",
    "title": "历城区就业见习补贴办法",
    "doc_number": "历人社发〔2025〕5号",
    "issuer": "济南市历城区人力资源和社会保障局",
    "publish_date": "2025-03-01",
    "status": "current",
    "text": f"第一条 见习单位吸纳{QUOTE}参加就业见习的，按每人每月1000元给予见习补贴。",
}


def fake_labeller(doc: Document) -> Targeting:
    return Targeting(doc.id, (Audience.RESIDENT,), LICHENG, ("高校毕业生",), {"高校毕业生": QUOTE}, ("就业创业",))


# -- the server and the browser ----------------------------------------------------------------
@pytest.fixture
def streets_installed(request) -> bool:
    return getattr(request, "param", True)


@pytest.fixture
def push_state(tmp_path, policy_index, shared_dir, streets_installed):
    if streets_installed:
        write_jinan_table(shared_dir, tmp_path / "regions")  # the default <data_dir>/regions
    st = build_state(make_settings(tmp_path, **CHANNELS), index=policy_index)
    st.push_labeller = fake_labeller
    yield st
    st.store.close()
    st.push_store.close()


@pytest.fixture
def base_url(push_state) -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # the kernel picks a free port; uvicorn serves this very socket
    port = sock.getsockname()[1]
    server = ReadyServer(uvicorn.Config(create_app(state=push_state), log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.ready.wait(0.05):  # poll, so a server that died at start-up fails fast
            if not thread.is_alive():
                pytest.fail("uvicorn exited before serving the app")
        url = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(url + "/healthz", timeout=5) as r:
            assert json.load(r)["ok"]
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if sync_playwright is None:
        pytest.fail(
            "Playwright is not installed: run `.venv/bin/pip install -e '.[dev]'` (make test does); "
            "it drives Debian's chromium, no `playwright install` needed",
            pytrace=False,
        )
    if not CHROMIUM.is_file():
        pytest.fail(
            f"chromium not found at {CHROMIUM}: install Debian's package with "
            "`apt-get install -y --no-install-recommends chromium` (.ci/run does)",
            pytrace=False,
        )
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-background-networking"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def tab(browser):
    """One tab at a phone's width for the module; each test's server has its own port, hence its own
    origin and localStorage, so tests still start from a device that has never subscribed."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    context.set_default_timeout(TIMEOUT_MS)
    yield context.new_page()
    context.close()


@pytest.fixture
def page(tab, base_url):
    """The subscription page loaded from this test's server; fails the test on any script error."""
    errors: list[str] = []

    def on_error(exc) -> None:
        errors.append(str(exc))

    tab.on("pageerror", on_error)
    tab.goto(base_url + "/subscribe")
    tab.wait_for_selector("body[data-ready]")
    yield tab
    tab.remove_listener("pageerror", on_error)
    assert errors == [], errors


@pytest.fixture
def http(base_url) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=10) as c:
        yield c


def reload(pg) -> None:
    pg.reload()
    pg.wait_for_selector("body[data-ready]")


def fill_and_subscribe(pg, groups=("高校毕业生",), topics=()) -> None:
    for g in groups:
        pg.locator("#groups").get_by_label(g, exact=True).check()
    for t in topics:
        pg.locator("#topics").get_by_label(t, exact=True).check()
    pg.get_by_label("街道/乡镇（可选）").select_option("王舍人街道")
    pg.get_by_role("button", name="订阅", exact=True).click()


def expect(locator):
    """Playwright's auto-waiting assertion, imported late so a missing Playwright fails in `browser`."""
    from playwright.sync_api import expect as _expect

    return _expect(locator)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def ingest_and_deliver(http: httpx.Client, doc: dict) -> None:
    """What an operator does: ingest through the admin API (which queues a planning job), then deliver."""
    assert http.post("/api/admin/documents", headers=ADMIN, json={"documents": [doc]}).status_code == 200
    assert http.get("/api/admin/push/jobs", params={"wait": 60}, headers=ADMIN).json()["active"] == 0
    assert http.post("/api/admin/push/deliver", headers=ADMIN).json()["sent"] == 1


def stored_token(pg) -> str | None:
    return pg.evaluate("() => localStorage.getItem('licheng-push-token')")


# -- plain HTTP ------------------------------------------------------------------------------------
def test_subscribe_route_serves_the_chinese_page_without_external_resources(client):
    r = client.get("/subscribe")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "<title>订阅政策推送</title>" in r.text and '<html lang="zh-CN">' in r.text
    assert 'name="viewport"' in r.text  # usable on a phone
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", r.text)  # offline: no CDN
    assert ".innerHTML" not in r.text  # server text only ever goes through textContent
    assert 'href="/subscribe"' in client.get("/widget").text  # reachable from the chat widget


# -- in the browser ----------------------------------------------------------------------------------
def test_the_form_shows_the_taxonomy_from_the_api_and_licheng_by_default(page, http):
    taxonomy = http.get("/api/push/taxonomy").json()
    labels = lambda box: page.locator(f"#{box} label").all_inner_texts()  # noqa: E731
    assert labels("groups") == taxonomy["groups"] and len(taxonomy["groups"]) == 15
    assert labels("topics") == taxonomy["topics"] and len(taxonomy["topics"]) == 20
    assert labels("kinds") == [k["label"] for k in taxonomy["kinds"]]
    assert labels("channels") == [c["label"] for c in taxonomy["available_channels"]]  # what this service has
    assert labels("modes") == ["即时推送", "每日汇总"] and page.get_by_label("即时推送").is_checked()
    assert page.locator("#province option").count() == len(taxonomy["provinces"]) + 1  # + “不填”
    assert page.locator("#province").input_value() == "山东省"
    assert page.locator("#city").input_value() == "济南市"
    assert page.locator("#district").input_value() == "历城区"
    assert page.get_by_label("居民个人").is_checked() and page.get_by_label("站内信").is_checked()
    assert page.get_by_label("站内信").is_disabled()  # always included
    for field in ("#phone", "#email", "#webhook-url"):
        assert page.locator(field).is_hidden()  # the inbox needs no address
    page.get_by_label("短信").check()
    assert page.get_by_label("手机号").is_visible() and page.locator("#email").is_hidden()
    assert page.locator("#token-box").is_hidden() and page.locator("#inbox-box").is_hidden()


def test_a_bad_submission_shows_the_api_chinese_error_next_to_the_form(page, http):
    page.get_by_role("button", name="订阅", exact=True).click()  # no group, no topic
    error = page.locator("#form-error")
    expect(error).to_have_text("请至少选择一个所属群体或关注主题。")
    assert page.locator("#token-box").is_hidden() and stored_token(page) is None
    # A second mistake replaces the first message.
    page.locator("#groups").get_by_label("高校毕业生", exact=True).check()
    page.get_by_label("短信").check()
    page.get_by_label("手机号").fill("12345")
    page.get_by_role("button", name="订阅", exact=True).click()
    expect(error).to_have_text("手机号格式不正确，请填写 11 位中国大陆手机号。")
    assert http.get("/api/admin/push/status", headers=ADMIN).json()["profiles"] == 0


def test_subscribe_receive_a_push_edit_and_unsubscribe(page, http):
    fill_and_subscribe(page, topics=("就业创业",))
    box = page.locator("#token-box")
    box.wait_for(state="visible")
    assert "凭证只显示这一次" in box.inner_text()
    token = page.locator("#token-value").input_value()
    assert re.fullmatch(r"pt-[A-Za-z0-9_-]+", token) and stored_token(page) == token
    me = http.get("/api/profiles/me", headers=bearer(token)).json()
    assert me["groups"] == ["高校毕业生"] and me["street"] == "王舍人街道" and me["district"] == "历城区"
    assert "高校毕业生" in page.locator("#summary").inner_text()
    expect(page.locator("#inbox-info")).to_have_text(re.compile("^暂无推送"))  # loaded after the token shows

    ingest_and_deliver(http, POLICY)

    reload(page)
    assert page.locator("#token-box").is_hidden()  # shown once only
    [item] = page.locator("#inbox li").all()
    link = item.get_by_role("link", name=POLICY["title"])
    assert link.get_attribute("href") == "/documents/lc-jyjx-2025"  # the reader page
    text = item.inner_text()
    assert "文号：历人社发〔2025〕5号" in text and f"推送理由：{REASON}" in text
    assert item.locator("blockquote").inner_text() == f"原文：“{QUOTE}”"
    assert re.search(r"推送日期：\d{4}-\d{2}-\d{2}", text) and "修订" not in text
    assert page.locator("#inbox-info").inner_text() == "共 1 条推送。"

    # Unread: a 未读 badge in text (not colour alone) and the count in the header; read with the keyboard.
    unread_count = page.locator("#unread-count")
    assert item.locator(".badge").inner_text() == "未读"
    assert page.locator("#inbox-title").inner_text() == "收到的政策推送（1 条未读）"
    assert serious_violations(page, "#inbox-box") == []  # badge and count readable, the button named
    page.locator("#inbox-box").scroll_into_view_if_needed()
    screenshot(page, "subscribe-inbox-unread-390")
    mark = item.get_by_role("button", name=f"标为已读：{POLICY['title']}")
    mark.focus()
    page.keyboard.press("Enter")
    expect(unread_count).to_be_hidden()
    expect(item.locator(".badge")).to_have_count(0)
    expect(link).to_be_focused()  # the removed button hands the keyboard's place to the item
    assert mark.count() == 0 and "unread" not in (item.get_attribute("class") or "")
    inbox = http.get("/api/profiles/me/inbox", headers=bearer(token)).json()
    assert inbox["unread"] == 0 and inbox["items"][0]["read"] and inbox["items"][0]["read_at"]
    reload(page)  # the receipt is the server's, not the page's memory
    assert page.locator("#inbox .badge").count() == 0 and unread_count.is_hidden()

    # A revised text is pushed again and marked as such.
    ingest_and_deliver(http, {**POLICY, "text": POLICY["text"].replace("1000元", "1500元")})
    reload(page)
    assert page.locator("#inbox li").count() == 2
    assert page.locator("#inbox .revised").all_inner_texts() == ["修订"]
    assert "该政策已修订" in page.locator("#inbox li", has=page.locator(".revised")).inner_text()
    # Only the new push is unread; opening it in the reader is what marks it read.
    [fresh] = page.locator("#inbox li.unread").all()
    assert fresh.locator(".revised").count() == 1 and fresh.locator(".badge").inner_text() == "未读"
    assert unread_count.inner_text() == "（1 条未读）"
    with page.expect_popup() as opened:
        fresh.get_by_role("link").click()
    reader = opened.value
    assert reader.url.endswith("/documents/lc-jyjx-2025")
    reader.close()
    expect(unread_count).to_be_hidden()
    assert page.locator("#inbox .badge, #inbox li.unread").count() == 0
    inbox = http.get("/api/profiles/me/inbox", headers=bearer(token)).json()
    assert inbox["unread"] == 0 and [i["read"] for i in inbox["items"]] == [True, True]

    # Edit (PUT): a bad value shows the API's message, a good one is saved.
    page.get_by_role("button", name="修改订阅").click()
    assert page.locator("#groups").get_by_label("高校毕业生", exact=True).is_checked()  # pre-filled
    page.locator("#city").fill("济南")
    page.get_by_role("button", name="保存修改").click()
    expect(page.locator("#form-error")).to_contain_text("城市“济南”不是规范名称")
    page.locator("#city").fill("济南市")
    page.locator("#topics").get_by_label("教育", exact=True).check()
    page.get_by_role("button", name="保存修改").click()
    page.get_by_text("订阅信息已保存。").wait_for()
    assert page.locator("#f").is_hidden()
    me = http.get("/api/profiles/me", headers=bearer(token)).json()
    assert me["topics"] == ["就业创业", "教育"]
    assert "就业创业、教育" in page.locator("#summary").inner_text()

    # Unsubscribe asks first; dismissing keeps everything.
    page.once("dialog", lambda d: d.dismiss())
    page.get_by_role("button", name="注销订阅").click()
    assert page.locator("#inbox li").count() == 2 and stored_token(page) == token
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="注销订阅").click()
    page.get_by_text("已注销订阅").wait_for()
    assert page.locator("#inbox-box").is_hidden() and page.locator("#inbox li").count() == 0
    assert stored_token(page) is None
    assert http.get("/api/profiles/me", headers=bearer(token)).status_code == 401
    reload(page)
    assert page.get_by_role("button", name="订阅", exact=True).is_visible()  # back to a blank form


def test_a_pasted_token_opens_the_inbox_and_server_text_stays_text(page, http):
    created = http.post("/api/profiles", json=GRADUATE).json()
    hostile = {**POLICY, "id": "lc-xss-1", "title": '<img src=x onerror="window.pwned=1">历城区<b>稳就业</b>措施'}
    ingest_and_deliver(http, hostile)

    page.get_by_label("输入订阅凭证").fill("pt-not-a-real-token")
    page.get_by_role("button", name="查看我的订阅").click()
    expect(page.locator("#login-error")).to_have_text("订阅凭证无效或已注销，请确认凭证是否正确。")
    assert stored_token(page) is None

    page.get_by_label("输入订阅凭证").fill(created["token"])
    page.get_by_role("button", name="查看我的订阅").click()
    page.locator("#inbox li").wait_for()
    assert page.locator("#inbox li a").inner_text() == hostile["title"]  # shown literally
    assert page.locator("#inbox img, #inbox b").count() == 0
    assert page.evaluate("() => window.pwned") is None
    assert stored_token(page) == created["token"]  # remembered on this device
    assert page.locator("#f").is_hidden() and page.locator("#login").is_hidden()


def test_a_remembered_token_that_no_longer_works_says_so_and_offers_the_form(page):
    page.evaluate("() => localStorage.setItem('licheng-push-token', 'pt-' + 'A'.repeat(43))")
    reload(page)
    assert page.locator("#login-error").inner_text() == "订阅凭证无效或已注销，请确认凭证是否正确。"
    assert stored_token(page) is None
    assert page.get_by_role("button", name="订阅", exact=True).is_visible()


def test_suggested_groups_and_topics_are_offered_and_ticked_only_by_the_resident(page, http):
    description = "我是今年刚毕业的大学生，想在历城区找工作，也想了解创业贷款。"
    offered = http.post("/api/push/profile/suggest", json={"description": description}).json()
    assert offered["groups"] or offered["topics"]
    page.get_by_label("自我描述（可选，仅您本人可见）").fill(description)
    page.get_by_role("button", name="根据自我描述推荐群体和主题").click()
    box = page.locator("#suggestions")
    expect(box.locator("p").first).to_have_text(offered["notice"])
    expected = [f"勾选所属群体：{s['name']}" for s in offered["groups"]] + [
        f"勾选关注主题：{s['name']}" for s in offered["topics"]
    ]
    labels = [t.split("（依据")[0] for t in box.get_by_role("button").all_inner_texts()]
    assert labels == expected
    first = (offered["groups"] or offered["topics"])[0]["name"]
    where = "#groups" if offered["groups"] else "#topics"
    assert not page.locator(where).get_by_label(first, exact=True).is_checked()  # nothing ticked on its own
    box.get_by_role("button").first.click()
    assert page.locator(where).get_by_label(first, exact=True).is_checked()
    expect(box.get_by_role("button").first).to_be_disabled()


def test_subscribe_with_a_digest_quiet_hours_and_a_webhook_and_see_them_saved(page, http):
    taxonomy = http.get("/api/push/taxonomy").json()
    assert [c["value"] for c in taxonomy["available_channels"]] == ["inbox", "sms", "email", "webhook"]
    page.get_by_label("Webhook（对接自有系统）").check()
    page.get_by_label("Webhook 地址").fill("https://hooks.example.com/policy")
    page.get_by_label("电子邮件").check()
    page.get_by_label("电子邮箱").fill("wang.fang@example.com")
    page.get_by_label("每日汇总").check()
    page.get_by_label("开始时间").fill("22:00")
    page.get_by_label("结束时间").fill("07:30")
    page.get_by_label("每日最多推送条数").fill("5")
    fill_and_subscribe(page)
    page.locator("#token-box").wait_for(state="visible")
    secret_box = page.locator("#secret-box")
    assert secret_box.is_visible() and "只显示这一次" in secret_box.inner_text()
    secret = page.locator("#secret-value").input_value()
    assert secret.startswith("whsec-")
    token = stored_token(page)
    assert token and secret not in (token or "")

    me = http.get("/api/profiles/me", headers=bearer(token)).json()
    p = me["preferences"]
    assert p["channels"] == ["inbox", "email", "webhook"] and p["email"] == "wang.fang@example.com"
    assert (p["delivery_mode"], p["quiet_start"], p["quiet_end"], p["daily_cap"]) == ("digest", "22:00", "07:30", 5)
    assert p["webhook_url"] == "https://hooks.example.com/policy" and p["webhook_secret"] != secret
    summary = page.locator("#summary").inner_text()
    assert "每日汇总" in summary and "22:00 至 07:30" in summary and "最多 5 条" in summary

    reload(page)  # the secret is never shown again
    assert secret_box.is_hidden() and secret not in page.content()
    assert "22:00 至 07:30" in page.locator("#summary").inner_text()
    page.get_by_role("button", name="修改订阅").click()  # the form comes back filled in
    assert page.get_by_label("每日汇总").is_checked() and page.get_by_label("开始时间").input_value() == "22:00"
    assert page.get_by_label("Webhook 地址").input_value() == "https://hooks.example.com/policy"
    page.get_by_label("即时推送").check()
    page.get_by_label("开始时间").fill("")
    page.get_by_label("结束时间").fill("")
    page.get_by_role("button", name="保存修改").click()
    page.get_by_text("订阅信息已保存。").wait_for()
    p = http.get("/api/profiles/me", headers=bearer(token)).json()["preferences"]
    assert (p["delivery_mode"], p["quiet_start"], p["daily_cap"]) == ("immediate", None, 5)
    assert secret_box.is_hidden()  # the kept secret is not shown on an edit either


def test_the_signed_unsubscribe_link_of_an_email_asks_first_then_deletes_everything(
    browser, push_state, base_url, http
):
    created = http.post("/api/profiles", json=GRADUATE).json()
    token, pid = created["token"], created["profile_id"]
    ingest_and_deliver(http, POLICY)
    # The very link an e-mail or webhook carries, signed as the channels sign it; opened on this server.
    link = render_config(push_state.settings).unsubscribe_url(pid)
    public = CHANNELS["push_public_base_url"] + "/api/push/unsubscribe?t="
    assert link.startswith(public) and len(link) > len(public) + 20

    context = new_context(browser, PHONE)
    requests = Requests(context)
    pg = context.new_page()
    pg.add_init_script(REPORT_CSP)
    errors = watch(pg)
    response = pg.goto(base_url + link.removeprefix(CHANNELS["push_public_base_url"]))
    assert response.status == 200 and response.headers["cache-control"] == "no-store"
    csp = response.headers["content-security-policy"]
    assert "'unsafe-inline'" not in csp and "script-src 'none'" in csp and "form-action 'self'" in csp
    assert pg.evaluate("document.documentElement.lang") == "zh-CN"
    expect(pg.get_by_role("heading", level=1)).to_have_text("确认退订政策推送")
    assert "删除您的订阅信息" in pg.locator("body").inner_text()
    assert serious_violations(pg) == []
    screenshot(pg, "unsubscribe-confirm-375")
    # Opening the link (as a mail scanner would) changed nothing.
    assert http.get("/api/profiles/me", headers=bearer(token)).status_code == 200
    assert http.get("/api/profiles/me/inbox", headers=bearer(token)).json()["total"] == 1

    pg.get_by_role("button", name="确认退订").click()
    expect(pg.get_by_role("heading", level=1)).to_have_text("退订成功")
    assert "您将不再收到政策推送" in pg.locator("body").inner_text()
    assert serious_violations(pg) == []
    pg.set_viewport_size(DESKTOP)
    screenshot(pg, "unsubscribe-done-1366")
    for path in ("/api/profiles/me", "/api/profiles/me/inbox"):
        assert http.get(path, headers=bearer(token)).status_code == 401
    assert push_state.push_store.inbox(pid) == (0, [])
    assert http.get("/api/admin/push/status", headers=ADMIN).json()["profiles"] == 0

    pg.goto(response.url)  # the same link again, later: it says so, and there is nothing to confirm
    expect(pg.get_by_role("heading", level=1)).to_have_text("您已退订")
    assert pg.get_by_role("button").count() == 0
    assert pg.evaluate("window.__csp") == [] and errors == []
    context.close()
    assert requests.outside(base_url) == [], requests.urls


# -- the street picker ---------------------------------------------------------------------------------
def _street_page(browser, base_url):
    context = new_context(browser, PHONE)
    requests = Requests(context)
    pg = context.new_page()
    pg.add_init_script(REPORT_CSP)
    errors = watch(pg)
    pg.goto(base_url + "/subscribe")
    pg.wait_for_selector("body[data-ready]")
    return context, requests, pg, errors


def test_the_street_is_picked_from_the_districts_official_list_at_375px(browser, base_url, http, shared_dir):
    context, requests, pg, errors = _street_page(browser, base_url)
    street, hint = pg.get_by_label("街道/乡镇（可选）"), pg.locator("#street-hint")
    licheng = [r["street"] for r in sorted(jinan_rows(shared_dir), key=lambda r: r["street_code"])
               if r["district_code"] == "370112"]  # fmt: skip
    assert street.evaluate("e => e.tagName") == "SELECT" and pg.locator("#street-text").is_hidden()
    assert street.locator("option").all_inner_texts() == ["（不填）", *licheng] and len(licheng) == 17
    assert street.input_value() == "" and hint.inner_text() == "历城区共 17 个街道（乡镇），请从列表中选择。"
    # 375 px: the picker fits and nothing scrolls sideways
    box = street.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    assert pg.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert serious_violations(pg, "#f") == []
    street.scroll_into_view_if_needed()
    screenshot(pg, "subscribe-street-375")

    # keyboard only: Tab from the district to the picker, arrows choose
    pg.get_by_label("区县", exact=True).focus()
    pg.keyboard.press("Tab")
    expect(street).to_be_focused()
    pg.keyboard.press("ArrowDown")
    pg.keyboard.press("ArrowDown")
    assert street.input_value() == licheng[1]
    street.select_option("王舍人街道")

    # another district: its own list; the street chosen before is not kept, and the hint says so
    pg.get_by_label("区县", exact=True).fill("历下区")
    pg.get_by_label("区县", exact=True).press("Tab")
    expect(street.locator("option")).to_have_count(14)
    assert "解放路街道" in street.locator("option").all_inner_texts() and street.input_value() == ""
    expect(hint).to_have_text("原填写的街道“王舍人街道”不是历下区的街道（乡镇），请重新选择。")
    # a district that does not exist: the API's message, nothing to pick
    pg.get_by_label("区县", exact=True).fill("幸福区")
    pg.get_by_label("区县", exact=True).press("Tab")
    expect(hint).to_have_text("区县“幸福区”不是济南市的区县，请填写全称，例如“历城区”“平阴县”。")
    assert street.is_disabled() and street.locator("option").count() == 1
    # the high-tech zone's five streets
    pg.get_by_label("区县", exact=True).fill("济南高新技术产业开发区")
    pg.get_by_label("区县", exact=True).press("Tab")
    expect(street.locator("option")).to_have_count(6)
    street.select_option("孙村街道")
    pg.locator("#groups").get_by_label("高校毕业生", exact=True).check()
    pg.get_by_role("button", name="订阅", exact=True).click()
    pg.locator("#token-box").wait_for(state="visible")
    me = http.get("/api/profiles/me", headers=bearer(stored_token(pg))).json()
    assert (me["district"], me["street"]) == ("济南高新技术产业开发区", "孙村街道")

    # editing: the form comes back with the stored street picked in its district's list
    pg.get_by_role("button", name="修改订阅").click()
    expect(street).to_have_value("孙村街道")
    assert pg.get_by_label("区县", exact=True).input_value() == "济南高新技术产业开发区"
    assert pg.evaluate("window.__csp") == [] and errors == []
    context.close()
    assert requests.outside(base_url) == [], requests.urls


@pytest.mark.parametrize("streets_installed", [False], indirect=True)
def test_without_the_street_table_the_street_is_typed_and_taken_as_written(browser, base_url, http):
    context, requests, pg, errors = _street_page(browser, base_url)
    assert pg.locator("#street").is_hidden()
    typed = pg.get_by_label("街道/乡镇（可选，请直接填写）")
    assert typed.is_visible() and pg.locator("#street-hint").inner_text() == NO_TABLE_NOTICE
    assert serious_violations(pg, "#f") == []
    typed.fill("幸福街道")
    pg.locator("#groups").get_by_label("高校毕业生", exact=True).check()
    pg.get_by_role("button", name="订阅", exact=True).click()
    pg.locator("#token-box").wait_for(state="visible")
    assert http.get("/api/profiles/me", headers=bearer(stored_token(pg))).json()["street"] == "幸福街道"
    assert pg.evaluate("window.__csp") == [] and errors == []
    context.close()
    assert requests.outside(base_url) == [], requests.urls
