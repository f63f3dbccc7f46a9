"""The review gate with a P(match) model: a document goes out alone only when its floor reaches the threshold."""

from __future__ import annotations

import numpy as np

from corpus.push.match_model import MATCH_FEATURES, MatchModel
from corpus.push.targeting import Jurisdiction, JurisdictionLevel, Targeting
from corpus.push.taxonomy import Audience
from qa_service.push.gate import ReviewPolicy

W = np.zeros(len(MATCH_FEATURES), np.float32)
W[MATCH_FEATURES.index("logit_shared")] = 1.0  # P(match) = p(the shared group)
MODEL = MatchModel(W, 0.0, auto_threshold=0.7)


def _labels(p_old: float, p_disabled: float, confidence: float | None = 0.99) -> Targeting:
    return Targeting(
        doc_id="d",
        audience=(Audience.RESIDENT,),
        jurisdiction=Jurisdiction(JurisdictionLevel.MUNICIPAL, "山东省", "济南市"),
        groups=("老年人", "残疾人"),
        evidence={"老年人": "年满七十周岁的老年人免费乘车", "残疾人": "持证残疾人免费乘车"},
        confidence=confidence,
        probabilities={
            "audience": {"resident": 0.9, "enterprise": 0.1},
            "groups": {"老年人": p_old, "残疾人": p_disabled},
        },
    )


def test_every_possible_pair_above_the_threshold_goes_out_alone() -> None:
    policy = ReviewPolicy(auto_threshold=0.9, min_profiles=200, match_model=MODEL)
    assert policy.reasons(_labels(0.9, 0.8), reach=5) == ()
    assert policy.hold("d", "v1", _labels(0.9, 0.8), 5) is None


def test_one_weak_group_holds_the_document_whatever_its_confidence() -> None:
    policy = ReviewPolicy(auto_threshold=0.9, min_profiles=200, match_model=MODEL)
    (why,) = policy.reasons(_labels(0.9, 0.5, confidence=0.99), reach=5)
    assert "匹配概率最低 0.50" in why and "0.70" in why
    review = policy.hold("d", "v1", _labels(0.9, 0.5), 5)
    assert review is not None and review.reasons == (why,)


def test_many_recipients_still_wait_and_rules_labels_fall_back_to_the_confidence() -> None:
    policy = ReviewPolicy(auto_threshold=0.9, min_profiles=3, match_model=MODEL)
    assert policy.reasons(_labels(0.9, 0.8), reach=3) == ("将推送给 3 位订阅用户（达到 3 人须人工审核）",)
    rules = Targeting(doc_id="r", audience=(Audience.RESIDENT,), topics=("教育",))  # no probabilities
    assert policy.reasons(rules, reach=1) == ("标注未经置信度校准（仅规则标注），须人工审核",)
    assert policy.reasons(rules, reach=0) == ()
