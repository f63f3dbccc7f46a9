"""index/abstention.py: support features, the calibrated model's artifact, the decision and the
closest documents on abstention (hybrid index with the deterministic fake encoder)."""

from __future__ import annotations

import math

import pytest

from corpus.models import Document, Passage, Status
from index import abstention
from index.abstention import FEATURES, abstains, closest_documents, support_probability, with_platt
from index.answer import AnswerConfig, Answerer
from index.answer_model import LogisticModel, load_model
from index.config import IndexConfig, SearchMode
from index.encoders import FakeEncoder
from index.engine import PolicyIndex
from index.pipeline import build_pipeline
from index.types import Hit

DOCS = [
    Document(
        id="rent",
        title="历城区高校毕业生租房补贴办法",
        publish_date="2024-03-01",
        status=Status.CURRENT,
        text="第一条 为吸引高校毕业生来历城区就业，制定本办法。\n"
        "第二条 在区内就业且本人在济南市无自有住房的毕业生，每月发放租房补贴800元，最长发放36个月。\n"
        "第三条 申请人应当通过历城区人才服务平台提交申请。",
    ),
    Document(
        id="gzf",
        title="历城区公共租赁住房保障办法",
        publish_date="2023-06-01",
        status=Status.CURRENT,
        text="第五条 申请公共租赁住房的家庭，人均收入应低于上年度城镇居民人均可支配收入。\n"
        "第九条 公共租赁住房租金按市场租金的60%确定。",
    ),
    Document(
        id="water",
        title="济南市城市供水条例",
        publish_date="2020-05-01",
        status=Status.CURRENT,
        text="第十条 供水企业应当保证城市供水水质符合国家标准。\n第十一条 禁止擅自在公共供水管道上加压。",
    ),
]


@pytest.fixture(scope="module")
def index() -> PolicyIndex:
    return PolicyIndex.build(DOCS, IndexConfig(mode=SearchMode.HYBRID), FakeEncoder(dim=64))


def _model(**coef: float) -> LogisticModel:
    names = tuple(coef)
    return LogisticModel(names, (0.0,) * len(names), (1.0,) * len(names), tuple(coef.values()), 0.0)


def test_platt_folded_into_the_weights_round_trips_through_json(tmp_path):
    base = LogisticModel(("rule_conf", "dense"), (0.5, 0.8), (0.2, 0.05), (2.0, 1.0), -0.3)
    cal = with_platt(base, 0.7, 0.4)
    x = {"rule_conf": 0.62, "dense": 0.86}
    assert cal.prob(x) == pytest.approx(1 / (1 + math.exp(-(0.7 * base.logit(x) + 0.4))))
    path = tmp_path / "abstention.json"
    LogisticModel(cal.features, cal.mean, cal.scale, cal.coef, cal.intercept, 0.37, cal.meta).save(path)
    back = load_model(path, "unused")
    assert back.threshold == 0.37 and back.meta["platt"] == [0.7, 0.4]
    assert back.prob(x) == pytest.approx(cal.prob(x))


def test_shipped_artifact_is_a_calibrated_model_with_its_out_of_fold_threshold():
    shipped = load_model(None, abstention.ABSTENTION_RESOURCE)
    assert shipped is not None, "index/resources/abstention.json is rebuilt by `make answer-models`"
    assert set(shipped.features) <= set(FEATURES) and 0.0 < shipped.threshold < 1.0
    assert "platt" in shipped.meta and shipped.meta["command"].startswith("make answer-models")


def test_probability_is_monotonic_in_a_feature_with_positive_weight():
    model = _model(rule_conf=3.0, subject_missing=-2.0)
    probs = [support_probability({"rule_conf": r}, model) for r in (0.1, 0.3, 0.5, 0.7, 0.9)]
    assert probs == sorted(probs) and probs[0] < probs[-1]
    assert support_probability({"rule_conf": 0.7, "subject_missing": 1.0}, model) < probs[3]
    # Without a model the rule confidence is the probability.
    assert support_probability({"rule_conf": 0.42}, None) == 0.42


def test_rule_confidence_rises_with_the_embedding_closeness():
    p = Passage("rent#0", "rent", 0, "每月发放租房补贴800元", 0, 13, "历城区高校毕业生租房补贴办法")
    terms = {"租房": 5.0, "补贴": 3.0}
    cfg = AnswerConfig()
    confs = [
        abstention.rule_confidence([Hit(p, 1.0, {"dense": cos})], terms, 10.0, cfg)[0] for cos in (0.7, 0.85, 0.95)
    ]
    assert confs[0] < confs[1] < confs[2]


def test_decision_at_the_threshold():
    assert not abstains(0.5, 0.5, True), "at the threshold the answer is given"
    assert abstains(0.4999, 0.5, True)
    assert abstains(0.99, 0.5, False), "nothing to quote: always abstain"


def test_answerer_abstains_exactly_below_the_models_threshold(index):
    q = "高校毕业生租房补贴每月多少"
    probe = Answerer(index, AnswerConfig(threshold=0.0), term_weights=index.idf, support=_model(rule_conf=4.0))
    a = probe.answer(q)
    assert not a.abstained and set(FEATURES) <= set(a.signals)
    p = a.confidence
    at = Answerer(index, AnswerConfig(threshold=p), term_weights=index.idf, support=_model(rule_conf=4.0))
    above = Answerer(
        index, AnswerConfig(threshold=min(p + 0.01, 1.0)), term_weights=index.idf, support=_model(rule_conf=4.0)
    )
    assert not at.answer(q).abstained and above.answer(q).abstained
    # The model's own threshold applies when the config leaves it unset.
    model = LogisticModel(("rule_conf",), (0.0,), (1.0,), (4.0,), 0.0, threshold=min(p + 0.01, 1.0))
    assert Answerer(index, AnswerConfig(), term_weights=index.idf, support=model).answer(q).abstained


def test_on_topic_question_is_more_supported_than_an_off_topic_one(index):
    ans = Answerer(index, AnswerConfig(threshold=0.0), term_weights=index.idf)
    on = ans.answer("高校毕业生租房补贴最长发放多少个月")
    off = ans.answer("宠物疫苗多少钱")
    assert on.signals["subject_in_answer"] == 1.0
    assert off.abstained or off.confidence < on.confidence
    assert on.signals["dense"] > 0.0, "hybrid search reports the embedding cosine"


def test_closest_documents_are_only_those_about_the_subject(index):
    # 公共租赁住房 is the question's most specific topic word: the rent subsidy and water documents
    # share 租/住房/办法 with it but are not about it.
    terms = {"公共租赁住房": 8.0, "租金": 4.0, "办法": 0.5}
    hits = index.search("公共租赁住房租金怎么算 租房补贴 供水", top_k=10)
    assert {h.doc_id for h in hits} >= {"gzf", "rent"}
    got = closest_documents(hits, terms)
    assert [h.doc_id for h in got] == ["gzf"]
    # No topic word found anywhere: nothing restricts, one hit per document, at most `limit`.
    loose = closest_documents(hits, {"怎么": 1.0}, limit=2)
    assert len(loose) == 2 and len({h.doc_id for h in loose}) == 2


def test_abstention_offers_the_hotline_and_subject_documents(index):
    pipe = build_pipeline(index, AnswerConfig(threshold=1.0), learned=False)
    a = pipe.ask("公共租赁住房租金怎么算")
    assert a.abstained and a.hotline_href == "tel:12345" and "12345" in a.text
    assert [s.doc_id for s in a.suggestions] == ["gzf"]
