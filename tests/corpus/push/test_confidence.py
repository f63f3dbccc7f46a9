"""The labels' confidence: features, JSON round trip, auto threshold and reliability table by hand."""

from __future__ import annotations

import numpy as np
import pytest

from corpus.push.confidence import (
    CONFIDENCE_FEATURES,
    ConfidenceModel,
    choose_auto_threshold,
    confidence_features,
    fit_confidence,
    reliability_table,
)
from corpus.push.targeting import Targeting
from corpus.push.taxonomy import Audience

K = len(CONFIDENCE_FEATURES)


@pytest.mark.parametrize(
    "kw, message",
    [({"weights": np.zeros(K + 1, np.float32)}, "weights must be"), ({"auto_threshold": 1.5}, "auto_threshold")],
)
def test_model_validation(kw: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ConfidenceModel(**{"weights": np.zeros(K, np.float32), "bias": 0.0, **kw})


def test_round_trip(tmp_path) -> None:
    m = ConfidenceModel(np.arange(K, dtype=np.float32) / 10, -0.3, 0.8, {"C": 0.1})
    m.save(tmp_path / "conf")
    back = ConfidenceModel.load(tmp_path / "conf")
    x = np.random.default_rng(0).normal(size=(4, K))
    np.testing.assert_allclose(back.predict(x), m.predict(x), rtol=1e-6)
    assert (back.auto_threshold, back.info) == (0.8, {"C": 0.1})


def test_features_of_a_sure_and_an_unsure_document() -> None:
    t = Targeting("d", (Audience.RESIDENT,), topics=("教育",))
    sure = dict(
        zip(
            CONFIDENCE_FEATURES,
            confidence_features(t, (0.99, 0.01), (("教育", 0.9),), (Audience.RESIDENT,), ("教育",)),
            strict=True,
        )
    )
    unsure = dict(zip(CONFIDENCE_FEATURES, confidence_features(t, (0.55, 0.45), (("教育", 0.4),)), strict=True))
    assert sure["audience_logp"] == pytest.approx(2 * np.log(0.99), rel=1e-5)
    assert sure["audience_margin"] == pytest.approx(0.98) and unsure["audience_margin"] == pytest.approx(0.1)
    assert (sure["audience_agrees"], sure["topics_agree"], unsure["audience_agrees"], unsure["topics_agree"]) == (
        1,
        1,
        0,
        0,
    )
    assert sure["national"] == 1 and sure["n_sides"] == 1


def test_auto_threshold_is_the_lowest_with_enough_precision() -> None:
    conf = np.array([0.9, 0.8, 0.7, 0.6])
    tp = np.array([10, 9, 5, 3])
    fp = np.array([0, 1, 0, 5])
    # >= 0.9: 10/10; >= 0.8: 19/20 = 0.95; >= 0.7: 24/25 = 0.96; >= 0.6: 27/33 = 0.82
    assert choose_auto_threshold(conf, tp, fp, 0.95) == 0.7
    assert choose_auto_threshold(conf, tp, fp, 0.99) == 0.9
    assert choose_auto_threshold(conf, np.zeros(4), np.ones(4), 0.5) == 1.0  # never precise enough: nothing


def test_reliability_table_and_single_class_fit() -> None:
    table = reliability_table(np.array([0.1, 0.15, 0.9, 0.95, 1.0]), np.array([0, 1, 1, 1, 0]), bins=5)
    assert [(r["bin"], r["n"], r["observed"]) for r in table] == [
        ([0.0, 0.2], 2, 0.5),
        ([0.8, 1.0], 3, pytest.approx(2 / 3)),
    ]
    m = fit_confidence(np.zeros((3, K)), np.ones(3))
    assert m.predict(np.zeros((1, K)))[0] == pytest.approx(3.5 / 4)
