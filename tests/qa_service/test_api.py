"""The HTTP API end to end over the small library in conftest."""

from __future__ import annotations

import json

import pytest

from tests.qa_service.conftest import ADMIN_KEY

ADMIN = {"X-API-Key": ADMIN_KEY}


def ask(client, question, **kw):
    r = client.post("/api/ask", json={"question": question, **kw})
    assert r.status_code == 200, r.text
    return r.json()


# -- /api/ask -----------------------------------------------------------------
def test_ask_cites_the_sentence_from_the_current_document(client):
    d = ask(client, "申领居住证需要提交哪些材料？")
    assert not d["abstained"] and d["source"] == "extractive"
    first = d["sentences"][0]
    assert "居民身份证" in first["text"] and "免冠照片" in first["text"]
    cite = first["citation"]
    # The 2019 version, not the superseded 2015 one that also lists materials.
    assert cite["doc_id"] == "jn-jzz-2019"
    assert cite["doc_number"] == "济政发〔2019〕3号" and cite["publish_date"] == "2019-05-10"
    assert cite["status"] == "current" and cite["link"] == "/api/documents/jn-jzz-2019"
    assert cite["heading_path"], "a citation names where in the document the sentence sits"
    assert cite["reader_url"].startswith("/documents/jn-jzz-2019#passage-") and cite["passage_id"]
    assert isinstance(first["also_cited"], list)
    # The cited offsets point at the sentence in the document's text.
    doc = client.get(cite["link"]).json()
    assert doc["text"][first["start"] : first["end"]] == first["text"]
    assert 0.0 <= d["confidence"] <= 1.0 and 1 <= len(d["sentences"]) <= 3


def test_ask_supporting_passages_are_highlighted_and_escaped(client):
    d = ask(client, "创业担保贷款最高额度是多少")
    p = d["passages"][0]
    assert p["citation"]["doc_id"] == "lc-cydb-2023"
    marked = [p["text"][s:e] for s, e in p["highlights"]]
    assert any("创业" in m for m in marked) and any("额度" in m for m in marked)
    assert "<mark>" in p["html"] and "<script" not in p["html"]


@pytest.mark.parametrize("question", ["今天天气怎么样", "你好", "请推荐一部好看的电影"])
def test_ask_abstains_with_hotline_when_the_corpus_does_not_answer(client, question):
    d = ask(client, question)
    assert d["abstained"] and d["answer"].startswith("未找到相关政策")
    assert "12345" in d["answer"] and d["hotline"] == "12345" and d["hotline_href"] == "tel:12345"
    assert d["sentences"] == []


def test_answer_from_an_expired_document_says_so(client):
    d = ask(client, "生活垃圾分为哪几类")
    assert not d["abstained"]
    assert d["sentences"][0]["citation"]["doc_id"] == "jn-laji-2018"
    assert d["notices"] and d["notices"][0]["status"] == "expired"
    assert "已失效" in d["answer"]


def test_faq_is_matched_first_and_cites_its_source(client):
    d = ask(client, "居住证办理需要多长时间")
    assert d["source"] == "faq"
    assert d["answer"] == "自受理之日起十五日内制作发放居住证。"
    assert d["sentences"][0]["citation"]["doc_id"] == "jn-jzz-2019"


def test_follow_up_is_resolved_against_the_previous_turn(client):
    first = ask(client, "创业担保贷款怎么申请")
    d = ask(client, "那最多能贷多少？", conversation_id=first["conversation_id"])
    assert "创业" in d["resolved_question"] and "担保" in d["resolved_question"]
    assert not d["abstained"]
    assert "30万元" in "".join(s["text"] for s in d["sentences"])
    # Without the conversation the same words carry no topic.
    alone = ask(client, "那最多能贷多少？")
    assert alone["resolved_question"] == "那最多能贷多少？"


