"""Constraints a question puts on the document that may answer it: a place, a year, a 文号, a 《title》.

"杭州市区2016年小学一年级什么时候报名" asks about Hangzhou in 2016: a Wenzhou notice or the 2019
enrolment notice is not its answer however well its words match. `parse` reads the constraints,
`verdict` tests a document against them, and `prefer_satisfying` drops the retrieved passages of
documents that contradict them while any other is left, so the answer is quoted from a document
that fits, and `unmet_message` says so when none does.

A document is judged by its metadata (region, issuer, publish / effective date, 文号) and its title;
where they are missing it is given the benefit of the doubt (`Verdict.UNKNOWN`, kept like a
document that fits broadly, 山东省 for 济南): missing metadata never makes a document conflict. Its text head and
the retrieved passage can only confirm a constraint, never contradict it (a "新华社北京" dateline
names no jurisdiction).

Pure functions over plain data; no trained parameters.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import IntEnum
from functools import lru_cache

from corpus import regions
from corpus.metadata import find_doc_numbers, normalize_doc_number
from corpus.models import Document
from corpus.regions import Division
from index.lookup import normalize_title
from index.types import Hit

__all__ = ["Constraints", "Verdict", "parse", "parse_asked", "verdict", "prefer_satisfying", "unmet_message"]

# How far into the text a document's own place or 文号 is looked for (its heading and first lines).
TEXT_HEAD_CHARS = 200

# A place the question is about as someone's origin or destination, not as the jurisdiction asked
# about: 去过武汉的人, 来自湖北, 支援湖北, 非上海生源, 湖北籍, 武汉返乡人员, 北京大学, 北京时间.
_SUBJECT_BEFORE = re.compile(r"(?:去过|到过|来自|途经|前往|去往|返回|赴|驰援|援助|支援|支持|对口|援|非)$")
_SUBJECT_AFTER = re.compile(r"^(?:籍|生源|户籍人员|返乡|返岗|返|来的|方向|大学|学院|时间)")
# A year that dates the person, not the document: 2016年出生, 2010年以前参加工作, 1990年代.
_YEAR = re.compile(r"(?<![\d〔\[［(（【])((?:19|20)\d\d)(?![\d〕\]］)）】])(年?)")
_YEAR_NOT_DOC = re.compile(r"^(?:代|龄|出生|生的|生人|毕业|参加工作|参保|退休|入职|以前|之前|前|以后|之后|后|以来|底)")
_YEAR_RANGE = re.compile(r"((?:19|20)\d\d)\s*(?:年)?\s*[-—–~～至到]\s*((?:19|20)\d\d)")
_QUOTED = re.compile(r"《([^《》]{4,60})》")


class Verdict(IntEnum):
    """How a document stands to a question's constraints; lower ranks first."""

    MEETS = 0  # names the place (or a place inside it), the year, the 文号, the title
    UNKNOWN = 1  # nothing says otherwise: metadata missing, or a broader jurisdiction (山东省 for 济南)
    CONFLICTS = 2  # another place, a later year, another 文号, another title


@dataclass(frozen=True)
class Constraints:
    places: tuple[Division, ...] = ()  # the most specific place of each chain named (福建 福州 -> 福州市)
    named: tuple[Division, ...] = ()  # every place named, ancestors included
    years: tuple[int, ...] = ()
    doc_numbers: tuple[str, ...] = ()  # normalised 文号
    titles: tuple[str, ...] = ()  # 《…》 as written

    def __bool__(self) -> bool:
        return bool(self.places or self.years or self.doc_numbers or self.titles)

    @property
    def label(self) -> str:
        """How a resident reads them: 杭州市、2016年."""
        parts = [d.name if d.level != "county" or not d.city else d.city + d.name for d in self.places]
        parts += [f"{y}年" for y in self.years]
        parts += [f"文号{n}" for n in self.doc_numbers]
        parts += [f"《{t}》" for t in self.titles]
        return "、".join(parts)


