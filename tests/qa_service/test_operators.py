"""Operators' use cases without a browser: grouping the questions the service could not answer, feedback
reasons and the BEIR export, the facets behind the console's pickers, JSON log lines with a request id."""

from __future__ import annotations

import io
import json
import logging
import sqlite3

import pytest

from qa_service.logs import JsonFormatter
from qa_service.operators import beir_qrels, beir_queries, group_questions
from qa_service.store import AnswerRecord, Store
from tests.qa_service.conftest import ADMIN_KEY, DOCS

ADMIN = {"X-API-Key": ADMIN_KEY}


def chars(text: str) -> list[str]:
    return list(text)  # a tokenizer that keeps every character: the grouping works on characters anyway


def row(q: str, t: float, abstained: bool = True, docs: tuple[str, ...] = ()) -> dict:
    return {"question": q, "created": t, "abstained": abstained, "cited_doc_ids": list(docs)}


def test_wordings_of_one_question_are_one_group_counted_and_the_most_frequent_wording_names_it():
    rows = [
        row("猫咪怎么养", 5),
        row("怎么养猫", 4),
        row("怎么养猫", 3, abstained=False, docs=("d1",)),
        row("公交卡在哪里办", 2),
        row("怎么养猫", 1),
    ]
    groups = group_questions(rows, chars)
    # {猫,咪,养} and {养,猫} share 2 of 3 characters (>= 0.5); 公交卡 shares none.
    assert [(g.question, g.count, g.abstained) for g in groups] == [("怎么养猫", 4, 3), ("公交卡在哪里办", 1, 1)]
    assert groups[0].as_dict()["examples"] == ["猫咪怎么养", "怎么养猫"]
    assert groups[0].as_dict()["low_confidence"] == 1 and groups[0].as_dict()["doc_ids"] == ["d1"]


def test_questions_about_different_things_stay_apart():
    groups = group_questions([row("居住证需要什么材料", 2), row("居住证工本费多少钱", 1)], chars)
    assert len(groups) == 2  # 居住证 + 材料 vs 居住证 + 工本费: 3 of 8 characters in common


def test_beir_export_has_one_query_per_judged_feedback_and_its_qrels():
    rows = [
        {"_id": "fb-1", "text": "居住证怎么办", "qrels": {"a": 1, "b": 1}},
        {"_id": "fb-2", "text": "没有出处的回答", "qrels": {}},
        {"_id": "fb-3", "text": "垃圾分类", "qrels": {"c": 0}},
    ]
    assert beir_queries(rows).splitlines() == [
        '{"_id": "fb-1", "text": "居住证怎么办"}',
        '{"_id": "fb-3", "text": "垃圾分类"}',
    ]
    assert beir_qrels(rows).splitlines() == ["query-id\tcorpus-id\tscore", "fb-1\ta\t1", "fb-1\tb\t1", "fb-3\tc\t0"]


def test_feedback_keeps_its_reason_and_an_older_database_gains_the_column(tmp_path):
    path = tmp_path / "qa.sqlite3"
    db = sqlite3.connect(path)  # the feedback table as it was before reasons
    db.executescript(
        "CREATE TABLE feedback (id INTEGER PRIMARY KEY AUTOINCREMENT, answer_id TEXT NOT NULL, created REAL NOT NULL,"
        " useful INTEGER NOT NULL, comment TEXT);"
    )
    db.close()
    store = Store(path)
    store.record_answer(AnswerRecord("a" * 32, None, "居住证怎么办", "居住证怎么办", False, 0.9, "extractive", ("d1",)))
    store.add_feedback("a" * 32, False, "电话 13912345678", "outdated")
    store.add_feedback("a" * 32, True, None)
    [row_] = list(store.export_feedback(useful=False))
    assert row_["reason"] == "outdated" and "13912345678" not in row_["comment"]
    assert [r["reason"] for r in store.export_feedback()] == ["outdated", None]
    assert list(store.export_feedback(reason="other")) == []
    store.close()


