"""The review gate (先审后发): which planned pushes may go out on their own, and which wait for an operator.

With a P(match) model (`corpus.push.match_model`, shipped as `corpus/resources/push_match.json`)
and labels that carry the learned models' probabilities, a document is sent automatically when
the lowest P(match) any profile it can reach would get (`MatchModel.floor`: each side of its
audience, each single group or topic) is at or above the model's precision-calibrated threshold
(chosen out of fold for precision >= 0.95), and it reaches fewer than `min_profiles` subscribers.
The floor is a property of the labels, so the decision holds per document whoever subscribes
(the outbox holds rows per document).
Without them (no model, or rules-only labels), the document-level calibrated `confidence` must
reach `auto_threshold`; a `confidence` of None (rules only, never measured) always waits.
Documents that reach nobody have nothing to review.
"""

from __future__ import annotations

from dataclasses import dataclass

from corpus.push.match_model import MatchModel
from corpus.push.targeting import Targeting
from qa_service.push.records import Review


@dataclass(frozen=True)
class ReviewPolicy:
    auto_threshold: float = 0.9
    min_profiles: int = 200
    match_model: MatchModel | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.auto_threshold <= 1.0:
            raise ValueError(f"auto_threshold must be in 0..1, got {self.auto_threshold}")
        if self.min_profiles < 1:
            raise ValueError(f"min_profiles must be >= 1, got {self.min_profiles}")

    def match_floor(self, targeting: Targeting) -> float | None:
        """The lowest P(match) a profile these labels reach can get (`MatchModel.floor`); None when the
        gate cannot tell (no model, or rules-only labels without probabilities)."""
        if self.match_model is None or not targeting.probabilities:
            return None
        return self.match_model.floor(targeting)

    def reasons(self, targeting: Targeting, reach: int) -> tuple[str, ...]:
        """Why a document reaching `reach` profiles waits, in Chinese; empty when it may be sent now."""
        if reach <= 0:
            return ()
        out = []
        floor = self.match_floor(targeting)
        c = targeting.confidence
        if floor is not None and self.match_model is not None:
            t = self.match_model.auto_threshold
            if floor < t:
                out.append(f"匹配概率最低 {floor:.2f}，低于自动发送阈值 {t:.2f}（按精确率 95% 校准）")
        elif c is None:
            out.append("标注未经置信度校准（仅规则标注），须人工审核")
        elif c < self.auto_threshold:
            out.append(f"标注置信度 {c:.2f} 低于自动发送阈值 {self.auto_threshold:.2f}")
        if reach >= self.min_profiles:
            out.append(f"将推送给 {reach} 位订阅用户（达到 {self.min_profiles} 人须人工审核）")
        return tuple(out)

    def hold(self, doc_id: str, version: str, targeting: Targeting, reach: int) -> Review | None:
        """The review to open for this planned version, or None when it goes out automatically."""
        why = self.reasons(targeting, reach)
        return Review(doc_id, version, targeting, why, reach) if why else None
