"""The group model: candidates from the lexicon, clause + lead-in + heading features, the decision, the artifact."""

from __future__ import annotations

import re

import numpy as np
import pytest

from corpus.models import Document
from corpus.push.group_model import (
    GROUP_FEATURES,
    MENTION_FEATURES,
    GroupModel,
    candidate_features,
    candidates,
    fit_groups,
    mention_features,
)
from corpus.push.groups import GROUP_CUES
from corpus.push.labels import label_document
from corpus.push.learned import RESOURCES, shipped_group_model

# The benefit is in the lead-in, the group in a list item below it.
LEAD_IN = "第五条 下列人员免费乘坐市内公交车：\n（一）年满七十周岁的老年人；\n（二）持证残疾人。"
# The group only in a count: mentioned, not addressed.
NEWS = "本周新增外地来沪人员62例，均已隔离观察。"


def _feature(row: np.ndarray, name: str) -> float:
    return float(row[GROUP_FEATURES.index(name)])


def test_a_list_item_is_read_with_its_lead_in() -> None:
    hit = re.search(GROUP_CUES["老年人"], LEAD_IN)
    assert hit is not None
    f = dict(zip(MENTION_FEATURES, mention_features(LEAD_IN, hit, re.compile(GROUP_CUES["老年人"])), strict=True))
    assert f["in_item"] == 1.0 and f["leadin"] == 1.0 and f["leadin_benefit"] == 1.0  # 免费 is in the lead-in
    assert f["statistic"] == 0.0
    by_group = {c.group: c for c in candidates("", LEAD_IN)}
    assert set(by_group) == {"老年人", "残疾人"}
    assert by_group["老年人"].evidence in LEAD_IN  # verbatim
    assert _feature(by_group["老年人"].features, "g_老年人") == 1.0


def test_a_count_is_a_statistic_and_a_title_counts_without_mentions() -> None:
    (news,) = candidates("", NEWS)
    assert news.group == "外来务工与新市民" and _feature(news.features, "max_statistic") == 1.0
    title = "济南市高校毕业生就业见习管理办法"
    (titled,) = candidates(title, "第一条 高校毕业生参加就业见习的，享受见习补贴。")
    assert titled.group == "高校毕业生" and _feature(titled.features, "in_title") == 1.0
    assert candidates(title, "第一条 为规范就业见习，制定本办法。") == []  # nothing to quote from the text
    assert candidates("", "本办法自发布之日起施行。") == []


def test_fit_learns_a_separable_rule_and_the_decision_follows_the_threshold() -> None:
    docs = [Document(id=f"a{i}", title="", text=LEAD_IN) for i in range(6)]
    docs += [Document(id=f"n{i}", title="", text=NEWS) for i in range(6)]
    keys, x, quotes = candidate_features(docs)
    y = np.array([k[0].startswith("a") for k in keys], dtype=int)  # addressed in the list, not in the count
    model = fit_groups(x, y, c=1.0)
    p = model.predict_proba(x)
    assert p[y == 1].min() > 0.5 > p[y == 0].max()
    groups, evidence, probs = model.groups("", LEAD_IN)
    assert groups == ("老年人", "残疾人") and set(evidence) == set(groups)
    assert all(q in LEAD_IN for q in evidence.values())
    none = GroupModel(model.weights, model.bias, threshold=0.999999).groups("", NEWS)
    assert none[0] == () and set(none[2]) == {"外来务工与新市民"}


def test_save_load_round_trip_and_validation(tmp_path) -> None:
    m = GroupModel(np.arange(len(GROUP_FEATURES), dtype=np.float32) / 100, -0.5, 0.4, {"C": 0.1})
    m.save(tmp_path / "g")
    back = GroupModel.load(tmp_path / "g")
    assert np.allclose(back.weights, m.weights) and (back.bias, back.threshold) == (-0.5, 0.4)
    with pytest.raises(ValueError, match="weights must be"):
        GroupModel(np.zeros(3, np.float32), 0.0)
    with pytest.raises(ValueError, match="threshold"):
        GroupModel(np.zeros(len(GROUP_FEATURES), np.float32), 0.0, threshold=1.0)
    with pytest.raises(FileNotFoundError, match="group model"):
        GroupModel.load(tmp_path / "missing")
    with pytest.raises(ValueError, match=r"x must be"):
        fit_groups(np.zeros((2, 3)), np.zeros(2))


def test_shipped_model_loads_and_labels_with_verbatim_evidence() -> None:
    model = shipped_group_model(RESOURCES)
    assert model is not None and "train-groups" in model.info["rebuild"]
    doc = Document(id="d", title="济南市老年人乘车优待办法", text=LEAD_IN)

    class Hook:
        def predict(self, d: Document) -> tuple[tuple[str, ...], dict[str, str]]:
            g, e, _ = model.groups(d.title, d.text)
            return g, e

    t = label_document(doc, today="2026-11-29", group_predictor=Hook())
    assert "老年人" in t.groups  # named in the title and given a benefit by the lead-in
    assert all(t.evidence[g] in doc.text for g in t.groups)
