"""P(match): pair features from the fields' probabilities, the floor the review gate reads, threshold, artifact."""

from __future__ import annotations

import math

import numpy as np
import pytest

from corpus.push.match_model import (
    MATCH_FEATURES,
    MatchModel,
    choose_threshold,
    fit_match_model,
    pair_features,
)
from corpus.push.matching import match
from corpus.push.profiles import Profile
from corpus.push.targeting import Jurisdiction, JurisdictionLevel, Targeting
from corpus.push.taxonomy import Audience

JINAN = Jurisdiction(JurisdictionLevel.MUNICIPAL, "山东省", "济南市")
T = Targeting(
    doc_id="d",
    audience=(Audience.RESIDENT,),
    jurisdiction=JINAN,
    groups=("老年人", "残疾人"),
    evidence={"老年人": "年满七十周岁的老年人免费乘车", "残疾人": "持证残疾人免费乘车"},
    topics=("交通出行",),
    probabilities={"audience": {"resident": 0.9, "enterprise": 0.2}, "groups": {"老年人": 0.8, "残疾人": 0.5}},
)
OLD = Profile("p1", Audience.RESIDENT, "山东省", "济南市", groups=("老年人",))
BOTH = Profile("p2", Audience.RESIDENT, "山东省", "济南市", groups=("老年人", "残疾人"))


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def test_pair_features_read_the_probabilities_of_what_the_pair_shares() -> None:
    reason = match(OLD, T)
    assert reason is not None
    f = dict(zip(MATCH_FEATURES, pair_features("resident", reason, T), strict=True))
    assert f["logit_kind"] == pytest.approx(_logit(0.9), abs=1e-5)
    assert f["logit_shared"] == pytest.approx(_logit(0.8), abs=1e-5)
    assert (f["via_group"], f["n_shared"], f["national"]) == (1.0, 1.0, 0.0)
    both = match(BOTH, T)
    assert both is not None
    # sharing both groups: 1 - (1 - 0.8)(1 - 0.5) = 0.9
    assert pair_features("resident", both, T)[MATCH_FEATURES.index("logit_shared")] == pytest.approx(_logit(0.9))


def test_probability_and_floor() -> None:
    w = np.zeros(len(MATCH_FEATURES), np.float32)
    w[MATCH_FEATURES.index("logit_shared")] = 1.0  # P(match) = p(shared groups)
    m = MatchModel(w, 0.0, auto_threshold=0.7)
    assert m.probability(OLD, T) == pytest.approx(0.8, abs=1e-4)
    assert m.probability(Profile("e", Audience.ENTERPRISE, "山东省", "济南市", groups=("老年人",)), T) is None
    # a profile sharing only 残疾人 would get 0.5: the document's floor, below the threshold
    assert m.floor(T) == pytest.approx(0.5, abs=1e-4)
    assert m.floor(Targeting(doc_id="x")) is None  # reaches nobody


def test_fit_and_choose_threshold() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, len(MATCH_FEATURES))).astype(np.float32)
    y = (x[:, 2] > 0).astype(int)  # gold exactly when the shared probability is high
    m = fit_match_model(x, y, c=1.0)
    p = m.predict(x)
    assert ((p >= 0.5) == (y == 1)).mean() > 0.95
    t = choose_threshold(p, y, 0.95)
    assert y[p >= t].mean() >= 0.95 and t < 1.0
    assert choose_threshold(np.array([0.9, 0.8]), np.array([0, 0])) == 1.0  # nothing reaches 95 %


def test_save_load_and_validation(tmp_path) -> None:
    m = MatchModel(np.ones(len(MATCH_FEATURES), np.float32), -1.0, 0.8, {"C": 0.3})
    back = MatchModel.load(m.save(tmp_path / "m").with_suffix(""))
    assert np.allclose(back.weights, m.weights) and (back.bias, back.auto_threshold) == (-1.0, 0.8)
    with pytest.raises(ValueError, match="weights must be"):
        MatchModel(np.zeros(2, np.float32), 0.0)
    with pytest.raises(ValueError, match="auto_threshold"):
        MatchModel(np.zeros(len(MATCH_FEATURES), np.float32), 0.0, 1.5)
    with pytest.raises(FileNotFoundError, match="match model"):
        MatchModel.load(tmp_path / "none")


def test_probabilities_survive_the_dict_round_trip() -> None:
    back = Targeting.from_dict(T.to_dict())
    assert back.probabilities == T.probabilities and back == T
