"""The shipped demo corpus and FAQ (corpus/demo) served as `make serve` serves them, with a fake encoder."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from corpus.loaders import load_corpus
from index.config import IndexConfig
from index.engine import PolicyIndex
from qa_service.app import build_state, create_app
from qa_service.settings import Settings
from tests.qa_service.conftest import fake_encoder, make_settings

DEMO = Settings().corpus_path  # the default corpus: corpus/demo/policies.jsonl in the package


@pytest.fixture(scope="module")
def demo_index() -> PolicyIndex:
    return PolicyIndex.build(load_corpus(DEMO), IndexConfig(), fake_encoder())


@pytest.fixture
def demo(tmp_path, demo_index):
    settings = make_settings(tmp_path, faq_path=Settings().faq_path)
    with TestClient(create_app(state=build_state(settings, index=demo_index))) as c:
        yield c


def test_demo_question_is_answered_from_the_right_document(demo):
    d = demo.post("/api/ask", json={"question": "困难群众临时救助的标准是什么"}).json()
    assert not d["abstained"] and d["source"] == "extractive"
    assert d["sentences"][0]["citation"]["doc_id"] == "demo-011"
    assert d["sentences"][0]["citation"]["doc_number"] == "济历城民发〔2024〕12号"


def test_demo_faq_is_matched_first(demo):
    d = demo.post("/api/ask", json={"question": "办居住证要带哪些材料？"}).json()
    assert d["source"] == "faq" and d["answer"].startswith("居民身份证")
    assert d["sentences"][0]["citation"]["doc_id"] == "demo-009"


def test_demo_revision_chain_and_interpretation(demo):
    old = demo.get("/api/documents/demo-001").json()
    assert old["status"] == "superseded" and old["current_version"]["doc_id"] == "demo-002"
    new = demo.get("/api/documents/demo-002").json()
    assert [v["doc_id"] for v in new["revisions"]] == ["demo-001", "demo-002"]
    assert "demo-003" in [i["doc_id"] for i in new["interpretations"]]
    assert demo.get("/api/documents/demo-003").json()["interprets"]["doc_id"] == "demo-002"


def test_demo_doc_number_lookup(demo):
    d = demo.get("/api/search", params={"q": "济历城政办字〔2025〕13号"}).json()
    assert d["direct"] and d["results"][0]["doc_id"] == "demo-002"


@pytest.mark.parametrize("q", ["今天天气怎么样", "你好"])
def test_demo_abstains_on_chit_chat(demo, q):
    d = demo.post("/api/ask", json={"question": q}).json()
    assert d["abstained"] and "12345" in d["answer"]
