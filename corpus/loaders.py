"""Read policy corpora into `Document`s: the policies JSONL, the law-articles JSONL, or a folder of files.

Loaders stream: `load_jsonl` and `load_law_articles` yield one document at a time, so
the 60 MB law corpus never sits in memory as parsed rows.
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from corpus.metadata import extract_metadata, extract_region, normalize_doc_number, parse_date
from corpus.models import Document, Status

__all__ = [
    "LoadError",
    "SUPPORTED_SUFFIXES",
    "load_corpus",
    "load_jsonl",
    "load_law_articles",
    "load_folder",
    "load_file",
    "decode_text",
]

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm", ".docx", ".pdf", ".jsonl")

# Source fields mapped onto Document fields; everything else goes to `metadata`.
_MAPPED = {
    "_id",
    "id",
    "title",
    "text",
    "doc_number",
    "issuer",
    "publish_date",
    "valid_from",
    "effective_date",
    "expired",
    "status",
    "level",
    "region",
    "url",
    "topic",
    "topics",
    "collection",
    "doc_type",
    "version_group",
    "supersedes",
    "interprets",
}


@dataclass(frozen=True)
class LoadError:
    """A file that could not be loaded, and why (shown to the operator, then skipped)."""

    path: str
    reason: str


# ---------------------------------------------------------------- policies JSONL


def load_jsonl(path: str | Path) -> Iterator[Document]:
    """Documents from a policies-shaped JSONL (`_id`, `title`, `text`, `collection`, metadata...).

    Source metadata wins; what the source lacks is extracted from title and text.
    A malformed line is logged and skipped with its line number.
    """
    path = Path(path)
    for lineno, row in _json_rows(path, encoding="utf-8-sig"):
        try:
            yield policy_from_row(row)
        except (ValueError, TypeError, KeyError) as e:
            log.warning("%s:%d: skipped row: %s", path, lineno, e)


def _json_rows(path: Path, encoding: str = "utf-8") -> Iterator[tuple[int, Any]]:
    """(line number, parsed row) of a JSONL file; blank lines skipped, malformed ones logged and skipped."""
    with path.open(encoding=encoding) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as e:
                log.warning("%s:%d: skipped malformed JSON line: %s", path, lineno, e)


def policy_from_row(row: dict[str, Any]) -> Document:
    """Map one policies.jsonl row to a Document (see module doc for the rules)."""
    doc_id = str(row.get("_id") or row.get("id") or "").strip()
    if not doc_id:
        raise ValueError("row has no _id")
    text = row.get("text")
    if not isinstance(text, str):
        raise ValueError(f"row {doc_id} has no text field")
    source_title = (row.get("title") or "").strip()
    title = source_title or title_from_text(text)
    ext = extract_metadata(title, text)

    doc_number = row.get("doc_number") or ext.doc_number
    if doc_number:
        doc_number = normalize_doc_number(str(doc_number))
    issuer = row.get("issuer")
    # Some sources put a bare place name ("北京") in issuer; a real body name is longer.
    if not issuer or (len(issuer) <= 3 and ext.issuer):
        issuer = ext.issuer or issuer
    publish_date = _iso_or_none(row.get("publish_date")) or ext.publish_date
    effective_date = _iso_or_none(row.get("effective_date") or row.get("valid_from")) or ext.effective_date

    if row.get("status"):
        status = Status.from_str(str(row["status"]))
    elif isinstance(row.get("expired"), bool):
        status = Status.EXPIRED if row["expired"] else Status.CURRENT
    else:
        status = Status.UNKNOWN

    topics = row.get("topics") or row.get("topic") or ()
    if isinstance(topics, str):
        topics = tuple(t for t in re.split(r"[\\/、,，;；]", topics) if t.strip())

    metadata = {k: v for k, v in row.items() if k not in _MAPPED}
    metadata["is_interpretation"] = ext.is_interpretation
    if not source_title:
        metadata["title_from_text"] = True
    if ext.interprets_title:
        metadata["interprets_title"] = ext.interprets_title
    if row.get("issuer") and issuer != row["issuer"]:
        metadata["source_issuer"] = row["issuer"]

    return Document(
        id=doc_id,
        title=title,
        text=text,
        doc_number=doc_number,
        issuer=issuer,
        publish_date=publish_date,
        effective_date=effective_date,
        status=status,
        level=row.get("level"),
        region=row.get("region") or extract_region(title, issuer),
        url=row.get("url"),
        topics=tuple(topics),
        collection=row.get("collection"),
        doc_type=row.get("doc_type") or ext.doc_type,
        version_group=row.get("version_group"),
        supersedes=row.get("supersedes"),
        interprets=row.get("interprets"),
        metadata=metadata,
    )


def _iso_or_none(value: Any) -> str | None:
    if not value:
        return None
    s = str(value).strip()
    if re.fullmatch(r"\d{4}-\d\d-\d\d", s):
        return s
    return parse_date(s)


def title_from_text(text: str, max_len: int = 60) -> str:
    """A title for untitled documents: the first line, or the first clause of one-line texts."""
    for line in text.splitlines():
        line = line.strip(" \u3000\t")
        if line:
            break
    else:
        return ""
    # NCP texts are one line; their title ends at the first wide gap or sentence end.
    head = re.split(r"\s{1,}|\u3000|。", line, maxsplit=1)[0]
    if len(head) < 6:
        head = line
    return head[:max_len]


# ---------------------------------------------------------------- law articles JSONL


def load_law_articles(path: str | Path) -> Iterator[Document]:
    """One Document per `law_id` (a law version), articles in order under their chapter headings.

    Two passes: the first counts articles per law_id (a law's rows are not always
    contiguous), the second assembles each law and yields it as soon as its last
    article has been read, so only laws still open are held in memory.
    """
    path = Path(path)
    law_id_re = re.compile(r'"law_id":\s*"((?:[^"\\]|\\.)*)"')
    remaining: Counter[str] = Counter()
    with path.open(encoding="utf-8") as f:
        for line in f:
            m = law_id_re.search(line)
            if m:
                remaining[json.loads(f'"{m.group(1)}"')] += 1
    open_laws: dict[str, list[dict[str, Any]]] = {}
    for lineno, row in _json_rows(path):
        law_id = row.get("law_id")
        if not law_id:
            log.warning("%s:%d: skipped article without law_id", path, lineno)
            continue
        if law_id not in open_laws:
            row["_line"] = lineno  # source order: later lines are later versions (see library)
        open_laws.setdefault(law_id, []).append(row)
        remaining[law_id] -= 1
        if remaining[law_id] <= 0:
            yield law_from_articles(law_id, open_laws.pop(law_id))
            del remaining[law_id]
    for law_id, rows in open_laws.items():  # only if the file changed between passes
        yield law_from_articles(law_id, rows)


def law_from_articles(law_id: str, rows: list[dict[str, Any]]) -> Document:
    """One law version from its article rows; each article's span is kept in `metadata["source_spans"]`
    (id, offsets, path = chapter and 第X条) so chunking cuts articles, never merges them."""
    first = rows[0]
    title = first.get("title") or first.get("name") or law_id
    parts: list[str] = []
    spans: list[dict[str, Any]] = []
    pos = 0
    chapter = None
    for r in rows:
        ch = re.sub(r"\s+", " ", (r.get("chapter") or "")).strip()  # en spaces and full-width spaces too
        start = pos
        if ch and ch != chapter:
            # the chapter line belongs to the span of its first article (nothing in the text is outside a span)
            parts.append(ch)
            pos += len(ch) + 1
            chapter = ch
        body = r.get("text") or ""
        parts.append(body)
        pos += len(body) + 1
        aid = r.get("_id")
        if body.strip() and isinstance(aid, str) and aid:
            label = (r.get("article") or "").strip()
            path = [h for h in (chapter, label) if h]
            spans.append({"id": aid, "start": start, "end": pos - 1, "path": path})
    text = "\n".join(parts)
    expired = any(r.get("expired") is True for r in rows)
    last_texts = "\n".join(r.get("text") or "" for r in rows[-3:])
    from corpus.metadata import extract_effective_date

    # Codes split into parts (民法典/总则.md) are parts, not versions: give each part its own group.
    part = None
    if "/" in law_id or law_id.endswith(".md"):
        part = Path(law_id).stem
    version_group = f"{title}/{part}" if part else title
    return Document(
        id=law_id,
        title=title,
        text=text,
        status=Status.EXPIRED if expired else Status.CURRENT,
        effective_date=extract_effective_date(last_texts),
        level=first.get("level"),
        region=extract_region(title) if first.get("collection") == "shandong" else None,
        collection=first.get("collection"),
        doc_type=_law_doc_type(title),
        version_group=version_group,
        metadata={
            "law_id": law_id,
            "n_articles": len(rows),
            "first_article_id": first.get("_id"),
            "source_line": first.get("_line"),
            "source_spans": spans,
            **({"part": part} if part else {}),
        },
    )


def _law_doc_type(title: str) -> str | None:
    from corpus.metadata import extract_doc_type

    if title.endswith("法") or title.endswith("法典"):
        return "法律"
    return extract_doc_type(title)


# ---------------------------------------------------------------- dispatch


def load_corpus(path: str | Path) -> Iterator[Document]:
    """Documents from a policies JSONL, a law-articles JSONL (told apart by the first row), or a folder.

    Folder errors are logged and skipped; use `load_folder` to get them as a list.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"corpus path does not exist: {path}")
    if path.is_dir():
        docs, _errors = load_folder(path)
        yield from docs
        return
    if path.suffix.lower() == ".jsonl":
        kind = _jsonl_kind(path)
        if kind == "law":
            yield from load_law_articles(path)
        elif kind == "policy":
            yield from load_jsonl(path)
        else:
            raise ValueError(
                f"{path}: not a corpus JSONL (expected rows with _id+text, or law articles with law_id+article)"
            )
        return
    if path.suffix.lower() in SUPPORTED_SUFFIXES:
        doc = load_file(path, path.parent)
        if isinstance(doc, LoadError):
            raise ValueError(f"{path}: {doc.reason}")
        yield doc
        return
    raise ValueError(f"unsupported corpus path {path}: expected a folder or one of {', '.join(SUPPORTED_SUFFIXES)}")


