"""Profile suggestions (`corpus.push.suggest`) against the groups and topics residents ticked.

Each push-dev profile's free-text description goes through `suggest_interests` with the shipped
models; suggested groups and topics are scored, micro-averaged, against the profile's own
`groups` and `topics`. The profiles were never training data for either model. Reported: groups
P/R for every lexicon candidate (what is shown) and for those at or above the group model's
threshold; topics P/R for the topic model's 1-3 topics (with the encoder) and for the keyword rules.
On 2026-12-02 the keyword rules read descriptions better (topics P 0.877 / R 0.660) than the topic
model trained on policy texts (P 0.674 / R 0.598), so the service suggests the rules' topics.
"""

from __future__ import annotations

from typing import Any

from corpus.push.group_model import GroupModel
from corpus.push.profiles import Profile
from corpus.push.suggest import suggest_interests
from corpus.push.topics import TopicClassifier


def _prf(pred: list[set[str]], gold: list[set[str]]) -> dict[str, float]:
    tp = sum(len(p & g) for p, g in zip(pred, gold, strict=True))
    n_pred = sum(len(p) for p in pred)
    n_gold = sum(len(g) for g in gold)
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0, "suggested": n_pred,
            "ticked": n_gold}  # fmt: skip


def suggestion_metrics(
    profiles: list[Profile], groups: GroupModel | None, topics: TopicClassifier | None
) -> dict[str, Any]:
    with_text = [p for p in profiles if p.description.strip()]
    g_all, g_model, t_out, t_rules = [], [], [], []
    for p in with_text:
        gs, ts = suggest_interests(p.description, groups, topics)
        g_all.append({s.name for s in gs})
        threshold = groups.threshold if groups is not None else 0.0
        g_model.append({s.name for s in gs if s.probability >= threshold})
        t_out.append({s.name for s in ts})
        t_rules.append({s.name for s in suggest_interests(p.description, groups, None)[1]})
    return {
        "profiles": len(with_text),
        "groups_all_candidates": _prf(g_all, [set(p.groups) for p in with_text]),
        "groups_above_threshold": _prf(g_model, [set(p.groups) for p in with_text]),
        "topics": _prf(t_out, [set(p.topics) for p in with_text]),
        "topics_rules": _prf(t_rules, [set(p.topics) for p in with_text]),
        "topic_source": "topic model" if topics is not None else "keyword rules",
    }
