"""Who a policy is for: audience, jurisdiction, target groups (with verbatim evidence), topics, expiry.

Plain data shared by the labeller (`corpus.push.labels.label_document`), the matcher
(`corpus.push.matching.match`) and the push jobs; the values come from `corpus.push.taxonomy`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from corpus.models import ChoiceEnum
from corpus.push.taxonomy import Audience, check_taxonomy


class JurisdictionLevel(ChoiceEnum):
    NATIONAL = "national"
    PROVINCIAL = "provincial"
    MUNICIPAL = "municipal"
    DISTRICT = "district"


@dataclass(frozen=True)
class Jurisdiction:
    """Where a policy applies. Municipalities (北京市…) are `province` and `city` at once.

    national: all None; provincial: province; municipal: province + city;
    district: province + city + one or more `districts`. `codes` are the GB/T 2260 codes of the
    area when the labeller knows them (one per district); they take no part in comparisons.
    """

    level: JurisdictionLevel = JurisdictionLevel.NATIONAL
    province: str | None = None
    city: str | None = None
    districts: tuple[str, ...] = ()
    codes: tuple[str, ...] = field(default=(), compare=False, hash=False)

    def covers(self, province: str | None, city: str | None, district: str | None) -> bool:
        """True when a person at (province, city, district) is inside this jurisdiction."""
        if self.level is JurisdictionLevel.NATIONAL:
            return True
        if self.province != province:
            return False
        if self.level is JurisdictionLevel.PROVINCIAL:
            return True
        if self.city != city:
            return False
        if self.level is JurisdictionLevel.MUNICIPAL:
            return True
        return district is not None and district in self.districts

    def label(self) -> str:
        """Chinese name of the area, for push reasons: 全国 / 山东省 / 济南市 / 济南市历城区."""
        if self.level is JurisdictionLevel.NATIONAL:
            return "全国"
        if self.level is JurisdictionLevel.PROVINCIAL:
            return self.province or ""
        city = self.city or ""
        if self.level is JurisdictionLevel.MUNICIPAL:
            return city
        return city + "、".join(self.districts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level.value,
            "province": self.province,
            "city": self.city,
            "districts": list(self.districts),
            "codes": list(self.codes),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Jurisdiction:
        """Accepts the push-dev shape too, where `district` is a string, a list, or null."""
        districts = d.get("districts", d.get("district"))
        if districts is None:
            districts = ()
        elif isinstance(districts, str):
            districts = (districts,)
        return cls(
            level=JurisdictionLevel.from_str(d.get("level") or "national"),
            province=d.get("province"),
            city=d.get("city"),
            districts=tuple(districts),
            codes=tuple(d.get("codes") or ()),
        )


@dataclass(frozen=True)
class Targeting:
    """The push labels of one document. `evidence` maps each group to a verbatim quote from the text."""

    doc_id: str
    audience: tuple[Audience, ...] = ()
    jurisdiction: Jurisdiction = field(default_factory=Jurisdiction)
    groups: tuple[str, ...] = ()
    evidence: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    topics: tuple[str, ...] = ()
    expired: bool = False
    expired_reason: str | None = None
    # How sure the labeller is that these labels give the right recipients, 0..1 (calibrated by the
    # learned models); None: rules only, nobody has measured it. The review step gates on it.
    confidence: float | None = field(default=None, compare=False, hash=False)
    # The learned models' probabilities behind these labels, by field: {"audience": {"resident": p, ...},
    # "groups": {group: p}, "topics": {topic: p}}; empty for rules. P(match) of a pair is read from them.
    probabilities: dict[str, dict[str, float]] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        check_taxonomy(self.groups, self.topics)
        if self.confidence is not None and not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence must be in 0..1 or None, got {self.confidence}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "doc_id": self.doc_id,
            "audience": [a.value for a in self.audience],
            "jurisdiction": self.jurisdiction.to_dict(),
            "groups": list(self.groups),
            "evidence": dict(self.evidence),
            "topics": list(self.topics),
            "expired": self.expired,
            "expired_reason": self.expired_reason,
            "confidence": self.confidence,
            "probabilities": {k: dict(v) for k, v in self.probabilities.items()},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Targeting:
        """Reads `to_dict` output and push-dev `doc_labels.jsonl` rows (`_id`, `expired_or_superseded`)."""
        return cls(
            doc_id=d.get("doc_id") or d["_id"],
            audience=tuple(Audience.from_str(a) for a in d.get("audience") or ()),
            jurisdiction=Jurisdiction.from_dict(d.get("jurisdiction") or {}),
            groups=tuple(d.get("groups") or ()),
            evidence=dict(d.get("evidence") or {}),
            topics=tuple(d.get("topics") or ()),
            expired=bool(d.get("expired", d.get("expired_or_superseded", False))),
            expired_reason=d.get("expired_reason"),
            confidence=d.get("confidence"),
            probabilities={
                str(k): {str(a): float(b) for a, b in v.items()} for k, v in (d.get("probabilities") or {}).items()
            },  # fmt: skip
        )