def test_stream_yields_sentences_and_ends_with_done(client):
    with client.stream("POST", "/api/ask/stream", json={"question": "80周岁老人高龄津贴每月多少"}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        body = "".join(r.iter_text())
    events = [
        (b.split("\n")[0][len("event: ") :], json.loads(b.split("\n")[1][len("data: ") :]))
        for b in body.strip().split("\n\n")
    ]
    names = [e for e, _ in events]
    assert names[0] == "meta" and names[-1] == "done" and "sentence" in names
    done = events[-1][1]
    assert not done["abstained"] and "100元" in done["answer"]


def test_stream_get_for_eventsource_and_abstention_as_delta(client):
    with client.stream("GET", "/api/ask/stream", params={"question": "你好"}) as r:
        body = "".join(r.iter_text())
    assert (
        "event: delta" in body
        and "未找到相关政策" in body
        and body.rstrip().split("\n\n")[-1].startswith("event: done")
    )


# -- /api/search ----------------------------------------------------------------
def test_search_doc_number_goes_straight_to_the_document(client):
    d = client.get("/api/search", params={"q": "济政发〔2019〕3号"}).json()
    assert d["direct"] and [r["doc_id"] for r in d["results"]] == ["jn-jzz-2019"]


def test_search_filters_by_status_and_sorts_by_date(client):
    d = client.get("/api/search", params={"q": "居住证", "sort": "date"}).json()
    ids = [r["doc_id"] for r in d["results"]]
    assert set(ids) == {"jn-jzz-2019", "jn-jzz-2015", "jn-jzz-jd"}
    dates = [r["publish_date"] for r in d["results"]]
    assert dates == sorted(dates, reverse=True)
    current = client.get("/api/search", params={"q": "居住证", "status": "current"}).json()
    assert "jn-jzz-2015" not in [r["doc_id"] for r in current["results"]]
    stale = client.get("/api/search", params={"q": "居住证", "status": "superseded,expired"}).json()
    assert [r["doc_id"] for r in stale["results"]] == ["jn-jzz-2015"]


def test_search_filters_issuer_dates_region_type_and_pages(client):
    # Issuer is a substring match: 济南市人民政府 also covers 济南市人民政府办公厅.
    d = client.get("/api/search", params={"issuer": "济南市人民政府", "date_from": "2016-01-01"}).json()
    assert [r["doc_id"] for r in d["results"]] == ["jn-jzz-2019", "jn-laji-2018"]
    d = client.get("/api/search", params={"issuer": "济南市人民政府", "date_to": "2016-12-31"}).json()
    assert [r["doc_id"] for r in d["results"]] == ["jn-jzz-2015"]
    d = client.get("/api/search", params={"doc_type": "解读"}).json()
    assert [r["doc_id"] for r in d["results"]] == ["jn-jzz-jd"]
    d = client.get("/api/search", params={"region": "历城区"}).json()
    assert [r["doc_id"] for r in d["results"]] == ["lc-cydb-2023"]
    everything = client.get("/api/search", params={"page_size": 50}).json()
    assert everything["total"] == 6
    p1 = client.get("/api/search", params={"page_size": 4, "page": 1}).json()
    p2 = client.get("/api/search", params={"page_size": 4, "page": 2}).json()
    assert len(p1["results"]) == 4 and len(p2["results"]) == 2
    assert {r["doc_id"] for r in p1["results"] + p2["results"]} == {r["doc_id"] for r in everything["results"]}


# -- /api/documents ----------------------------------------------------------------
def test_document_shows_revisions_and_interpretations_both_ways(client):
    d = client.get("/api/documents/jn-jzz-2015").json()
    assert d["status"] == "superseded" and not d["in_force"]
    assert [v["doc_id"] for v in d["revisions"]] == ["jn-jzz-2015", "jn-jzz-2019"]
    assert d["revisions"][0]["superseded_by"] == "jn-jzz-2019" and d["revisions"][0]["is_this"]
    assert d["current_version"]["doc_id"] == "jn-jzz-2019"
    cur = client.get("/api/documents/jn-jzz-2019").json()
    assert [i["doc_id"] for i in cur["interpretations"]] == ["jn-jzz-jd"]
    labels = [h["label"] for h in cur["outline"]]
    assert labels[:4] == ["第一章 总则", "第一条", "第二章 申领", "第五条"]
    fifth = cur["outline"][3]
    assert cur["text"][fifth["start"] :].startswith("第五条")
    assert cur["sections"] and cur["sections"][0]["text"] in cur["text"]
    jd = client.get("/api/documents/jn-jzz-jd").json()
    assert jd["interprets"]["doc_id"] == "jn-jzz-2019"


def test_unknown_document_is_404_with_envelope(client):
    r = client.get("/api/documents/no-such-doc")
    assert r.status_code == 404 and r.json()["error"]["code"] == "DOCUMENT_NOT_FOUND"


# -- feedback, admin ---------------------------------------------------------------
def test_feedback_is_stored_and_exported_with_the_admin_key(client):
    a = ask(client, "创业担保贷款期限最长几年")
    r = client.post("/api/feedback", json={"answer_id": a["answer_id"], "useful": True, "comment": "很清楚"})
    assert r.status_code == 200
    assert client.get("/api/admin/feedback/export").status_code == 401
    assert client.get("/api/admin/feedback/export", headers={"X-API-Key": "wrong"}).status_code == 401
    r = client.get("/api/admin/feedback/export", headers=ADMIN)
    rows = [json.loads(line) for line in r.text.splitlines()]
    assert len(rows) == 1
    assert rows[0]["text"] == "创业担保贷款期限最长几年" and rows[0]["useful"] is True
    assert rows[0]["qrels"] == {"lc-cydb-2023": 1}


def test_feedback_on_unknown_answer_is_404(client):
    r = client.post("/api/feedback", json={"answer_id": "deadbeef", "useful": False})
    assert r.status_code == 404 and r.json()["error"]["code"] == "ANSWER_NOT_FOUND"


def test_admin_disabled_without_configured_key(tmp_path, policy_index):
    from fastapi.testclient import TestClient

    from qa_service.app import build_state, create_app
    from tests.qa_service.conftest import make_settings

    st = build_state(make_settings(tmp_path, admin_api_key=None), index=policy_index)
    with TestClient(create_app(state=st)) as c:
        r = c.get("/api/admin/faq", headers=ADMIN)
    assert r.status_code == 403 and r.json()["error"]["code"] == "ADMIN_DISABLED"
    assert "QA_ADMIN_API_KEY" in r.json()["error"]["message"]


def test_faq_crud_changes_what_ask_matches(client):
    q = "高龄津贴从几岁开始领？"
    assert ask(client, q)["source"] != "faq"
    r = client.post(
        "/api/admin/faq",
        headers=ADMIN,
        json={"question": q, "answer": "年满80周岁可以享受高龄津贴。", "doc_id": "sd-gljt-2022"},
    )
    assert r.status_code == 201
    faq_id = r.json()["id"]
    d = ask(client, "高龄津贴几岁开始领")
    assert d["source"] == "faq" and d["sentences"][0]["citation"]["doc_id"] == "sd-gljt-2022"
    assert client.delete(f"/api/admin/faq/{faq_id}", headers=ADMIN).status_code == 200
    assert ask(client, q)["source"] != "faq"
    assert client.delete(f"/api/admin/faq/{faq_id}", headers=ADMIN).status_code == 404


def test_ingest_new_version_swaps_index_and_links_revision(client, state):
    old_snapshot = state.snapshot()
    new = {
        "id": "lc-cydb-2025",
        "title": "历城区创业担保贷款实施细则",
        "doc_number": "历人社发〔2025〕2号",
        "issuer": "济南市历城区人力资源和社会保障局",
        "publish_date": "2025-02-01",
        "status": "current",
        "version_group": "lc-cydb",
        "supersedes": "lc-cydb-2023",
        "text": "第二条 个人创业担保贷款最高额度为50万元，贷款期限最长不超过3年。",
    }
    r = client.post("/api/admin/documents", headers=ADMIN, json={"documents": [new]})
    assert r.status_code == 200, r.text
    assert r.json()["linked"] == {"lc-cydb-2025": "lc-cydb-2023"}
    assert state.snapshot() is not old_snapshot
    # The snapshot a request in flight holds still answers from the old index.
    assert old_snapshot.index.get_document("lc-cydb-2025") is None
    d = client.get("/api/documents/lc-cydb-2025").json()
    assert [v["doc_id"] for v in d["revisions"]] == ["lc-cydb-2023", "lc-cydb-2025"]
    r = client.delete("/api/admin/documents/jn-laji-2018", headers=ADMIN)
    assert r.status_code == 200
    assert client.get("/api/documents/jn-laji-2018").json()["status"] == "expired"


# -- rate limit ----------------------------------------------------------------------
def test_rate_limit_answers_429_with_retry_after(limited_client):
    codes = [limited_client.get("/api/search", params={"q": "居住证"}).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    r = limited_client.post("/api/ask", json={"question": "居住证"})
    assert r.status_code == 429 and r.json()["error"]["code"] == "RATE_LIMITED"
    assert int(r.headers["Retry-After"]) >= 1 and "请求过于频繁" in r.json()["error"]["message"]


def test_pages_and_openapi_are_served(client):
    assert "/api/ask/stream" in client.get("/widget").text
    assert 'src="http://testserver/widget.js"' in client.get("/").text  # the demo portal embeds the widget
    assert "/api/agent/search" in client.get("/console").text
    spec = client.get("/openapi.json").json()
    assert {"/api/ask", "/api/search", "/api/documents/{doc_id}", "/api/feedback"} <= set(spec["paths"])


def test_internal_failure_is_an_enveloped_500_not_a_crash(client, state, monkeypatch, caplog):
    def broken(*_a, **_k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(state.store, "record_answer", broken)
    r = client.post("/api/ask", json={"question": "创业担保贷款额度"})
    assert r.status_code == 500 and r.json()["error"]["code"] == "INTERNAL_ERROR"
    assert "12345" in r.json()["error"]["message"]
    assert "disk full" in caplog.text  # logged for operators, not shown to residents
    assert "disk full" not in r.text