def _jsonl_kind(path: Path) -> str | None:
    with path.open(encoding="utf-8-sig") as f:
        for line in f:
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    return None
                if not isinstance(row, dict):
                    return None
                if "law_id" in row and "article" in row:
                    return "law"
                if ("_id" in row or "id" in row) and "text" in row:
                    return "policy"
                return None
    return None


# ---------------------------------------------------------------- folders of files


def load_folder(path: str | Path) -> tuple[list[Document], list[LoadError]]:
    """Every supported file under path (recursively), in sorted order.

    Unreadable files are returned as LoadError(path, reason) and logged; the rest load.
    JSONL files that are not corpora (e.g. an FAQ list) are skipped with an info log.
    """
    root = Path(path)
    if not root.is_dir():
        raise NotADirectoryError(f"not a folder: {root}")
    docs: list[Document] = []
    errors: list[LoadError] = []
    for p in sorted(root.rglob("*")):
        if not p.is_file() or p.name.startswith(".") or p.stem.upper() == "README":
            continue  # a folder's README describes the corpus, it is not part of it
        suffix = p.suffix.lower()
        if suffix not in SUPPORTED_SUFFIXES:
            log.debug("skipped unsupported file %s", p)
            continue
        if suffix == ".jsonl":
            kind = _jsonl_kind(p)
            if kind is None:
                log.info("skipped %s: not a corpus JSONL", p)
                continue
            docs.extend(load_law_articles(p) if kind == "law" else load_jsonl(p))
            continue
        result = load_file(p, root)
        if isinstance(result, LoadError):
            log.warning("could not load %s: %s", result.path, result.reason)
            errors.append(result)
        else:
            docs.append(result)
    return docs, errors


