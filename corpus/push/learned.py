"""The learned push labeller: rules plus the shipped topic, audience and confidence models, one encoding per document.

`LearnedLabeller(doc)` embeds the document once (`corpus.push.topics.embedding_features`), feeds
the topic model (`push_topics`) and the audience model (`push_audience`), labels the document
with `corpus.push.labels.label_document` using both, and sets `Targeting.confidence` from the
confidence model (`push_confidence`). The models record the encoder they were trained with;
`learned_labeller(encoder)` returns None when that is not the given encoder (or the artifacts
are missing), so callers fall back to the rules (`label_document`) and no encoder is ever needed.

Rebuild the artifacts in corpus/resources/ with `python -m eval push train-topics …` and
`python -m eval push train-audience …` (their JSON records the exact command).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np

from corpus.models import Document
from corpus.push.audience_model import AudienceModel, audience_features
from corpus.push.confidence import ConfidenceModel, confidence_features, rule_view
from corpus.push.labels import label_document
from corpus.push.targeting import Targeting
from corpus.push.topics import (
    MAX_PASSAGES,
    N_RULE_FEATURES,
    PassageEncoder,
    TopicModel,
    embedding_features,
    rule_features,
)

log = logging.getLogger(__name__)

__all__ = ["RESOURCES", "LearnedLabeller", "learned_labeller"]

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
        self.topics, self.audience, self.confidence = topics, audience, confidence
        self.encoder = encoder
        self.today = today
        self.max_passages = int(topics.info.get("max_passages", MAX_PASSAGES))
        self.name = f"learned/{encoder.name}"

    def __call__(self, doc: Document) -> Targeting:
        emb = embedding_features([doc], self.encoder, self.max_passages)
        topic_scored = self.topics.decode(self.topics.predict_proba(np.hstack([emb, rule_features([doc])])))[0]
        xa = audience_features([doc], emb if self.audience.uses_embedding else None)
        probs = self.audience.predict_proba(xa)[0]
        targeting = label_document(
            doc,
            today=self.today,
            topic_predictor=_Fixed(tuple(t for t, _ in topic_scored)),
            audience_predictor=_Fixed(self.audience.decode_row(probs, self.audience.threshold)),
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
    except (FileNotFoundError, ValueError) as exc:
        log.warning("push: learned labeller unavailable (%s); using the rules", exc)
        return None
    wanted = {topics.info.get("encoder"), audience.info.get("encoder")}
    if wanted != {getattr(encoder, "name", None)}:
        log.info("push: encoder %r is not the models' %s; using the rules", getattr(encoder, "name", None), wanted)
        return None
    try:
        return LearnedLabeller(topics, audience, confidence, encoder, today)
    except ValueError as exc:
        log.warning("push: learned labeller unavailable (%s); using the rules", exc)
        return None
