"""The chat widget embedded with its one tag into a portal page of ANOTHER origin, in a real browser.

One service (demo corpus, test fake encoder) and one portal (a plain static site on a second loopback
port, whose CSS tries to break the widget) per module; Debian's chromium through Playwright. What a
resident does: open 智能问答, ask, read the streamed cited answer, open the reader at the cited passage,
send feedback, reload, start a new conversation; on a phone, with the keyboard only, at 200 % zoom.
"""

from __future__ import annotations

import re

import httpx
import pytest

from tests.qa_service.browser import (
    ADMIN_KEY,
    DESKTOP,
    PHONE,
    Requests,
    demo_settings,
    expect,
    free_socket,
    new_context,
    screenshot,
    serious_violations,
    serve_portal,
    serve_service,
    watch,
)

QUESTION = "申请一次性就业补贴需要什么材料？"
UNANSWERABLE = "历城区宠物狗怎么登记"
# A portal whose stylesheet would hide or crush any widget living in its DOM.
PORTAL_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>历城区人民政府门户网站（测试）</title>
<style>
  button { display: none !important; }
  iframe { width: 1px !important; height: 1px !important; }
  div { font-size: 4px !important; color: red !important; position: static !important; }
</style></head>
<body><main><h1>历城区人民政府门户网站</h1><p>政务公开 · 办事服务 · 互动交流</p></main>
<script src="{service}/widget.js" data-api="{service}" defer></script>
</body></html>
"""


@pytest.fixture(scope="module")
def portal_pages() -> dict[str, str]:
    return {}


@pytest.fixture(scope="module")
def portal(portal_pages):
    with serve_portal(portal_pages) as origin:
        yield origin


@pytest.fixture(scope="module")
def service(tmp_path_factory, portal, portal_pages):
    with serve_service(demo_settings(tmp_path_factory.mktemp("widget"), portal), free_socket()) as (url, state):
        portal_pages["/"] = PORTAL_PAGE.replace("{service}", url)
        yield url


def open_widget(page):
    page.get_by_role("button", name="智能问答").click()
    frame = page.frame_locator("iframe[title='智能问答']")
    expect(frame.get_by_label("您的问题")).to_be_focused()
    return frame


def test_the_tag_adds_a_button_whose_panel_answers_with_cited_cards_reader_and_feedback(browser, service, portal):
    context = new_context(browser, DESKTOP)
    requests = Requests(context)
    page = context.new_page()
    errors = watch(page)
    page.goto(portal + "/")
    frame = open_widget(page)
    panel = page.locator("#licheng-qa-panel")
    box = panel.bounding_box()
    assert box["width"] > 300 and box["height"] > 400  # the portal's CSS did not crush it

    frame.get_by_label("您的问题").fill(QUESTION)
    frame.get_by_label("您的问题").press("Enter")
    turn = frame.locator(".turn").last
    expect(turn.locator(".card").first).to_be_visible()
    assert int(frame.locator("body").get_attribute("data-events")) >= 3  # meta, sentences…, done: streamed
    expect(frame.locator("body")).to_have_attribute("data-state", "idle")
    assert turn.locator(".a p").count() >= 2  # one paragraph per sentence, each with its [n]
    assert turn.locator(".a p .ref").first.inner_text() == "[1]"

    # Each card: title, 文号, article, date and status badge, linking to the reader at the passage.
    answer = httpx.post(service + "/api/ask", json={"question": QUESTION}).json()
    first = answer["sentences"][0]["citation"]
    card = turn.locator(".card").first
    text = card.inner_text()
    assert first["title"] in text and first["heading"] in text
    if first["doc_number"]:
        assert first["doc_number"] in text
    if first["publish_date"]:
        assert first["publish_date"] in text
    assert re.search("现行有效|已修订|已废止|未标注", card.locator(".badge").inner_text())
    assert card.get_attribute("href") == first["reader_url"]
    expect(turn.get_by_role("group", name="您可能还想问").get_by_role("button")).to_have_count(3)

    # The reader opens at the cited passage, highlighted and in view.
    with context.expect_page() as popup:
        card.click()
    reader = popup.value
    reader_errors = watch(reader)
    reader.wait_for_selector("body[data-ready]")
    hit = reader.locator("section.hit")
    expect(hit).to_have_count(1)
    assert hit.get_attribute("id") == "passage-" + first["passage_id"]
    expect(hit).to_be_in_viewport()
    expect(hit).to_have_attribute("aria-current", "true")
    expect(reader.locator("h1")).to_have_text(first["title"])
    screenshot(reader, "reader-1366")
    assert serious_violations(reader) == []
    reader.close()

    # Feedback: 没用, with a reason and a comment, stored with the reason.
    turn.get_by_role("button", name="没用").click()
    turn.get_by_label("引用错误").check()
    turn.get_by_label("补充说明（可选）").fill("引用的条款与问题无关")
    turn.get_by_role("button", name="提交评价").click()
    expect(turn.get_by_text("感谢您的评价。")).to_be_visible()
    stored = httpx.get(service + "/api/admin/feedback", headers={"X-API-Key": ADMIN_KEY}).json()["feedback"]
    assert [(f["text"], f["useful"], f["reason"], f["comment"]) for f in stored] == [
        (QUESTION, False, "wrong_citation", "引用的条款与问题无关")
    ]
    screenshot(page, "widget-portal-1366")

    # The conversation survives a reload; 新对话 starts afresh.
    page.reload()
    frame = open_widget(page)
    expect(frame.locator(".turn")).to_have_count(1)
    expect(frame.locator(".turn .q")).to_have_text(QUESTION)
    expect(frame.get_by_text("感谢您的评价。")).to_be_visible()  # no second vote offered
    frame.get_by_role("button", name="新对话").click()
    expect(frame.locator(".turn")).to_have_count(0)
    expect(frame.get_by_label("您的问题")).to_be_focused()

    context.close()
    assert errors == [] and reader_errors == []
    assert requests.outside(portal, service) == [], requests.urls
    assert requests.origins() == {portal, service}


def test_on_a_phone_with_the_keyboard_only_an_abstention_offers_12345_and_close_documents(browser, service, portal):
    context = new_context(browser, PHONE, has_touch=True)
    requests = Requests(context)
    page = context.new_page()
    errors = watch(page)
    page.goto(portal + "/")
    page.keyboard.press("Tab")  # the portal has no other focusable element: the widget's button
    page.keyboard.press("Enter")
    frame = page.frame_locator("iframe[title='智能问答']")
    expect(frame.get_by_label("您的问题")).to_be_focused()
    box = page.locator("#licheng-qa-panel").bounding_box()
    assert (box["x"], box["y"], box["width"]) == (0, 0, PHONE["width"])  # the whole screen
    page.keyboard.type(UNANSWERABLE)
    page.keyboard.press("Enter")
    turn = frame.locator(".turn").last
    tel = turn.get_by_role("link", name="12345")
    expect(tel).to_have_attribute("href", "tel:12345")
    closest = httpx.post(service + "/api/ask", json={"question": UNANSWERABLE}).json()["suggestions"]
    expect(turn.locator(".abstain .card")).to_have_count(len(closest))  # the closest documents, if any
    expect(turn).to_be_in_viewport()  # scrolled to the new answer
    expect(frame.get_by_label("您的问题")).to_be_in_viewport()  # and the input still in view
    screenshot(page, "widget-portal-375")
    page.keyboard.press("Escape")
    expect(page.locator("#licheng-qa-panel")).to_be_hidden()
    expect(page.get_by_role("button", name="智能问答")).to_be_focused()
    context.close()
    assert errors == []
    assert requests.outside(portal, service) == [], requests.urls


@pytest.mark.parametrize("viewport", [PHONE, {"width": 683, "height": 430}], ids=["375px", "200%-zoom"])
def test_the_chat_page_is_accessible_and_usable_small_and_zoomed(browser, service, viewport):
    # 200 % zoom of a 1366 × 860 screen is a 683 × 430 CSS viewport.
    context = new_context(browser, viewport)
    requests = Requests(context)
    page = context.new_page()
    errors = watch(page)
    page.goto(service + "/widget")
    page.wait_for_selector("body[data-ready]")
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    page.get_by_label("您的问题").fill(QUESTION)
    page.get_by_role("button", name="发送").click()
    expect(page.locator(".card").first).to_be_visible()
    page.get_by_role("button", name="没用").click()  # the feedback form is checked too
    expect(page.get_by_role("button", name="发送")).to_be_in_viewport()
    expect(page.get_by_label("您的问题")).to_be_in_viewport()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scrolling
    assert serious_violations(page) == []
    context.close()
    assert errors == [] and requests.outside(service) == []


def test_the_demo_portal_uses_exactly_the_one_tag_and_cors_answers_the_portals_preflight(browser, service, portal):
    r = httpx.get(service + "/")
    assert f'<script src="{service}/widget.js" data-api="{service}" defer></script>' in r.text
    csp = dict(d.strip().split(" ", 1) for d in r.headers["content-security-policy"].split(";"))
    assert csp["script-src"] == "'self'" and csp["connect-src"] == "'self'" and csp["frame-src"] == "'self'"
    assert "'unsafe-inline'" not in r.headers["content-security-policy"]
    context = new_context(browser, DESKTOP)
    requests = Requests(context)
    page = context.new_page()
    errors = watch(page)
    page.goto(service + "/")
    open_widget(page)
    assert serious_violations(page) == []
    # The portal's own scripts may call the API too: the preflight is answered, not 405.
    preflight = httpx.options(
        service + "/api/ask/stream",
        headers={
            "Origin": portal,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == portal
    other = httpx.options(
        service + "/api/ask", headers={"Origin": "http://elsewhere.example", "Access-Control-Request-Method": "POST"}
    )
    assert other.status_code == 400 and "access-control-allow-origin" not in other.headers
    page.goto(portal + "/")
    status = page.evaluate(
        """async (api) => { const r = await fetch(api + "/api/ask", {method: "POST",
             headers: {"Content-Type": "application/json"}, body: JSON.stringify({question: "居住证怎么办理"})});
             return [r.status, (await r.json()).answer_id.length]; }""",
        service,
    )
    assert status == [200, 32]
    context.close()
    assert errors == [] and requests.outside(service, portal) == []


def test_an_abstention_lists_the_closest_documents_as_cards_opening_the_reader(browser, service):
    """Rendered from the conversation kept in sessionStorage (the reload path), with documents the
    search finds, so the cards do not depend on which questions the answerer abstains on today."""
    found = httpx.get(service + "/api/search", params={"q": "就业补贴"}).json()["results"][:2]
    keep = ("doc_id", "title", "doc_number", "status", "reader_url")
    resp = {
        "answer_id": "0" * 32,
        "abstained": True,
        "answer": "未找到相关政策。您可以查看下列相近文件，或拨打 12345 政务服务便民热线咨询。",
        "hotline": "12345",
        "sentences": [],
        "suggestions": [{k: r[k] for k in keep} for r in found],
    }
    chat = {"conversationId": None, "turns": [{"question": "就业补贴能给外地人吗", "resp": resp}]}
    context = new_context(browser, PHONE)
    page = context.new_page()
    errors = watch(page)
    page.goto(service + "/widget")
    page.evaluate("(c) => sessionStorage.setItem('licheng-qa-chat', JSON.stringify(c))", chat)
    page.reload()
    page.wait_for_selector("body[data-ready]")
    cards = page.locator(".abstain .card")
    expect(cards).to_have_count(2)
    for card, r in zip(cards.all(), found, strict=True):
        assert card.get_attribute("href") == r["reader_url"]
        assert f"《{r['title']}》" in card.inner_text()
    expect(page.locator(".abstain").get_by_role("link", name="12345")).to_have_attribute("href", "tel:12345")
    assert serious_violations(page) == []
    context.close()
    assert errors == []
