"""index/answer_model.py: the gradient-boosted sentence ranker shipped as JSON and scored in numpy."""

from __future__ import annotations

import json

import numpy as np
import pytest

from index.answer_model import TreeModel, fit_trees, load_model, model_from_json


def _rows(n: int, seed: int = 0) -> tuple[list[dict[str, float]], list[int]]:
    rng = np.random.default_rng(seed)
    rows, labels = [], []
    for _ in range(n):
        r = {"cov": float(rng.random()), "head_type": float(rng.random() < 0.3), "length": float(rng.random())}
        rows.append(r)
        labels.append(int(r["cov"] + 0.6 * r["head_type"] + 0.2 * rng.standard_normal() > 0.9))
    return rows, labels


@pytest.mark.parametrize("objective", ["lambdarank", "binary"])
def test_trees_read_back_from_json_score_as_lightgbm_does(tmp_path, objective):
    import lightgbm as lgb

    rows, labels = _rows(600)
    model = fit_trees(rows, labels, [20] * 30, ("cov", "head_type", "length"), objective=objective, rounds=40)
    model.save(tmp_path / "r.json")
    back = load_model(tmp_path / "r.json", "unused")
    assert isinstance(back, TreeModel) and back.features == ("cov", "head_type", "length")
    test, _ = _rows(50, seed=1)
    x = np.asarray([[r["cov"], r["head_type"], r["length"]] for r in test])
    raw = lgb.Booster(model_str=model.model_text).predict(x, raw_score=True)
    np.testing.assert_allclose(back.raw_many(test), raw, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(back.prob_many(test), 1 / (1 + np.exp(-raw)), rtol=1e-9)
    # What it learned: the asked type's title lifts a sentence with the same coverage.
    lo, hi = back.prob_many([{"cov": 0.5, "head_type": 0.0}, {"cov": 0.5, "head_type": 1.0}])
    assert hi > lo


def test_an_unknown_model_kind_is_refused():
    with pytest.raises(ValueError, match="unknown answer model kind"):
        model_from_json(json.loads('{"kind": "pickle", "features": []}'))
