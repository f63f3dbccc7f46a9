"""Plain data shared by every stage: documents and the passages cut from them.

Dates are ISO strings ("2025-07-09") so the models serialise to JSON as they are.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import asdict, dataclass, field, fields
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


class DocumentFieldError(ValueError):
    """A document field with the wrong type or value; `field` names it for callers that translate."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"document field {field!r}: {problem}")


_OPTIONAL_STR = (
    "doc_number",
    "issuer",
    "level",
    "region",
    "url",
    "collection",
    "doc_type",
    "version_group",
    "supersedes",
    "interprets",
)
_DATES = ("publish_date", "effective_date")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_ARTICLE = re.compile(r"第[一二三四五六七八九十百千零〇两\d]+条(?:之[一二三四五六七八九十]+)?")


def _check_str(name: str, value: Any, optional: bool) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise DocumentFieldError(
            name, f"must be a {'string or null' if optional else 'string'}, got {type(value).__name__}"
        )
    if _SURROGATE.search(value):
        raise DocumentFieldError(name, "must be valid Unicode text (lone surrogate)")


def _check_json_value(name: str, value: Any, depth: int = 0) -> None:
    """Metadata must survive a JSON round trip as UTF-8: plain JSON types, valid text, bounded depth."""
    if depth > 20:
        raise DocumentFieldError(name, "is nested too deeply")
    if isinstance(value, str):
        _check_str(name, value, optional=False)
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_str(name, k, optional=False)
            _check_json_value(name, v, depth + 1)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _check_json_value(name, v, depth + 1)
    elif value is not None and not isinstance(value, (bool, int, float)):
        raise DocumentFieldError(name, f"must hold JSON values only, got {type(value).__name__}")


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
        # Every stage trusts these types (filters compare dates, search renders issuers): check them once here.
        _check_str("id", self.id, optional=False)
        if not self.id.strip():
            raise DocumentFieldError("id", "must be a non-empty string")
        _check_str("title", self.title, optional=False)
        _check_str("text", self.text, optional=False)
        for name in _OPTIONAL_STR:
            _check_str(name, getattr(self, name), optional=True)
        for name in _DATES:
            value = getattr(self, name)
            if value is not None and not (isinstance(value, str) and _valid_date(value)):
                raise DocumentFieldError(name, f"must be a date YYYY-MM-DD or null, got {value!r}"[:120])
        if not isinstance(self.status, Status):
            if not isinstance(self.status, str):
                raise DocumentFieldError("status", "must be one of " + ", ".join(s.value for s in Status))
            try:
                object.__setattr__(self, "status", Status.from_str(self.status))
            except ValueError:
                raise DocumentFieldError("status", "must be one of " + ", ".join(s.value for s in Status)) from None
        if isinstance(self.topics, str) or not isinstance(self.topics, (list, tuple)):
            raise DocumentFieldError("topics", "must be a list of strings")
        if not all(isinstance(t, str) for t in self.topics):
            raise DocumentFieldError("topics", "must be a list of strings")
        if not isinstance(self.topics, tuple):
            object.__setattr__(self, "topics", tuple(self.topics))
        if not isinstance(self.metadata, dict):
            raise DocumentFieldError("metadata", "must be an object")
        _check_json_value("metadata", self.metadata)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["status"] = self.status.value
        d["topics"] = list(self.topics)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Document:
        """A document from untrusted JSON: unknown or missing fields and wrong types raise DocumentFieldError."""
        if not isinstance(d, dict):
            raise DocumentFieldError("document", f"must be an object, got {type(d).__name__}")
        known = _FIELD_NAMES
        for k in d:
            if k not in known:
                raise DocumentFieldError(str(k), "unknown field; allowed: " + ", ".join(sorted(known)))
        for k in ("id", "title", "text"):
            if k not in d:
                raise DocumentFieldError(k, "is required")
        d = dict(d)
        d["status"] = "unknown" if d.get("status") is None else d["status"]
        d["topics"] = () if d.get("topics") is None else d["topics"]
        d["metadata"] = {} if d.get("metadata") is None else d["metadata"]
        return cls(**d)


_FIELD_NAMES = frozenset(f.name for f in fields(Document))


def _valid_date(value: str) -> bool:
    if not _ISO_DATE.match(value):
        return False
    try:
        _dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


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
    # Ids of the source rows the passage was cut from: a law article's `_id`, or the document id
    # of a policy (whose place inside it is `heading_path`). Empty means the document id.
    source_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.heading_path, tuple):
            object.__setattr__(self, "heading_path", tuple(self.heading_path))
        if not self.source_ids:
            object.__setattr__(self, "source_ids", (self.doc_id,))
        elif not isinstance(self.source_ids, tuple):
            object.__setattr__(self, "source_ids", tuple(self.source_ids))

    @property
    def article(self) -> str | None:
        """The 第X条 the passage sits in (the outermost in its heading path, so an article quoting
        another's number inside it is still itself), e.g. "第五十六条"; None outside articles."""
        for h in self.heading_path:
            m = _ARTICLE.match(h)
            if m:
                return m.group(0)
        return None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["heading_path"] = list(self.heading_path)
        d["source_ids"] = list(self.source_ids)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Passage:
        d = dict(d)
        d["heading_path"] = tuple(d.get("heading_path") or ())
        d["source_ids"] = tuple(d.get("source_ids") or ())  # absent in indexes saved before it existed
        return cls(**d)

    def index_text(self) -> str:
        """What retrieval sees: title and heading path carry context the span lacks."""
        head = " ".join(p for p in (self.title, *self.heading_path) if p)
        return f"{head}\n{self.text}" if head else self.text