# ---------------------------------------------------------------- parsing


def parse(question: str) -> Constraints:
    """The constraints `question` names. Places an origin or destination (去过武汉的人) are not."""
    q = "".join(question.split())
    numbers = tuple(dict.fromkeys(find_doc_numbers(q)))
    titles = tuple(dict.fromkeys(t.strip() for t in _QUOTED.findall(q)))
    places = _subject_free(q)
    named: list[Division] = []
    for d in places:
        if d not in named:
            named.append(d)
    specific = tuple(d for d in named if not any(o is not d and _inside(o, d) for o in named))
    return Constraints(specific, tuple(named), _years(q), numbers, titles)


def parse_asked(question: str, query: str | None = None) -> Constraints:
    """The constraints of `question`; a kind it leaves out is read from `query`, its follow-up
    expansion ("那需要什么材料" after "济南公租房" keeps 济南; "那青岛呢" replaces it)."""
    own = parse(question)
    if not query or query == question:
        return own
    carried = parse(query)
    return Constraints(
        own.places or carried.places,
        own.named if own.places else carried.named,
        own.years or carried.years,
        own.doc_numbers or carried.doc_numbers,
        own.titles or carried.titles,
    )


def _years(q: str) -> tuple[int, ...]:
    # Years inside a 文号 (〔2016〕) are the 文号's, already a constraint of their own.
    masked = q
    for raw in re.finditer(r"[〔\[［(（【]\s*(?:19|20)\d\d\s*[〕\]］)）】]", q):
        masked = masked[: raw.start()] + "#" * (raw.end() - raw.start()) + masked[raw.end() :]
    years: list[int] = []
    for m in _YEAR.finditer(masked):
        after = masked[m.end() :]
        if m.group(2) and _YEAR_NOT_DOC.match(after):
            continue
        if not m.group(2) and re.match(r"[\d.．%％元万人岁个月日号]", after):
            continue  # 2016元, 2016人: an amount that happens to look like a year
        y = int(m.group(1))
        if y not in years:
            years.append(y)
    return tuple(years)


# ---------------------------------------------------------------- satisfaction


def _inside(d: Division, parent: Division) -> bool:
    """`d` is `parent` or lies inside it."""
    if d.code == parent.code:
        return True
    if d.province != parent.province or parent.level == "county":
        return False
    if parent.level == "province":
        return True
    return d.level == "county" and d.city == parent.city


def _subject_free(s: str) -> list[Division]:
    """The places `s` names, less those it names as an origin or destination."""
    out = []
    for m in regions.find_places(s, prefer=regions.HOME_PREFER):
        if _SUBJECT_BEFORE.search(s[max(0, m.start - 4) : m.start]) or _SUBJECT_AFTER.match(s[m.end :]):
            continue
        out.append(m.division)
    return out


def doc_places(doc: Document) -> list[Division]:
    """The jurisdictions the document's region, issuer and (own, not text-derived) title name."""
    out: list[Division] = []
    for src in (doc.region, doc.issuer):
        d = regions.parse_place(src, prefer=regions.HOME_PREFER) if src else None
        if d is not None and d not in out:
            out.append(d)
    title = "".join(doc.title.split())
    # A title cut from the text's first line may run into a dateline (新华社北京2月1日电).
    if not doc.metadata.get("title_from_text"):
        out += [d for d in _subject_free(title) if d not in out]
    return out


def _meets(c: Constraints, places: Sequence[Division]) -> bool:
    # The place or one inside it; or an ancestor the question names itself (福建 … 福州: a 福建省
    # document is asked about).
    return any(_inside(p, want) for p in places for want in c.places) or any(
        p.code == n.code for p in places for n in c.named
    )


