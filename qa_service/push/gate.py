"""The review gate (先审后发): which planned pushes may go out on their own, and which wait for an operator.

A document is sent automatically only when its labels' calibrated confidence is at or above
`auto_threshold` and it reaches fewer than `min_profiles` subscribers; a `confidence` of None
(rules only, never measured) always waits. Documents that reach nobody have nothing to review.
"""

from __future__ import annotations

from dataclasses import dataclass

from corpus.push.targeting import Targeting
from qa_service.push.records import Review


@dataclass(frozen=True)
class ReviewPolicy:
    auto_threshold: float = 0.9
    min_profiles: int = 200

    def __post_init__(self) -> None:
        if not 0.0 <= self.auto_threshold <= 1.0:
            raise ValueError(f"auto_threshold must be in 0..1, got {self.auto_threshold}")
        if self.min_profiles < 1:
            raise ValueError(f"min_profiles must be >= 1, got {self.min_profiles}")

    def reasons(self, targeting: Targeting, reach: int) -> tuple[str, ...]:
        """Why a document reaching `reach` profiles waits, in Chinese; empty when it may be sent now."""
        if reach <= 0:
            return ()
        out = []
        c = targeting.confidence
        if c is None:
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
