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
    # The list under "二、所需材料" as one unit, its title not glued to it (it ranks third today:
    # the eligibility sentence names 居住证, the list does not).
    said = pipeline.ask("居住证需要什么材料").sentences
    lists = [s for s in said if s.text.startswith("（一）居民身份证；（二）近期一寸白底彩色照片")]
    assert lists and lists[0].citation.doc_id == "demo-009", [s.text for s in said]
    assert "二、所需材料" in lists[0].citation.heading_path


def test_asked_for_the_standard_the_amount_sentence_is_among_the_first_two(pipeline):
    said = "".join(s.text for s in pipeline.ask("灵活就业人员社保补贴标准是多少").sentences[:2])
    assert "按实际缴费额的三分之二给予补贴" in said, said
