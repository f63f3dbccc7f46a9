"""The learned push labeller: rules plus the shipped topic, audience and confidence models, one encoding per document.

`LearnedLabeller(doc)` embeds the document once (`corpus.push.topics.embedding_features`), feeds
the topic model (`push_topics`) and the audience model (`push_audience`), decides the lexicon's
candidate groups with the group model (`push_groups`, no encoder needed), labels the document
with `corpus.push.labels.label_document` using them, records the fields' probabilities
(`Targeting.probabilities`, read by `corpus.push.match_model` for P(match)) and sets
`Targeting.confidence` from the confidence model (`push_confidence`). The models record the
encoder they were trained with;
`learned_labeller(encoder)` returns None when that is not the given encoder (or the artifacts
are missing), so callers fall back to the rules (`label_document`) and no encoder is ever needed.

Rebuild the artifacts in corpus/resources/ with `python -m eval push train-topics …`,
`python -m eval push train-groups …` and then `python -m eval push train-audience …` (which also
writes `push_confidence.json` and `push_match.json`; each JSON records its exact command).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from pathlib import Path
from typing import Any

import numpy as np

from corpus.models import Document
from corpus.push.audience_model import AudienceModel, audience_features
from corpus.push.confidence import ConfidenceModel, confidence_features, rule_view
from corpus.push.group_model import GroupModel
from corpus.push.labels import label_document
from corpus.push.match_model import MatchModel
from corpus.push.targeting import Targeting
from corpus.push.topics import (
    MAX_PASSAGES,
    N_RULE_FEATURES,
    PassageEncoder,
    TopicClassifier,
    TopicModel,
    embedding_features,
    rule_features,
)

log = logging.getLogger(__name__)

__all__ = [
    "RESOURCES",
    "LearnedLabeller",
    "learned_labeller",
    "shipped_match_model",
    "shipped_group_model",
    "shipped_topic_classifier",
]

RESOURCES = Path(__file__).resolve().parents[1] / "resources"


class _Fixed:
    def __init__(self, value: Any) -> None:
        self.value = value

    def predict(self, doc: Document) -> Any:
        return self.value


class LearnedLabeller:
    """A `Labeller` (Document -> Targeting) over the learned models bound to `encoder`."""

    def __init__(
        self,
        topics: TopicModel,
        audience: AudienceModel,
        confidence: ConfidenceModel | None,
        encoder: PassageEncoder,
        today: str | None = None,
        groups: GroupModel | None = None,
    ) -> None:
        for what, info in (("topic", topics.info), ("audience", audience.info)):
            expected = info.get("encoder")
            if expected and expected != encoder.name:
                raise ValueError(f"{what} model was trained on encoder {expected!r}, got {encoder.name!r}")
        dim = topics.n_features - N_RULE_FEATURES
        if dim % 3 or dim // 3 != encoder.dim:
            raise ValueError(
                f"topic model needs {dim} embedding features, a {encoder.dim}-d encoder gives {3 * encoder.dim}"
            )
        if audience.embedding_dim not in (0, dim):
            raise ValueError(
                f"audience model needs {audience.embedding_dim} embedding features, the encoder gives {dim}"
            )
        self.topics, self.audience, self.confidence, self.groups = topics, audience, confidence, groups
        self.encoder = encoder
        self.today = today
        self.max_passages = int(topics.info.get("max_passages", MAX_PASSAGES))
        self.name = f"learned/{encoder.name}"

    def __call__(self, doc: Document) -> Targeting:
        emb = embedding_features([doc], self.encoder, self.max_passages)
        topic_scored = self.topics.decode(self.topics.predict_proba(np.hstack([emb, rule_features([doc])])))[0]
        xa = audience_features([doc], emb if self.audience.uses_embedding else None)
        probs = self.audience.predict_proba(xa)[0]
        group_probs: dict[str, float] = {}
        group_hook = None
        if self.groups is not None:
            groups, evidence, group_probs = self.groups.groups(doc.title or "", doc.text or "")
            group_hook = _Fixed((groups, evidence))
        targeting = label_document(
            doc,
            today=self.today,
            topic_predictor=_Fixed(tuple(t for t, _ in topic_scored)),
            audience_predictor=_Fixed(self.audience.decode_row(probs, self.audience.threshold)),
            group_predictor=group_hook,
        )
        targeting = dataclasses.replace(
            targeting,
            probabilities={
                "audience": {"resident": float(probs[0]), "enterprise": float(probs[1])},
                "topics": {t: float(p) for t, p in topic_scored},
                "groups": group_probs,
            },
        )
        if self.confidence is None:
            return targeting
        feats = confidence_features(targeting, probs, topic_scored, *rule_view(doc))
        c = float(self.confidence.predict(feats)[0])
        return dataclasses.replace(targeting, confidence=min(max(c, 0.0), 1.0))


def learned_labeller(
    encoder: PassageEncoder | None, resources: Path = RESOURCES, today: str | None = None
) -> LearnedLabeller | None:
    """The learned labeller when `encoder` is the one the shipped models were trained with, else None."""
    if encoder is None:
        return None
    try:
        topics = TopicModel.load(resources / "push_topics")
        audience = AudienceModel.load(resources / "push_audience")
        confidence = ConfidenceModel.load(resources / "push_confidence")
        groups = shipped_group_model(resources)
    except (FileNotFoundError, ValueError) as exc:
        log.warning("push: learned labeller unavailable (%s); using the rules", exc)
        return None
    wanted = {topics.info.get("encoder"), audience.info.get("encoder")}
    if wanted != {getattr(encoder, "name", None)}:
        log.info("push: encoder %r is not the models' %s; using the rules", getattr(encoder, "name", None), wanted)
        return None
    try:
        return LearnedLabeller(topics, audience, confidence, encoder, today, groups)
    except ValueError as exc:
        log.warning("push: learned labeller unavailable (%s); using the rules", exc)
        return None


@functools.lru_cache(maxsize=4)
def shipped_match_model(resources: Path = RESOURCES) -> MatchModel | None:
    """The shipped P(match) model (`push_match.json`) for the review gate, or None when absent or stale."""
    try:
        return MatchModel.load(resources / "push_match")
    except (FileNotFoundError, ValueError) as exc:
        log.info("push: no P(match) model (%s); the review gate reads the document confidence", exc)
        return None


@functools.lru_cache(maxsize=4)
def shipped_group_model(resources: Path = RESOURCES) -> GroupModel | None:
    """The shipped group model (`push_groups.json`), or None when absent or stale."""
    try:
        return GroupModel.load(resources / "push_groups")
    except (FileNotFoundError, ValueError) as exc:
        log.info("push: no group model (%s)", exc)
        return None


@functools.lru_cache(maxsize=1)
def _topic_model(resources: Path) -> TopicModel | None:
    try:
        return TopicModel.load(resources / "push_topics")
    except (FileNotFoundError, ValueError) as exc:
        log.info("push: no topic model (%s)", exc)
        return None


def shipped_topic_classifier(encoder: PassageEncoder | None, resources: Path = RESOURCES) -> TopicClassifier | None:
    """The shipped topic model bound to `encoder`, or None when absent or trained on another encoder."""
    model = _topic_model(resources) if encoder is not None else None
    if model is None:
        return None
    try:
        return TopicClassifier(model, encoder)
    except ValueError:
        return None
