"""Plain data shared by every stage: documents and the passages cut from them.

Dates are ISO strings ("2025-07-09") so the models serialise to JSON as they are.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any, Self


class ChoiceEnum(str, Enum):
    """A string enum whose parse error names the setting and lists the valid values."""

    @classmethod
    def from_str(cls, value: str) -> Self:
        try:
            return cls(value.strip().lower())
        except (ValueError, AttributeError):
            label = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", cls.__name__).lower()
            allowed = ", ".join(m.value for m in cls)
            raise ValueError(f"{label} must be one of {allowed}, got {value!r}") from None


class Status(ChoiceEnum):
    """Validity of a document. `superseded` means a newer version replaced it."""

    CURRENT = "current"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"
    UNKNOWN = "unknown"

    @property
    def in_force(self) -> bool:
        return self in (Status.CURRENT, Status.UNKNOWN)


@dataclass(frozen=True)
class Document:
    """One policy document with its metadata.

    `version_group` ties together versions of the same policy (e.g. a law's
    successive revisions); `supersedes` names the id this version replaced;
    `interprets` is set on an interpretation (政策解读) and names the policy it explains.
    """

    id: str
    title: str
    text: str
    doc_number: str | None = None  # 文号, e.g. 国发〔2019〕5号
    issuer: str | None = None
    publish_date: str | None = None
    effective_date: str | None = None
    status: Status = Status.UNKNOWN
    level: str | None = None
    region: str | None = None
    url: str | None = None
    topics: tuple[str, ...] = ()
    collection: str | None = None
    doc_type: str | None = None  # e.g. 通知, 意见, 条例, 解读
    version_group: str | None = None
    supersedes: str | None = None
    interprets: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not self.id or not self.id.strip():
            raise ValueError("document id must be a non-empty string")
        if not isinstance(self.status, Status):
            object.__setattr__(self, "status", Status.from_str(str(self.status)))
        if not isinstance(self.topics, tuple):
            object.__setattr__(self, "topics", tuple(self.topics))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["status"] = self.status.value
        d["topics"] = list(self.topics)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Document:
        d = dict(d)
        d["status"] = Status.from_str(d.get("status") or "unknown")
        d["topics"] = tuple(d.get("topics") or ())
        d["metadata"] = dict(d.get("metadata") or {})
        return cls(**d)


@dataclass(frozen=True)
class Passage:
    """A retrievable span of a document, with the heading path it sits under.

    `start`/`end` are character offsets into `Document.text`, so a citation can be
    checked against the source. `title` is repeated here because retrieval
    indexes it with the passage.
    """

    id: str
    doc_id: str
    position: int
    text: str
    start: int
    end: int
    title: str = ""
    heading_path: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.heading_path, tuple):
            object.__setattr__(self, "heading_path", tuple(self.heading_path))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["heading_path"] = list(self.heading_path)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Passage:
        d = dict(d)
        d["heading_path"] = tuple(d.get("heading_path") or ())
        return cls(**d)

    def index_text(self) -> str:
        """What retrieval sees: title and heading path carry context the span lacks."""
        head = " ".join(p for p in (self.title, *self.heading_path) if p)
        return f"{head}\n{self.text}" if head else self.text
