"""The 12345 agents' console (/console) in a real browser: agent key, pickers from the facets, clear
filters, search time, `/` and the arrow keys, the document beside the results at the passage, one-click
copy of 《标题》（文号）第X条：…; and the per-agent rate limit, keyed by the agent, not the address.
"""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi.testclient import TestClient

from qa_service.app import build_state, create_app
from tests.qa_service.browser import (
    AGENT_KEY,
    DESKTOP,
    PHONE,
    Requests,
    demo_settings,
    expect,
    free_socket,
    new_context,
    screenshot,
    serious_violations,
    serve_service,
    watch,
)
from tests.qa_service.conftest import make_settings

QUERY = "一次性就业补贴"


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    settings = demo_settings(tmp_path_factory.mktemp("console"), "http://portal.invalid")
    with serve_service(settings, free_socket()) as (url, _state):
        yield url


def enter_key(page, key: str) -> None:
    page.get_by_label("坐席密钥").fill(key)
    page.get_by_role("button", name="进入（仅本次会话）").click()


def total(page) -> int:
    return int(re.match(r"共 (\d+) 个文件", page.locator("#info").inner_text()).group(1))


def search(page, text: str) -> None:
    page.get_by_role("searchbox").fill(text)
    page.get_by_role("searchbox").press("Enter")


def test_an_agent_searches_with_a_filter_opens_a_document_beside_the_results_and_copies_the_answer(browser, service):
    context = new_context(browser, DESKTOP)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=service)
    requests = Requests(context)
    page = context.new_page()
    errors = watch(page)
    page.goto(service + "/console")
    page.wait_for_selector("body[data-ready]")

    # The pickers offer the index's own values, with counts.
    facets = httpx.get(service + "/api/search/facets").json()
    issuers = page.get_by_label("发文机关").locator("option").all_inner_texts()
    assert issuers == ["全部"] + [f"{v['label']}（{v['count']}）" for v in facets["issuer"]]
    assert page.get_by_label("状态").locator("option").all_inner_texts()[1:] == [
        f"{v['label']}（{v['count']}）" for v in facets["status"]
    ]

    # No key, then a wrong one: the server's Chinese message, nothing listed.
    search(page, QUERY)
    expect(page.locator("#login-msg")).to_have_text("请先输入坐席密钥。")
    enter_key(page, "not-the-agent-key-000")
    expect(page.locator("#login-msg")).to_contain_text("坐席密钥")
    enter_key(page, AGENT_KEY)
    expect(page.locator("#info")).to_contain_text("检索用时")
    expect(page.locator("#login")).to_be_hidden()
    assert re.search(r"共 \d+ 个文件.*检索用时 [\d.]+ 毫秒", page.locator("#info").inner_text())
    unfiltered = total(page)

    # A filter narrows the list, says it is set, and 清除筛选 clears it.
    page.get_by_label("状态").select_option("current")
    expect(page.locator("#active")).to_have_text("已选筛选：状态=现行有效")
    expect(page.locator(".r .badge").filter(has_not_text="现行有效")).to_have_count(0)
    expect(page.locator(".r .badge").first).to_have_text("现行有效")
    assert 0 < total(page) < unfiltered

    # `/` focuses the search box; the arrow keys walk the results; Enter opens one beside them.
    page.locator("h1").click()
    page.keyboard.press("/")
    expect(page.get_by_role("searchbox")).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(page.locator(".r").nth(0)).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(page.locator(".r").nth(1)).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(page.locator(".r").nth(0)).to_be_focused()
    first = page.locator(".r").nth(0)
    doc_id = first.get_attribute("data-doc")
    page.keyboard.press("Enter")
    expect(first).to_have_attribute("aria-current", "true")
    reader = page.frame_locator("#reader")
    expect(reader.locator("section.hit")).to_have_count(1)
    results_box = page.locator("#results-pane").bounding_box()
    doc_box = page.locator("#doc-pane").bounding_box()
    assert doc_box["x"] >= results_box["x"] + results_box["width"] - 1  # beside, not below
    assert abs(doc_box["y"] - results_box["y"]) < 5
    expect(reader.locator("section.hit")).to_be_in_viewport()

    # The matching passage, as an agent reads it out.
    doc = httpx.get(f"{service}/api/documents/{doc_id}").json()
    page.get_by_role("button", name="复制答复口径").click()
    expect(page.locator("#copied")).to_contain_text("已复制")
    copied = page.evaluate("navigator.clipboard.readText()")
    head = f"《{doc['title']}》（{doc['doc_number']}）" if doc["doc_number"] else f"《{doc['title']}》"
    assert copied.startswith(head), copied
    m = re.match(re.escape(head) + r"(第[一二三四五六七八九十百千零〇\d]+条)：(.+)$", copied)
    assert m, copied
    assert m.group(2)[:15] in doc["text"].replace("\n", "")
    assert QUERY in copied  # the article that holds the matched words
    screenshot(page, "console-1366")
    assert serious_violations(page) == []

    # Filters never stay set silently: 清除筛选 resets every picker and searches again.
    page.get_by_label("主题").select_option("就业创业")
    expect(page.locator("#active")).to_have_text("已选筛选：主题=就业创业，状态=现行有效")
    page.get_by_role("button", name="清除筛选").click()
    expect(page.locator("#active")).to_have_text("")
    expect(page.get_by_label("状态")).to_have_value("")
    expect(page.get_by_label("主题")).to_have_value("")
    expect(page.locator("#info")).to_contain_text(f"共 {unfiltered} 个文件")
    context.close()
    assert errors == [] and requests.outside(service) == [], requests.urls


