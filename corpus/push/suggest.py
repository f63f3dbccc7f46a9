"""Groups and topics a subscriber's free-text self-description suggests, for the resident to confirm.

The same models that read policies read the description: the group lexicon proposes every group
it names (`corpus.push.group_model.candidates`), each with the group model's probability and the
words that named it; the topic model (`corpus.push.topics.TopicClassifier`, when the e5 encoder
is there; else the keyword rules) gives 1-3 topics with their probability. Nothing is added to a
profile: the caller shows these as suggestions and the resident ticks what applies.

Group suggestions are every lexicon candidate, not only those above the model's threshold: the
model was trained on policy texts, where a group must be addressed, while a description that
names a group at all is the resident saying they belong to it. Measured against the 48 push-dev
profiles' ticked groups and topics by `eval.push_suggest`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from corpus.models import Document
from corpus.push.group_model import GroupModel, candidates
from corpus.push.groups import GROUP_CUES
from corpus.push.taxonomy import GROUPS
from corpus.push.topic_rules import rule_topics
from corpus.push.topics import TopicClassifier

__all__ = ["Suggestion", "suggest_interests", "MAX_DESCRIPTION_CHARS"]

MAX_DESCRIPTION_CHARS = 500
RULE_TOPIC_PROBABILITY = 0.5  # keyword rules give no probability: shown as "maybe"


@dataclass(frozen=True)
class Suggestion:
    """One suggested group or topic: its probability and the words of the description behind it."""

    kind: str  # "group" or "topic"
    name: str
    probability: float
    evidence: str = ""

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "name": self.name, "probability": round(self.probability, 3),
                "evidence": self.evidence}  # fmt: skip


def _as_document(description: str) -> Document:
    return Document(id="profile-description", title=description[:60], text=description)


def suggest_interests(
    description: str, groups: GroupModel | None = None, topics: TopicClassifier | None = None
) -> tuple[list[Suggestion], list[Suggestion]]:
    """(group suggestions, topic suggestions), each by falling probability. ValueError on an empty or
    over-long description."""
    text = (description or "").strip()
    if not text:
        raise ValueError("description must not be empty")
    if len(text) > MAX_DESCRIPTION_CHARS:
        raise ValueError(f"description must be at most {MAX_DESCRIPTION_CHARS} characters, got {len(text)}")
    cands = candidates("", text)
    probs = (
        dict(zip((c.group for c in cands), groups.predict_proba([c.features for c in cands]).tolist(), strict=True))
        if groups is not None and cands
        else {c.group: 1.0 for c in cands}
    )
    group_out = []
    for c in cands:
        hit = re.search(GROUP_CUES[c.group], text)
        group_out.append(Suggestion("group", c.group, float(probs[c.group]), hit.group(0) if hit else ""))
    group_out.sort(key=lambda s: (-s.probability, GROUPS.index(s.name)))
    if topics is not None:
        scored = topics.predict_scored(_as_document(text))
        topic_out = [Suggestion("topic", t, float(p)) for t, p in scored]
    else:
        topic_out = [Suggestion("topic", t, RULE_TOPIC_PROBABILITY) for t in rule_topics(text[:60], text)]
    topic_out.sort(key=lambda s: -s.probability)
    return group_out, topic_out
