"""Document validation: a mistyped field is refused at construction, naming the field and what is allowed."""

from __future__ import annotations

import pytest

from corpus.models import Document, DocumentFieldError, Status

GOOD = {"id": "p1", "title": "历城区居住证办理指南", "text": "申领居住证应当提交居民身份证。"}


def test_round_trip_keeps_every_field():
    doc = Document.from_dict(
        {
            **GOOD,
            "doc_number": "济历城政办字〔2025〕13号",
            "issuer": "济南市历城区人民政府办公室",
            "publish_date": "2025-01-01",
            "status": "current",
            "topics": ["户籍"],
            "metadata": {"source": "test", "repealed": False},
        }
    )
    assert Document.from_dict(doc.to_dict()) == doc
    assert doc.status is Status.CURRENT and doc.topics == ("户籍",)


@pytest.mark.parametrize(
    "field,value,expected",
    [
        ("id", 12345, "string"),
        ("id", "", "non-empty"),
        ("id", "   ", "non-empty"),
        ("title", None, "string"),
        ("title", 7, "string"),
        ("text", ["a"], "string"),
        ("doc_number", 5, "string or null"),
        ("issuer", 12345, "string or null"),
        ("interprets", {"id": "x"}, "string or null"),
        ("supersedes", ["a", "b"], "string or null"),
        ("supersedes", {"a": 1}, "string or null"),
        ("publish_date", 20250101, "YYYY-MM-DD"),
        ("publish_date", "2025年1月1日", "YYYY-MM-DD"),
        ("publish_date", "2025-02-30", "YYYY-MM-DD"),
        ("effective_date", True, "YYYY-MM-DD"),
        ("status", 1, "one of"),
        ("status", "valid", "one of"),
        ("topics", "户籍", "list of strings"),
        ("topics", [1, 2], "list of strings"),
        ("metadata", ["x"], "object"),
    ],
)
def test_mistyped_fields_are_refused_with_the_field_named(field, value, expected):
    with pytest.raises(DocumentFieldError, match=expected) as err:
        Document.from_dict({**GOOD, field: value})
    assert err.value.field == field


def test_missing_required_fields_and_unknown_fields_are_named():
    with pytest.raises(DocumentFieldError, match="required") as err:
        Document.from_dict({"id": "p1", "text": "x"})
    assert err.value.field == "title"
    with pytest.raises(DocumentFieldError, match="unknown field") as err:
        Document.from_dict({**GOOD, "publish": "2025-01-01"})
    assert err.value.field == "publish"
    with pytest.raises(DocumentFieldError, match="object"):
        Document.from_dict(["not", "a", "dict"])  # type: ignore[arg-type]


def test_direct_construction_is_checked_too():
    # Loaders build Documents directly: the same checks guard them, so nothing mistyped reaches an index.
    with pytest.raises(DocumentFieldError, match="publish_date"):
        Document(id="p1", title="t", text="x", publish_date=20250101)  # type: ignore[arg-type]
    with pytest.raises(DocumentFieldError, match="issuer"):
        Document(id="p1", title="t", text="x", issuer=12345)  # type: ignore[arg-type]