def _place_verdict(c: Constraints, doc: Document, extra: str) -> Verdict:
    places = doc_places(doc)
    # A headline cut from the text names the places it is about (浙江重庆两地医学专家视频连线).
    headline = _subject_free("".join(doc.title.split())) if doc.metadata.get("title_from_text") else []
    if _meets(c, places) or _meets(c, headline):
        return Verdict.MEETS
    if places:
        broader = any(_inside(want, p) for p in places for want in c.places)
        return Verdict.UNKNOWN if broader else Verdict.CONFLICTS
    # No place in the metadata: the text head or the passage may still name it (confirm only).
    text = "".join((doc.text[:TEXT_HEAD_CHARS] + extra).split())
    named = [_names_within(want) for want in c.places] + [_names_within(n, inside=False) for n in c.named]
    return Verdict.MEETS if any(_names_in(names, text) for names in named) else Verdict.UNKNOWN


@lru_cache(maxsize=512)
def _names_within(want: Division, inside: bool = True) -> tuple[str, ...]:
    """The names of `want` and (`inside`) of the places inside it: full names, and unambiguous short
    forms of provinces and cities. A substring test for them is ~7x faster than `find_places`."""
    divisions = {want}
    if inside and want.level != "county":
        counties = regions.counties_of(want.province, None if want.level == "province" else want.city)
        divisions.update(counties)
        if want.level == "province":  # its cities, 东莞市 (no counties) and 仙桃市 (province-run) too
            p = want.code[:2]
            cities = (regions.division(code) for i in range(1, 100) for code in (f"{p}{i:02d}00", f"{p}90{i:02d}"))
            divisions.update(d for d in cities if d is not None and d.level == "city")
    # Names read as a place only after their city (城区, 郊区) would confirm any 中心城区.
    names = {d.name for d in divisions if d is want or regions.find_places(d.name, prefer=regions.HOME_PREFER)}
    names.update(s for s, p in regions.SHORT_PROVINCES.items() if p == want.name)
    for d in divisions:
        short = d.name[:-1] if d.level != "county" and d.name.endswith("市") and len(d.name) >= 3 else None
        if short and regions.city_named(short) == regions.city_named(d.name):
            names.add(short)
    return tuple(sorted(names, key=len, reverse=True))


def _names_in(names: Sequence[str], text: str) -> bool:
    """`text` holds one of `names` other than as an origin or destination."""
    for name in names:
        at = text.find(name)
        while at >= 0:
            end = at + len(name)
            if not (_SUBJECT_BEFORE.search(text[max(0, at - 4) : at]) or _SUBJECT_AFTER.match(text[end:])):
                if not text.startswith(("路", "街", "大道"), end):
                    return True
            at = text.find(name, end)
    return False


def doc_years(doc: Document) -> tuple[set[int], int | None]:
    """(years the document is of: its dates, its title's years and ranges, its 文号's year;
    the earliest year it is dated by, or None)."""
    years: set[int] = set()
    dated: list[int] = []
    for iso in (doc.publish_date, doc.effective_date):
        if iso:
            years.add(int(iso[:4]))
            dated.append(int(iso[:4]))
    title = "".join(doc.title.split())
    for a, b in _YEAR_RANGE.findall(title):
        lo, hi = sorted((int(a), int(b)))
        if hi - lo <= 10:
            years.update(range(lo, hi + 1))
    years.update(int(y) for y in re.findall(r"(?<!\d)((?:19|20)\d\d)(?!\d)", title))
    if doc.doc_number:
        m = re.search(r"〔((?:19|20)\d\d)〕", normalize_doc_number(doc.doc_number))
        if m:
            years.add(int(m.group(1)))
            dated.append(int(m.group(1)))
    return years, (min(dated) if dated else None)


def _year_verdict(c: Constraints, doc: Document) -> Verdict:
    years, first = doc_years(doc)
    if any(y in years for y in c.years):
        return Verdict.MEETS
    # Dated after every year asked: it cannot be that year's policy. Dated before: it may still
    # have been in force then.
    if first is not None and all(first > y for y in c.years):
        return Verdict.CONFLICTS
    return Verdict.UNKNOWN


