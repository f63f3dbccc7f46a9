"""The push rule: whether a policy reaches a subscriber's profile, and why (in Chinese).

The rule (push-dev GUIDE §3) matches when the policy is in force, is written for the
profile's kind (resident / enterprise), covers the profile's area, and shares a target
group with it, or, when the policy names no group, a topic. Every match carries its
reason in Chinese, so a resident sees why the policy reached them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from corpus.push.profiles import Profile
from corpus.push.targeting import Targeting


@dataclass(frozen=True)
class MatchReason:
    """Why a policy reaches a profile: the area that covers them and the shared groups or topics."""

    profile_id: str
    doc_id: str
    area: str
    via: str  # "group" or "topic"
    shared: tuple[str, ...]
    evidence: tuple[str, ...] = ()  # verbatim quotes naming the shared groups

    @property
    def text(self) -> str:
        what = "您属于" if self.via == "group" else "您关注"
        shared = "、".join(self.shared)
        return f"适用于{self.area}，{what}{shared}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile_id": self.profile_id,
            "doc_id": self.doc_id,
            "area": self.area,
            "via": self.via,
            "shared": list(self.shared),
            "evidence": list(self.evidence),
            "text": self.text,
        }


def match(profile: Profile, targeting: Targeting) -> MatchReason | None:
    """The push rule; None when the policy should not be pushed to this profile."""
    if targeting.expired or profile.kind not in targeting.audience:
        return None
    if not targeting.jurisdiction.covers(profile.province, profile.city, profile.district):
        return None
    area = targeting.jurisdiction.label()
    if targeting.groups:
        shared = tuple(g for g in targeting.groups if g in profile.groups)
        if not shared:
            return None
        evidence = tuple(targeting.evidence[g] for g in shared if targeting.evidence.get(g))
        return MatchReason(profile.profile_id, targeting.doc_id, area, "group", shared, evidence)
    shared = tuple(t for t in targeting.topics if t in profile.topics)
    if not shared:
        return None
    return MatchReason(profile.profile_id, targeting.doc_id, area, "topic", shared)