def test_the_api_takes_a_reason_refuses_an_unknown_one_and_lists_the_weak_questions(client):
    answered = client.post("/api/ask", json={"question": "居住证申领需要什么材料"}).json()
    assert not answered["abstained"]
    for q in ("怎么养猫", "猫咪怎么养"):
        assert client.post("/api/ask", json={"question": q}).json()["abstained"]
    ok = client.post("/api/feedback", json={"answer_id": answered["answer_id"], "useful": False, "reason": "outdated"})
    assert ok.status_code == 200
    bad = client.post("/api/feedback", json={"answer_id": answered["answer_id"], "useful": False, "reason": "坏"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "INVALID_REQUEST"
    listed = client.get("/api/admin/feedback", params={"reason": "outdated"}, headers=ADMIN).json()
    assert listed["total"] == 1 and listed["feedback"][0]["reason"] == "outdated"
    assert listed["reasons"]["wrong_citation"] == "引用错误"
    weak = client.get("/api/admin/questions/unanswered", headers=ADMIN).json()
    assert [(g["count"], g["abstained"]) for g in weak["groups"]] == [(2, 2)]
    assert weak["groups"][0]["question"] in ("怎么养猫", "猫咪怎么养")
    assert client.get("/api/admin/questions/unanswered").status_code == 401
    qrels = client.get("/api/admin/feedback/export/qrels.tsv", headers=ADMIN)
    assert qrels.text.splitlines()[1:] == [f"fb-1\t{d}\t0" for d in dict.fromkeys(answered_docs(answered))]


def answered_docs(resp: dict) -> list[str]:
    return [s["citation"]["doc_id"] for s in resp["sentences"]]


def test_facets_count_every_served_document_per_value(client):
    f = client.get("/api/search/facets").json()
    assert {v["value"]: v["count"] for v in f["status"]} == {"current": 4, "expired": 1, "superseded": 1}
    assert [v["label"] for v in f["status"]] == ["现行有效", "已废止", "已修订"]
    assert f["issuer"][0] == {"value": "济南市人民政府", "label": "济南市人民政府", "count": 2}
    assert sum(v["count"] for v in f["doc_type"]) == sum(1 for d in DOCS if d.doc_type)
    assert {v["value"] for v in f["topic"]} == {t for d in DOCS for t in d.topics}


def test_search_results_open_the_reader_at_their_passage_and_say_how_long_they_took(client):
    r = client.get("/api/search", params={"q": "居住证 材料"}).json()
    top = r["results"][0]
    assert top["reader_url"] == f"/documents/{top['doc_id']}#passage-{top['passage_id'].replace('#', '%23')}"
    assert r["took_ms"] >= 0


@pytest.fixture
def json_log():
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("qa_service")
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.INFO)
    yield out
    logger.removeHandler(handler)
    logger.setLevel(old)


def test_json_log_lines_carry_the_request_id_and_no_contact_details(client, json_log):
    r = client.get("/api/documents/call-13912345678")
    assert r.status_code == 404
    rid = r.headers["x-request-id"]
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    access = [x for x in lines if x["logger"] == "qa_service.access"]
    assert len(access) == 1 and access[0]["request_id"] == rid
    assert access[0]["status"] == 404 and access[0]["route"] == "/api/documents/{doc_id:path}"
    assert access[0]["method"] == "GET" and access[0]["duration_ms"] >= 0
    assert "13912345678" not in json_log.getvalue()
    # A proxy's request id is kept; a malformed one is replaced.
    assert (
        client.get("/healthz", headers={"X-Request-ID": "edge-0123456789"}).headers["x-request-id"] == "edge-0123456789"
    )
    assert client.get("/healthz", headers={"X-Request-ID": "bad id;drop"}).headers["x-request-id"] != "bad id;drop"
