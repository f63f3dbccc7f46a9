"""index/query_terms.py: abbreviations (one test per entry), question and sentence types."""

from __future__ import annotations

import json

import pytest

from corpus.models import Document, Status
from index.config import IndexConfig, SearchMode
from index.engine import PolicyIndex
from index.query_terms import abbreviations, expand_terms, expansions_in, question_types, sentence_types
from index.tokenize import Tokenizer

ENTRIES = sorted(abbreviations().items())


@pytest.mark.parametrize(("term", "expansions"), ENTRIES, ids=[t for t, _ in ENTRIES])
def test_the_colloquial_form_finds_a_document_that_only_uses_the_formal_one(term, expansions):
    formal = expansions[0]
    docs = [
        Document(
            id="hit", title=f"关于{formal}的实施办法", status=Status.CURRENT, text=f"{formal}的申请按本办法执行。"
        ),
        Document(id="other", title="城市供水管理办法", status=Status.CURRENT, text="供水企业应当保证水质。"),
    ]
    idx = PolicyIndex.build(docs, IndexConfig(mode=SearchMode.BM25))
    assert term not in docs[0].text
    hits = idx.search(f"{term}怎么申请")
    assert hits and hits[0].doc_id == "hit"


@pytest.mark.parametrize(("term", "expansions"), ENTRIES, ids=[t for t, _ in ENTRIES])
def test_every_expansion_is_used_by_the_policy_corpus(term, expansions, shared_dir):
    corpus = (shared_dir / "data" / "corpus" / "policies.jsonl").read_text(encoding="utf-8")
    assert any(e in corpus for e in expansions), f"{term}: none of {expansions} occurs in the corpus"


def test_expansion_adds_tokens_once_and_leaves_plain_queries_alone():
    tok = Tokenizer().tokenize
    base = tok("公租房怎么申请")
    out = expand_terms("公租房怎么申请", base, tok)
    assert out[: len(base)] == base and len(out) == len(set(out)) and "租赁" in out
    assert expand_terms("居住证怎么办", tok("居住证怎么办"), tok) == tok("居住证怎么办")
    assert expansions_in("公共租赁住房和公租房") == []  # already says the formal form


def test_resource_entries_are_well_formed():
    from importlib import resources

    raw = json.loads((resources.files("index") / "resources" / "abbreviations.json").read_text(encoding="utf-8"))
    terms = [e["term"] for e in raw["entries"]]
    assert len(terms) == len(set(terms))
    assert all(e["term"] not in x for e in raw["entries"] for x in e["expansions"])


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("居住证需要什么材料", "材料"),
        ("申请公租房需要什么条件", "条件"),
        ("多长时间能办好", "时限"),
        ("养老服务补贴的标准是多少", "金额"),
        ("在哪里办理", "地点"),
        ("怎么申请创业担保贷款", "流程"),
    ],
)
def test_question_types(question, kind):
    assert kind in question_types(question)


def test_sentence_types():
    assert "材料" in sentence_types("申请人应当提交身份证原件及复印件。")
    assert "金额" in sentence_types("每人每月补贴800元。")
    assert "金额" not in sentence_types("现印发给你们，请认真贯彻落实。")
