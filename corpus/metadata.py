"""Metadata extraction from Chinese policy text: 文号, issuer, dates, doc type, region.

Sources are uneven: some carry 文号 and issuer, most do not. These functions fill
the gaps from the title and text. They are pure and fast (regexes, no models), so
the loaders can call them on every document.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass

from corpus import regions as _regions

__all__ = [
    "ExtractedMetadata",
    "extract_metadata",
    "extract_doc_number",
    "normalize_doc_number",
    "find_doc_numbers",
    "strip_trailing_doc_number",
    "doc_number_family",
    "parse_date",
    "find_dates",
    "extract_publish_date",
    "extract_effective_date",
    "extract_issuer",
    "issuer_from_doc_number",
    "extract_doc_type",
    "extract_region",
    "is_interpretation",
    "quoted_titles",
]

_CJK = "\u4e00-\u9fff"

# ---------------------------------------------------------------- 文号

_OPEN = "〔[［(（【"
_CLOSE = "〕]］)）】"
# prefix: an org abbreviation such as 国办发 / 济历城政办字 / 鲁政办发; year in any bracket.
_DOC_NO_RE = re.compile(
    rf"(?<!\d)([{_CJK}]{{1,12}})\s*[{re.escape(_OPEN)}]\s*((?:19|20)\d\d)\s*[{re.escape(_CLOSE)}]\s*第?\s*(\d{{1,4}})\s*号"
)
# 国令第707号 (State Council decrees) have no year.
_DECREE_RE = re.compile(rf"(?<!\d)([{_CJK}]{{1,8}}令)\s*第\s*(\d{{1,4}})\s*号")
# Words that end a title or a sentence and so cannot be part of an org abbreviation.
_PREFIX_STOP = re.compile(
    r".*(?:通知|意见|办法|规定|决定|方案|批复|公告|通告|细则|规划|条例|函|的|于|号|和|及|、|印发|转发"
    r"|根据|依据|按照|参照|请问|查询|查一下|查找|搜索|是|在|与|即)"
)
_LABEL_DOC_NO = re.compile(r"(?:发文字号|文\s*号)\s*[:：]?\s*\t?\s*([^\n\t]{4,30}?号)")


def normalize_doc_number(value: str) -> str:
    """Normalise bracket variants to 〔〕 and drop inner spaces: 鲁政办发[2020]3号 -> 鲁政办发〔2020〕3号."""
    m = _DOC_NO_RE.search(value)
    if m:
        return f"{_trim_prefix(m.group(1))}〔{m.group(2)}〕{int(m.group(3))}号"
    m = _DECREE_RE.search(value)
    if m:
        return _decree(m)
    return re.sub(r"\s+", "", value)


def _decree(m: re.Match[str]) -> str:
    prefix = _trim_prefix(m.group(1))
    # 中华人民共和国国务院令 第707号 is cited as 国令第707号
    if prefix.endswith("国务院令"):
        prefix = "国令"
    return f"{prefix}第{int(m.group(2))}号"


def _trim_prefix(prefix: str) -> str:
    m = _PREFIX_STOP.match(prefix)
    if m and m.end() < len(prefix):
        return prefix[m.end() :]
    return prefix


def extract_doc_number(title: str, text: str = "") -> str | None:
    """The document's own 文号, from the title, a 发文字号 label, or the header lines.

    Only the header (first ~800 chars) and the title are searched: numbers quoted in
    the body (依据《…》（国发〔2015〕5号）) belong to other documents.
    """
    m = _LABEL_DOC_NO.search(text[:1500])
    if m:
        n = _match_doc_number(m.group(1))
        if n:
            return n
    for source in (title, text[:800]):
        n = _match_doc_number(source, own_line=source is not title)
        if n:
            return n
    return None


def _match_doc_number(s: str, own_line: bool = False) -> str | None:
    for m in _DOC_NO_RE.finditer(s):
        if own_line and _is_quoted(s, m.start()):
            continue
        prefix = _trim_prefix(m.group(1))
        if not prefix:
            continue
        return f"{prefix}〔{m.group(2)}〕{int(m.group(3))}号"
    m = _DECREE_RE.search(s)
    if m and not (own_line and _is_quoted(s, m.start())):
        return _decree(m)
    return None


def _is_quoted(s: str, pos: int) -> bool:
    """True when the 文号 at pos follows a 《title》 citation (（国发〔…〕…号）), i.e. cites another doc."""
    before = s[max(0, pos - 3) : pos]
    return "（" in before or "(" in before or "》" in before


def find_doc_numbers(text: str) -> list[str]:
    """Every 文号 written anywhere in text (queries, citations), normalised, in order, de-duplicated."""
    found: dict[str, None] = {}
    for m in _DOC_NO_RE.finditer(text):
        prefix = _trim_prefix(m.group(1))
        if prefix:
            found.setdefault(f"{prefix}〔{m.group(2)}〕{int(m.group(3))}号", None)
    for m in _DECREE_RE.finditer(text):
        found.setdefault(_decree(m), None)
    return list(found)


def strip_trailing_doc_number(title: str) -> str:
    """…的通知国发[2015]67号 -> …的通知 (mirror sites append the 文号 to titles)."""
    last = None
    for m in _DOC_NO_RE.finditer(title):
        last = m
    if last is None or last.end() != len(title.rstrip()):
        return title
    prefix = _trim_prefix(last.group(1))
    return title[: last.start(1) + len(last.group(1)) - len(prefix)].rstrip(" -—_")


def doc_number_family(doc_number: str) -> str:
    """The issuing series without year and number: 济历城政办字〔2025〕13号 -> 济历城政办字."""
    m = _DOC_NO_RE.search(doc_number)
    if m:
        return _trim_prefix(m.group(1))
    return re.split(r"[〔\[［(（【第]", doc_number, maxsplit=1)[0]


# ---------------------------------------------------------------- dates

_CN_DIGITS = {
    "〇": 0,
    "○": 0,
    "零": 0,
    "O": 0,
    "Ｏ": 0,
    "０": 0,
    "一": 1,
    "二": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CN_NUM = "〇○零OＯ０一二三四五六七八九十"
_DATE_RE = re.compile(
    rf"((?:19|20)\d\d)\s*年\s*(\d{{1,2}})\s*月\s*(\d{{1,2}})\s*日"
    rf"|([{_CN_NUM}]{{4}})\s*年\s*([{_CN_NUM}]{{1,3}})\s*月\s*([{_CN_NUM}]{{1,3}})\s*日"
    r"|((?:19|20)\d\d)[-./](\d{1,2})[-./](\d{1,2})(?!\d)"
)


def _cn_small(s: str) -> int | None:
    """Chinese numerals 1..31: 九, 十, 十二, 二十, 三十一."""
    if not s:
        return None
    if "十" in s:
        tens, _, ones = s.partition("十")
        t = _CN_DIGITS.get(tens, None) if tens else 1
        o = _CN_DIGITS.get(ones, None) if ones else 0
        if t is None or o is None:
            return None
        return t * 10 + o
    if len(s) == 1:
        return _CN_DIGITS.get(s)
    return None


def _iso(y: int, m: int, d: int) -> str | None:
    try:
        return _dt.date(y, m, d).isoformat()
    except ValueError:
        return None


def _match_to_iso(m: re.Match[str]) -> str | None:
    if m.group(1):
        return _iso(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    if m.group(4):
        digits = [_CN_DIGITS.get(c) for c in m.group(4)]
        if any(d is None for d in digits):
            return None
        y = int("".join(str(d) for d in digits))
        mo, d = _cn_small(m.group(5)), _cn_small(m.group(6))
        if mo is None or d is None:
            return None
        return _iso(y, mo, d)
    return _iso(int(m.group(7)), int(m.group(8)), int(m.group(9)))


def parse_date(value: str) -> str | None:
    """The first date in value as ISO: 2025年7月9日 / 二〇二五年七月九日 / 2025-07-09 -> 2025-07-09."""
    for m in _DATE_RE.finditer(value):
        iso = _match_to_iso(m)
        if iso:
            return iso
    return None


def find_dates(text: str) -> list[tuple[str, int]]:
    """All valid dates in text as (iso, char offset)."""
    out = []
    for m in _DATE_RE.finditer(text):
        iso = _match_to_iso(m)
        if iso:
            out.append((iso, m.start()))
    return out


_LABEL_DATE = re.compile(r"(?:发布日期|成文日期|印发日期|发文日期|公布日期)\s*[:：]?\s*\t?\s*([^\n\t]{6,20})")


def extract_publish_date(title: str, text: str) -> str | None:
    """The document's date: a labelled 发布/成文日期, else the signature date at the end, else one
    in the header (a news-style "2016-09-20 来源：…" line)."""
    m = _LABEL_DATE.search(text[:1500])
    if m:
        iso = parse_date(m.group(1))
        if iso:
            return iso
    tail = text[-300:]
    dates = find_dates(tail)
    if dates:
        iso, pos = dates[-1]
        # A signature date stands on its own near the end, not inside a sentence (自2025年1月1日起施行).
        after = tail[pos : pos + 20]
        if "起" not in after and "施行" not in after and "前" not in after:
            return iso
    head = text[:300]
    for iso, pos in find_dates(head):
        line_start = head.rfind("\n", 0, pos) + 1
        line = head[line_start : head.find("\n", pos) if head.find("\n", pos) >= 0 else len(head)]
        if len(line) <= 40 and not re.search(r"[。；起前]|施行", line):  # a dateline, not a sentence
            return iso
    return parse_date(title) if title else None


_EFFECTIVE_RE = re.compile(r"自\s*([^，。；\n]{6,20}?)\s*起(?:施行|执行|实施|生效)")


def extract_effective_date(text: str) -> str | None:
    """The 自X起施行 date, searched from the end where 附则 put it."""
    tail = text[-600:]
    ms = list(_EFFECTIVE_RE.finditer(tail))
    for m in reversed(ms):
        iso = parse_date(m.group(1))
        if iso:
            return iso
    return None


# ---------------------------------------------------------------- issuer

# Common 文号 prefixes; the prefix table is the reliable route for national and Shandong/Jinan docs.
_PREFIX_ISSUERS: dict[str, str] = {
    "国发": "国务院",
    "国函": "国务院",
    "国令": "国务院",
    "国办发": "国务院办公厅",
    "国办函": "国务院办公厅",
    "国办发明电": "国务院办公厅",
    "鲁政发": "山东省人民政府",
    "鲁政字": "山东省人民政府",
    "鲁政办发": "山东省人民政府办公厅",
    "鲁政办字": "山东省人民政府办公厅",
    "鲁政办函": "山东省人民政府办公厅",
    "济政发": "济南市人民政府",
    "济政字": "济南市人民政府",
    "济政办发": "济南市人民政府办公厅",
    "济政办字": "济南市人民政府办公厅",
    "济历城政发": "济南市历城区人民政府",
    "济历城政字": "济南市历城区人民政府",
    "济历城政办发": "济南市历城区人民政府办公室",
    "济历城政办字": "济南市历城区人民政府办公室",
    "京政发": "北京市人民政府",
    "京政办发": "北京市人民政府办公厅",
    "沪府发": "上海市人民政府",
    "沪府办发": "上海市人民政府办公厅",
    "粤府": "广东省人民政府",
    "粤府办": "广东省人民政府办公厅",
    "教基": "教育部",
    "教发": "教育部",
    "人社部发": "人力资源社会保障部",
    "财税": "财政部",
    "财社": "财政部",
    "民发": "民政部",
    "建城": "住房和城乡建设部",
}

_ORG_SUFFIX = (
    "人民政府办公厅|人民政府办公室|人民政府|办公厅|办公室|委员会|常务委员会|人民代表大会|"
    "指挥部|领导小组|管理委员会|管委会|总局|局|厅|部|委|院|署|中心|协会|银行|法院|检察院|政府"
)
_TITLE_ISSUER_RE = re.compile(rf"^([{_CJK}、　 ]{{2,60}}?(?:{_ORG_SUFFIX}))(?:关于|印发|转发|办公室关于)")
_SIGN_LINE_RE = re.compile(rf"^[{_CJK}（）()、　 ]{{2,40}}(?:{_ORG_SUFFIX})$")


def issuer_from_doc_number(doc_number: str | None) -> str | None:
    if not doc_number:
        return None
    fam = doc_number_family(doc_number)
    if fam in _PREFIX_ISSUERS:
        return _PREFIX_ISSUERS[fam]
    # 国令第707号 -> 国令
    for key in sorted(_PREFIX_ISSUERS, key=len, reverse=True):
        if doc_number.startswith(key):
            return _PREFIX_ISSUERS[key]
    return None


def extract_issuer(title: str, text: str = "", doc_number: str | None = None) -> str | None:
    """Issuing body: from the title (XX人民政府关于…), the 发文机关 label, the signature, or the 文号 table."""
    m = re.search(r"发文机关\s*[:：]\s*\t?\s*([^\t\n]{2,40})", text[:1500])
    if m:
        return m.group(1).strip()
    clean_title = re.sub(r"\s+", " ", title or "").strip()
    m = _TITLE_ISSUER_RE.match(clean_title)
    if m:
        return _clean_issuer(m.group(1))
    sig = _signature_issuer(text)
    if sig:
        return sig
    return issuer_from_doc_number(doc_number)


def _clean_issuer(s: str) -> str:
    s = re.sub(r"[\s　]+", " ", s).strip()
    # joint issuers are written with spaces in titles: 财政部 税务总局 -> 财政部、税务总局
    return "、".join(p for p in s.split(" ") if p)


def _signature_issuer(text: str) -> str | None:
    """The org line(s) directly above the closing date (the signature block)."""
    tail = text[-400:]
    dates = find_dates(tail)
    if not dates:
        return None
    _, pos = dates[-1]
    before = tail[:pos]
    # NCP-style single-line text uses ideographic spaces instead of newlines.
    lines = [ln.strip(" 　\t") for ln in re.split(r"\n|\u3000{2,}", before)]
    lines = [ln for ln in lines if ln]
    orgs: list[str] = []
    for ln in reversed(lines[-3:]):
        if _SIGN_LINE_RE.match(ln):
            orgs.insert(0, ln.replace("　", "").replace(" ", ""))
        else:
            break
    if not orgs:
        return None
    # a multi-line signature of one body (内江经济技术开发区 / 应对…指挥部) is one name
    if len(orgs) == 2 and not orgs[0].endswith(("政府", "局", "委员会", "厅", "部")):
        return "".join(orgs)
    return "、".join(orgs)


# ---------------------------------------------------------------- type, region, interpretation

_INTERP_RE = re.compile(r"解读|答记者问|一图读懂|图解|问答")
_DOC_TYPES = (
    "通知",
    "意见",
    "办法",
    "规定",
    "条例",
    "决定",
    "方案",
    "细则",
    "规则",
    "规划",
    "计划",
    "批复",
    "公告",
    "通告",
    "函",
    "报告",
    "要点",
    "指南",
    "纲要",
    "决议",
    "命令",
    "令",
    "章程",
    "标准",
    "清单",
    "目录",
    "措施",
)


def is_interpretation(title: str) -> bool:
    return bool(title) and bool(re.search(r"解读|答记者问|一图读懂|图解", title))


def extract_doc_type(title: str) -> str | None:
    """The head noun of the title: …办法的通知 -> 通知; 政策解读/答记者问 -> 解读."""
    if not title:
        return None
    if is_interpretation(title):
        return "解读"
    t = re.sub(r"[（(【\[][^）)】\]]*[）)】\]]\s*$", "", title.strip())  # trailing (试行) / (2023年修订)
    t = re.sub(rf"[-—_ ]*[{_CJK}]*[〔\[［(（]\d{{4}}[〕\]］)）]\d+号\s*$", "", t)  # trailing 文号
    t = re.sub(r"[\d\s（）()年版修订正]+$", "", t)
    best: tuple[int, str] | None = None
    for dt in _DOC_TYPES:
        i = t.rfind(dt)
        if i < 0:
            continue
        end = i + len(dt)
        # "令" / "函" are single chars that appear inside words; only accept them at the very end.
        if len(dt) == 1 and end != len(t):
            continue
        if best is None or end > best[0] or (end == best[0] and len(dt) > len(best[1])):
            best = (end, dt)
    return best[1] if best else None


# Province-level divisions, their short forms and Jinan's districts come from the national
# division table (corpus.regions, GB/T 2260); re-exported here for the code that imports them.
PROVINCES = _regions.PROVINCES
MUNICIPALITIES = _regions.MUNICIPALITIES
SHORT_PROVINCES = _regions.SHORT_PROVINCES
JINAN_DISTRICTS = _regions.JINAN_DISTRICTS
_CITY_RE = re.compile(rf"([{_CJK}]{{2,6}}?(?:市|自治州|地区|盟))")
_COUNTY_RE = re.compile(
    rf"([{_CJK}]{{1,6}}?(?:区|县|旗))(?:人民政府|政府|教育|民政|人力|财政|住房|卫生|关于|[{_CJK}]{{0,8}}(?:局|委|办))"
)
_NOT_REGION = re.compile(
    r"地区|社区|园区|景区|城区|辖区|开发区|试验区|示范区|自贸区|新区|特区|小区|片区|校区|老区|区县"
)


def extract_region(title: str, issuer: str | None = None) -> str | None:
    """Province / city / district named at the start of the issuer or title: 济南市历城区, 上海市, 山东省."""
    for src in (issuer or "", title or ""):
        src = re.sub(r"\s+", "", src)
        if not src:
            continue
        head = src.split("关于", 1)[0] if "关于" in src else src[:20]
        region = _region_of(head)
        if region:
            return region
    return None


def _region_of(head: str) -> str | None:
    parts: list[str] = []
    rest = head
    for p in PROVINCES:
        if rest.startswith(p):
            parts.append(p)
            rest = rest[len(p) :]
            break
    else:
        for short, full in SHORT_PROVINCES.items():
            if rest.startswith(short) and not rest.startswith(short + "路"):
                parts.append(full)
                rest = rest[len(short) :]
                break
    if parts and parts[0] in MUNICIPALITIES:
        pass
    else:
        m = _CITY_RE.match(rest)
        if m and not _NOT_REGION.search(m.group(1)) and "人民" not in m.group(1):
            parts.append(m.group(1))
            rest = rest[m.end() :]
    county = _county_at(rest, parts)
    if county is not None:
        if not parts:  # 历城区… alone: its city first (济南市历城区)
            parts.append(county.city or county.province)
        parts.append(county.name)
        return "".join(parts)
    m = _COUNTY_RE.match(rest)
    if m and parts and not _NOT_REGION.search(m.group(1)):
        parts.append(m.group(1))
    return "".join(parts) or None


def _county_at(rest: str, parts: list[str]) -> _regions.Division | None:
    """The county of the division table that `rest` starts with, inside the province or city in
    `parts` when there is one (济南市|历城区…, 湖北省|巴东县…)."""
    if not rest:
        return None
    d = _regions.parse_place("".join(parts) + rest, prefer=_regions.HOME_PREFER)
    if d is None or d.level != "county" or not rest.startswith(d.name):
        return None
    if parts and parts[-1] not in (d.city, d.province):
        return None
    return d


_QUOTED_RE = re.compile(r"《([^《》\n]{4,80})》")


def quoted_titles(text: str) -> list[str]:
    """Titles cited as 《…》, in order of appearance, de-duplicated."""
    seen: dict[str, None] = {}
    for m in _QUOTED_RE.finditer(text):
        seen.setdefault(m.group(1).strip(), None)
    return list(seen)


# ---------------------------------------------------------------- all together


@dataclass(frozen=True)
class ExtractedMetadata:
    doc_number: str | None = None
    issuer: str | None = None
    publish_date: str | None = None
    effective_date: str | None = None
    doc_type: str | None = None
    region: str | None = None
    is_interpretation: bool = False
    interprets_title: str | None = None  # the 《title》 an interpretation explains


def extract_metadata(title: str, text: str) -> ExtractedMetadata:
    """Everything extractable from title and text. Callers keep source values that exist."""
    doc_number = extract_doc_number(title, text)
    issuer = extract_issuer(title, text, doc_number)
    interp = is_interpretation(title)
    interprets = None
    if interp:
        cited = quoted_titles(title) or quoted_titles(text[:600])
        interprets = cited[0] if cited else None
    return ExtractedMetadata(
        doc_number=doc_number,
        issuer=issuer,
        publish_date=extract_publish_date(title, text),
        effective_date=extract_effective_date(text),
        doc_type=extract_doc_type(title),
        region=extract_region(title, issuer),
        is_interpretation=interp,
        interprets_title=interprets,
    )
