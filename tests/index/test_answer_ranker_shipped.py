"""The shipped sentence ranker (index/resources/answer_ranker.json) on the demo corpus with the real
encoder: a question of a type is answered by the sentences of that type (issue 10's widget cases)."""

from __future__ import annotations

import pytest

from corpus.library import link_documents
from corpus.loaders import load_corpus
from index.answer import AnswerConfig
from index.config import IndexConfig, SearchMode
from index.engine import PolicyIndex
from index.pipeline import build_pipeline

from ..conftest import REPO


@pytest.fixture(scope="module")
def pipeline(real_encoder):
    docs = list(link_documents(load_corpus(REPO / "corpus" / "demo" / "policies.jsonl")))
    idx = PolicyIndex.build(docs, IndexConfig(mode=SearchMode.HYBRID), real_encoder)
    pipe = build_pipeline(idx, AnswerConfig(threshold=0.0))
    assert pipe.answerer.ranker is not None, "the shipped ranker was trained with another encoder"
    return pipe


def test_asked_for_materials_the_answer_quotes_the_materials_list(pipeline):
    first = pipeline.ask("居住证需要什么材料").sentences[0]
    assert first.citation.doc_id == "demo-009"
    assert "居民身份证" in first.text and "照片" in first.text, first.text


@pytest.mark.parametrize(
    ("question", "words"),
    [
        ("灵活就业人员社保补贴标准是多少", ("三分之二",)),
        ("居住证办理要多久", ("15个工作日",)),
    ],
)
def test_the_sentence_of_the_asked_type_is_among_the_first_two(pipeline, question, words):
    said = "".join(s.text for s in pipeline.ask(question).sentences[:2])
    assert all(w in said for w in words), said