def _number_verdict(c: Constraints, doc: Document) -> Verdict:
    if doc.doc_number and normalize_doc_number(doc.doc_number) in c.doc_numbers:
        return Verdict.MEETS
    head = doc.text[:TEXT_HEAD_CHARS]
    # The 文号 printed under the title, not extracted into metadata (its regex only where its prefix is).
    if any(n[:2] in head for n in c.doc_numbers) and set(c.doc_numbers) & set(find_doc_numbers(head)):
        return Verdict.MEETS
    return Verdict.CONFLICTS if doc.doc_number else Verdict.UNKNOWN


def _title_verdict(c: Constraints, doc: Document) -> Verdict:
    have = "" if doc.metadata.get("title_from_text") else normalize_title(doc.title)
    # Contained either way, or the named words in order (国务院户籍制度改革意见 in 国务院关于进一步
    # 推进户籍制度改革的意见): residents shorten titles, they rarely reorder them.
    for t in c.titles:
        want = normalize_title(t)
        if have and (want in have or have in want or _subsequence(want, have)):
            return Verdict.MEETS
    # An interpretation or a cover notice quotes the title it is about.
    head = doc.text[:TEXT_HEAD_CHARS]
    if any(normalize_title(t) in normalize_title(head) for t in c.titles):
        return Verdict.MEETS
    return Verdict.CONFLICTS if have else Verdict.UNKNOWN


def _subsequence(short: str, long: str) -> bool:
    it = iter(long)
    return all(ch in it for ch in short)


def verdict(c: Constraints, doc: Document | None, passage_text: str = "") -> Verdict:
    """The worst verdict over the constraints `c` puts on `doc` (None: unknown)."""
    if not c or doc is None:
        return Verdict.UNKNOWN if c else Verdict.MEETS
    parts = []
    if c.places:
        parts.append(_place_verdict(c, doc, passage_text))
    if c.years:
        parts.append(_year_verdict(c, doc))
    if c.doc_numbers:
        parts.append(_number_verdict(c, doc))
    if c.titles:
        parts.append(_title_verdict(c, doc))
    return max(parts)


# ---------------------------------------------------------------- use in answering


@dataclass(frozen=True)
class Ordered:
    hits: list[Hit]
    verdicts: dict[str, Verdict]  # doc id -> verdict


def prefer_satisfying(
    c: Constraints, hits: Sequence[Hit], get_document: Callable[[str], Document | None], drop: bool = True
) -> Ordered:
    """`hits` without those of contradicting documents when any other is left (`drop`; else those
    are moved behind the others), stable otherwise. With none left, all are kept: the answer then
    says no document fits.

    Dropping rather than demoting keeps a second or third answer sentence from quoting another
    city's date after the asked city's. A demoted hit's score is capped at the score of the hit
    before it, so the order stays score-descending for the stages that read relative scores.
    """
    if not c or not hits:
        return Ordered(list(hits), {})
    verdicts: dict[str, Verdict] = {}
    for h in hits:
        # The best any of a document's passages gets: one passage naming the place confirms it.
        v = verdict(c, get_document(h.doc_id), h.passage.text)
        verdicts[h.doc_id] = min(v, verdicts.get(h.doc_id, Verdict.CONFLICTS))
    fits = [h for h in hits if verdicts[h.doc_id] is not Verdict.CONFLICTS]
    if drop and fits:
        return Ordered(fits, verdicts)
    out: list[Hit] = []
    for h in fits + [h for h in hits if verdicts[h.doc_id] is Verdict.CONFLICTS]:
        if out and h.score > out[-1].score:
            h = replace(h, score=out[-1].score)
        out.append(h)
    return Ordered(out, verdicts)


def unmet_message(c: Constraints) -> str:
    """What the answer says when the document it quotes contradicts the question's constraints."""
    kinds = (("地区", c.places), ("年份", c.years), ("文号", c.doc_numbers), ("文件名称", c.titles))
    check = [k for k, on in kinds if on]
    return f"没有找到符合“{c.label}”的文件，回答引自最接近的文件，请核对其适用的{'、'.join(check)}"
