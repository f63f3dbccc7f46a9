"""Profile suggestions from a self-description: lexicon candidates with the group model's probability, topics."""

from __future__ import annotations

import pytest

from corpus.push.learned import RESOURCES, shipped_group_model
from corpus.push.suggest import MAX_DESCRIPTION_CHARS, suggest_interests
from corpus.push.taxonomy import GROUPS, TOPICS

STUDENT = "我是山东大学的应届高校毕业生，明年六月毕业，想了解就业补贴和创业担保贷款。"


def test_groups_named_in_the_description_are_suggested_with_the_words_behind_them() -> None:
    groups, topics = suggest_interests(STUDENT, shipped_group_model(RESOURCES))
    names = [s.name for s in groups]
    assert "高校毕业生" in names
    top = next(s for s in groups if s.name == "高校毕业生")
    assert top.evidence in STUDENT and 0.0 <= top.probability <= 1.0
    assert [s.probability for s in groups] == sorted((s.probability for s in groups), reverse=True)
    assert set(names) <= set(GROUPS)
    assert "就业创业" in [s.name for s in topics] and {s.name for s in topics} <= set(TOPICS)  # keyword rules
    assert all(s.kind == "topic" for s in topics) and all(s.kind == "group" for s in groups)


def test_nothing_named_nothing_suggested() -> None:
    groups, _ = suggest_interests("我喜欢爬山和看电影。", shipped_group_model(RESOURCES))
    assert groups == []


@pytest.mark.parametrize("bad", ["", "   ", "长" * (MAX_DESCRIPTION_CHARS + 1)])
def test_empty_or_long_description_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="description"):
        suggest_interests(bad)


def test_on_push_dev_profiles_suggestions_mostly_agree_with_what_residents_ticked(shared_dir) -> None:
    """2026-12-02: groups P 0.88 / R 0.66 over every lexicon candidate, keyword topics P 0.88 / R 0.66."""
    from eval.push import load_push_set
    from eval.push_suggest import suggestion_metrics

    data = load_push_set(shared_dir / "data" / "eval" / "push-dev" / "doc_labels.jsonl")
    m = suggestion_metrics(data.profiles, shipped_group_model(RESOURCES), None)
    assert m["profiles"] == 48
    assert m["groups_all_candidates"]["precision"] >= 0.8 and m["groups_all_candidates"]["recall"] >= 0.6
    assert m["topics"]["precision"] >= 0.8 and m["topics"]["recall"] >= 0.6
