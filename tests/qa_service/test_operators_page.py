"""The operators' view (/console/ops, admin key) in a real browser: the questions residents just asked that
the service could not answer, grouped with counts, drafted into a FAQ entry in one click; feedback with
reasons, filtered and exported as BEIR queries + qrels; the push queue and delivery status.
"""

from __future__ import annotations

import json

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
    serve_service,
    watch,
)

ADMIN = {"X-API-Key": ADMIN_KEY}
# Two wordings of one question the demo corpus cannot answer, and one it can.
UNANSWERED = ["历城区宠物狗怎么登记", "宠物狗登记在历城区怎么办"]
ANSWERED = "申请一次性就业补贴需要什么材料？"


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    settings = demo_settings(tmp_path_factory.mktemp("ops"), "http://portal.invalid")
    with serve_service(settings, free_socket()) as (url, _state):
        yield url


def ask_in_widget(page, service: str, question: str) -> None:
    page.goto(service + "/widget")
    page.wait_for_selector("body[data-ready]")
    page.get_by_label("您的问题").fill(question)
    page.get_by_role("button", name="发送").click()
    expect(page.locator("body")).to_have_attribute("data-state", "idle")


def test_operators_see_the_unanswered_questions_just_asked_and_draft_a_faq_entry(browser, service):
    context = new_context(browser, DESKTOP)
    requests = Requests(context)
    page = context.new_page()
    errors = watch(page)
    for q in UNANSWERED:
        ask_in_widget(page, service, q)
        expect(page.locator(".abstain").last).to_be_visible()
    ask_in_widget(page, service, ANSWERED)
    page.locator(".turn").last.get_by_role("button", name="有用").click()
    expect(page.get_by_text("感谢您的评价。")).to_be_visible()

    page.goto(service + "/console/ops")
    page.wait_for_selector("body[data-ready]")
    expect(page.locator("#msg")).to_have_text("请先输入管理密钥。")
    page.get_by_label("管理密钥", exact=True).fill("wrong-key")
    page.get_by_role("button", name="保存（仅本次会话）").click()
    expect(page.locator("#msg")).to_contain_text("管理密钥")
    page.get_by_label("管理密钥", exact=True).fill(ADMIN_KEY)
    page.get_by_role("button", name="保存（仅本次会话）").click()
    expect(page.locator("#msg")).to_have_text("已加载。")

    # One group for the two wordings, counted twice; the answered question is not on the list.
    rows = page.locator("#groups tr")
    expect(rows).to_have_count(1)
    cells = rows.first.locator("td").all_inner_texts()
    assert cells[0] in UNANSWERED and cells[1] == "2" and cells[2] == "2 / 0"
    assert set(UNANSWERED) - {cells[0]} == {cells[3]}  # the other wording shown beside it
    assert ANSWERED not in page.locator("#groups").inner_text()

    # One click drafts the FAQ entry; the operator writes the answer and saves it.
    rows.first.get_by_role("button", name=f"起草常见问题：{cells[0]}").click()
    expect(page.get_by_label("问题", exact=True)).to_have_value(cells[0])
    expect(page.get_by_label("答案（请依据政策原文填写）")).to_be_focused()
    page.get_by_label("答案（请依据政策原文填写）").fill(
        "犬只登记请咨询属地公安派出所，或拨打 12345 政务服务便民热线。"
    )
    page.get_by_label("出处文件编号（可选）").fill("")
    page.get_by_role("button", name="保存为常见问题").click()
    expect(page.locator("#msg")).to_contain_text("已保存常见问题 #")
    expect(page.locator("#draft")).to_be_hidden()
    faq = httpx.get(service + "/api/admin/faq", headers=ADMIN).json()
    [entry] = [f for f in faq if f["question"] == cells[0]]
    assert entry["answer"].startswith("犬只登记")
    expect(rows.first).to_contain_text(f"已有常见问题 #{entry['id']}")  # the to-do list shows it is done

    # Feedback with reasons, filtered, and exported as an eval set.
    fb_rows = page.locator("#fb tr")
    expect(fb_rows).to_have_count(1)
    assert fb_rows.first.locator("td").all_inner_texts()[:2] == [ANSWERED, "有用"]
    page.get_by_label("评价", exact=True).select_option("false")
    expect(page.locator("#fb-info")).to_have_text("共 0 条评价。")
    page.get_by_label("评价", exact=True).select_option("")
    expect(page.locator("#fb-info")).to_have_text("共 1 条评价。")
    with page.expect_download() as dl:
        page.get_by_role("button", name="导出 qrels.tsv").click()
    qrels = open(dl.value.path(), encoding="utf-8").read().splitlines()
    cited = httpx.get(service + "/api/admin/feedback", headers=ADMIN).json()["feedback"][0]["cited_doc_ids"]
    assert qrels == ["query-id\tcorpus-id\tscore"] + [f"fb-1\t{d}\t1" for d in cited]
    with page.expect_download() as dl:
        page.get_by_role("button", name="导出 queries.jsonl").click()
    queries = open(dl.value.path(), encoding="utf-8").read()
    assert queries == json.dumps({"_id": "fb-1", "text": ANSWERED}, ensure_ascii=False) + "\n"

    # Push: the status and the way to the review queue.
    expect(page.locator("#push")).to_contain_text("订阅用户 0 位")
    assert page.get_by_role("link", name="打开推送审核队列（先审后发）").get_attribute("href") == "/console/review"
    screenshot(page, "operators-1366")
    assert serious_violations(page) == []
    context.close()
    assert errors == [] and requests.outside(service) == [], requests.urls


def test_the_operators_view_fits_a_phone(browser, service):
    context = new_context(browser, PHONE)
    requests = Requests(context)
    page = context.new_page()
    errors = watch(page)
    page.goto(service + "/console/ops")
    page.evaluate(f"sessionStorage.setItem('qa-admin-key', {ADMIN_KEY!r})")
    page.reload()
    page.wait_for_selector("body[data-ready]")
    expect(page.locator("#msg")).to_have_text("已加载。")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "operators-375")
    assert serious_violations(page) == []
    context.close()
    assert errors == [] and requests.outside(service) == []