def load_file(path: Path, root: Path) -> Document | LoadError:
    """One .txt/.md/.html/.docx/.pdf file as a Document, or the reason it could not be read."""
    rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
    suffix = path.suffix.lower()
    try:
        if suffix in (".txt", ".md"):
            text = decode_text(path.read_bytes())
            title = _markdown_title(text) if suffix == ".md" else ""
        elif suffix in (".html", ".htm"):
            title, text = _html_to_text(decode_text(path.read_bytes()))
        elif suffix == ".docx":
            title, text = _read_docx(path)
        elif suffix == ".pdf":
            title, text = "", _read_pdf(path)
        else:
            return LoadError(rel, f"unsupported file type {suffix}; supported: {', '.join(SUPPORTED_SUFFIXES)}")
    except UnreadableFile as e:
        return LoadError(rel, str(e))
    except OSError as e:
        return LoadError(rel, f"cannot read file: {e.strerror or e}")
    except Exception as e:  # parsers of docx/pdf raise many types; the file is the problem, not us
        return LoadError(rel, f"cannot parse {suffix} file: {type(e).__name__}: {e}")
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    if not text.strip():
        return LoadError(rel, "no text in file (empty, or a scanned/image-only document)")
    title = title or title_from_text(text) or path.stem
    row = {"_id": rel, "title": title, "text": text, "source": rel, "source_format": suffix.lstrip(".")}
    return policy_from_row(row)


