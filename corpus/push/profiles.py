"""Residents' and businesses' subscription profiles: kind, area, target groups and topics.

Matched against a policy's labels by `corpus.push.matching.match`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from corpus.push.taxonomy import Audience, check_taxonomy


@dataclass(frozen=True)
class Profile:
    """What a subscriber tells us about themselves. Personal data: never log `description`."""

    profile_id: str
    kind: Audience
    province: str | None = None
    city: str | None = None
    district: str | None = None
    street: str | None = None
    groups: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        check_taxonomy(self.groups, self.topics)
        if not self.groups and not self.topics:
            raise ValueError("a profile needs at least one group or topic")

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile_id": self.profile_id,
            "kind": self.kind.value,
            "province": self.province,
            "city": self.city,
            "district": self.district,
            "street": self.street,
            "groups": list(self.groups),
            "topics": list(self.topics),
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Profile:
        return cls(
            profile_id=str(d["profile_id"]),
            kind=Audience.from_str(d["kind"]),
            province=d.get("province") or None,
            city=d.get("city") or None,
            district=d.get("district") or None,
            street=d.get("street") or None,
            groups=tuple(d.get("groups") or ()),
            topics=tuple(d.get("topics") or ()),
            description=d.get("description") or "",
        )