def test_on_a_phone_the_document_opens_below_the_results_and_is_scrolled_to(browser, service):
    context = new_context(browser, PHONE)
    requests = Requests(context)
    page = context.new_page()
    errors = watch(page)
    page.goto(service + "/console")
    page.evaluate(f"sessionStorage.setItem('qa-agent-key', {AGENT_KEY!r})")
    page.reload()
    page.wait_for_selector("body[data-ready]")
    search(page, "居住证")
    page.locator(".r").first.click()
    expect(page.locator("#doc-pane")).to_be_in_viewport()
    expect(page.frame_locator("#reader").locator("h1")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "console-375")
    assert serious_violations(page) == []
    context.close()
    assert errors == [] and requests.outside(service) == []


def test_the_reader_links_the_revision_chain_and_the_interpretation(browser, service):
    """demo-002 revises demo-001 and is explained by demo-003 (the demo corpus)."""
    doc = httpx.get(service + "/api/documents/demo-002").json()
    context = new_context(browser, DESKTOP)
    page = context.new_page()
    errors = watch(page)
    page.goto(service + "/documents/demo-002")
    page.wait_for_selector("body[data-ready]")
    chain = page.get_by_role("list", name="历次版本")
    assert chain.get_by_role("link").count() == len(doc["revisions"]) - 1  # every version but this one
    for v in doc["revisions"]:
        if not v["is_this"]:
            assert (
                chain.get_by_role("link", name=re.compile(re.escape(v["title"]))).get_attribute("href")
                == v["reader_url"]
            )
    interps = page.get_by_role("list", name="政策解读").get_by_role("link")
    assert interps.count() == len(doc["interpretations"]) >= 1
    interps.first.click()
    page.wait_for_url(re.compile(r"/documents/"))
    page.wait_for_selector("body[data-ready]")
    expect(page.get_by_text("本文解读的文件：")).to_be_visible()
    old = next(v for v in doc["revisions"] if not v["is_this"])
    page.goto(service + old["reader_url"])
    page.wait_for_selector("body[data-ready]")
    expect(page.locator("#badge")).to_have_text("已修订")
    expect(page.locator("#notice")).to_contain_text("本文件已修订")
    page.goto(service + "/documents/no-such-doc")
    expect(page.get_by_role("alert")).to_have_text("未找到该文件，请确认文件编号是否正确。")
    context.close()
    assert errors == []


# -- HTTP: the agent key and the per-agent limit -----------------------------------------------------
@pytest.fixture
def agents_client(tmp_path, policy_index):
    keys = {"a01": "agent-one-key-0123456789", "a02": "agent-two-key-0123456789"}
    st = build_state(make_settings(tmp_path, agent_keys=keys, agent_rate_limit_burst=2), index=policy_index)
    with TestClient(create_app(state=st)) as c:
        yield c
    st.store.close()
    st.push_store.close()


def test_agents_behind_one_address_each_have_their_own_limit(agents_client):
    one, two = {"X-Agent-Key": "agent-one-key-0123456789"}, {"X-Agent-Key": "agent-two-key-0123456789"}
    codes = [agents_client.get("/api/agent/search", params={"q": "居住证"}, headers=one).status_code for _ in range(3)]
    assert codes == [200, 200, 429]  # a01 used up their burst of 2 …
    assert agents_client.get("/api/agent/search", params={"q": "居住证"}, headers=two).status_code == 200  # … not a02's
    assert agents_client.get("/api/search", params={"q": "居住证"}).status_code == 200  # nor the public bucket


def test_the_agent_route_takes_only_an_agent_key(agents_client, tmp_path, policy_index):
    from tests.qa_service.conftest import ADMIN_KEY

    r = agents_client.get("/api/agent/search", params={"q": "居住证"}, headers={"X-API-Key": ADMIN_KEY})
    assert r.status_code == 401 and r.json()["error"]["code"] == "AGENT_UNAUTHORIZED"
    r = agents_client.get("/api/agent/search", headers={"X-Agent-Key": "agent-one-key-0123456789x"})
    assert r.status_code == 401
    # Guessing is slow (the address's bucket, burst 2, is used up), but a real agent there is not slowed.
    assert agents_client.get("/api/agent/search", headers={"X-Agent-Key": "guess"}).status_code == 429
    real = agents_client.get("/api/agent/search", headers={"X-Agent-Key": "agent-one-key-0123456789"})
    assert real.status_code == 200
    st = build_state(make_settings(tmp_path / "off"), index=policy_index)
    with TestClient(create_app(state=st)) as c:
        r = c.get("/api/agent/search", headers={"X-Agent-Key": "agent-one-key-0123456789"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "AGENT_DISABLED"
    st.store.close()
    st.push_store.close()