class UnreadableFile(Exception):
    """A file whose bytes are not text in any supported encoding."""


_BINARY_MAGIC = (
    b"PK\x03\x04",
    b"%PDF",
    b"\x89PNG",
    b"\xff\xd8\xff",
    b"GIF8",
    b"\xd0\xcf\x11\xe0",
    b"\x7fELF",
    b"\x1f\x8b",
    b"Rar!",
    b"7z\xbc\xaf",
)


def decode_text(data: bytes) -> str:
    """Decode UTF-8 (with or without BOM), UTF-16 with BOM, or GB18030/GBK; refuse binary data.

    GB18030 maps almost any byte string to *some* characters, so a decoded text that
    is mostly control or unusual characters is rejected as binary rather than loaded as junk.
    """
    if not data.strip():
        raise UnreadableFile("empty file")
    if data.startswith(_BINARY_MAGIC):
        raise UnreadableFile("binary content (looks like an archive, image or office file), not text")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16")
    elif b"\x00" in data[:4096]:
        raise UnreadableFile("binary content (NUL bytes), not text")
    else:
        for enc in ("utf-8-sig", "gb18030"):
            try:
                text = data.decode(enc)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise UnreadableFile("not valid UTF-8 or GB18030/GBK text")
    if not _looks_like_text(text):
        raise UnreadableFile("binary content or unknown encoding: too many control/unusual characters")
    return text


def _looks_like_text(text: str) -> bool:
    sample = text[:20000]
    if not sample:
        return False
    odd = 0
    for ch in sample:
        o = ord(ch)
        if ch in "\n\r\t" or 0x20 <= o < 0x7F:
            continue
        if (
            0x4E00 <= o <= 0x9FFF
            or 0x3000 <= o <= 0x303F
            or 0xFF00 <= o <= 0xFFEF
            or 0x2000 <= o <= 0x206F
            or 0xA0 <= o <= 0x17F
            or 0x2150 <= o <= 0x22FF
            or 0x2460 <= o <= 0x25FF
            or 0x3400 <= o <= 0x4DBF
        ):
            continue
        odd += 1
    return odd / len(sample) < 0.05


def _markdown_title(text: str) -> str:
    m = re.search(r"^#\s+(.+)$", text, flags=re.M)
    return m.group(1).strip() if m else ""


class _HTMLText(HTMLParser):
    _BLOCK = {
        "p",
        "div",
        "br",
        "li",
        "tr",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "section",
        "article",
        "table",
        "ul",
        "ol",
        "title",
    }
    _SKIP = {"script", "style", "noscript", "head"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self.h1 = ""
        self._skip = 0
        self._in: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP and tag != "head":
            self._skip += 1
        if tag in self._BLOCK:
            self.parts.append("\n")
        self._in.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and tag != "head" and self._skip:
            self._skip -= 1
        if tag in self._BLOCK:
            self.parts.append("\n")
        if self._in and self._in[-1] == tag:
            self._in.pop()

    def handle_data(self, data: str) -> None:
        cur = self._in[-1] if self._in else ""
        if cur == "title":
            self.title += data.strip()
            return
        if self._skip:
            return
        if cur == "h1" and not self.h1:
            self.h1 = data.strip()
        self.parts.append(data)


def _html_to_text(source: str) -> tuple[str, str]:
    p = _HTMLText()
    p.feed(source)
    p.close()
    raw = html.unescape("".join(p.parts))
    lines = [re.sub(r"[ \t\xa0]+", " ", ln).strip() for ln in raw.split("\n")]
    text = "\n".join(ln for ln in lines if ln)
    return (p.h1 or p.title), text


def _read_docx(path: Path) -> tuple[str, str]:
    try:
        import docx  # python-docx
    except ImportError as e:  # pragma: no cover - declared dependency
        raise ImportError("reading .docx needs python-docx: pip install python-docx") from e
    d = docx.Document(str(path))
    paras = [p.text.strip() for p in d.paragraphs]
    for table in d.tables:
        for row in table.rows:
            paras.append(" ".join(c.text.strip() for c in row.cells))
    title = (d.core_properties.title or "").strip()
    return title, "\n".join(p for p in paras if p)


def _read_pdf(path: Path) -> str:
    try:
        from pypdf import PdfReader
    except ImportError as e:  # pragma: no cover - declared dependency
        raise ImportError("reading .pdf needs pypdf: pip install pypdf") from e
    reader = PdfReader(str(path))
    return "\n".join((page.extract_text() or "") for page in reader.pages)
