"""Where a policy applies, by deterministic rules in this order:

1. an office of a national body is at its own level: 国家税务总局济南市税务局 -> 济南市;
2. national bodies are national, except a reply (批复, 复函) about one area: 关于同意以哈尔滨市名义… -> 哈尔滨市;
3. else the region of the issuer or title, then the first place of the opening lines (datelines
   such as 新华社北京…电 skipped), then the folder of a mirrored collection (…/武汉/教育);
4. a local text (本市…) with no such place: the first place of that level written in full;
5. a scope clause (本办法适用于历下区、市中区) narrows a city to the districts it names; 本市行政区域 keeps it.

Every place is looked up in the national division table (`corpus.regions`, GB/T 2260), so any
province, city or county of China resolves, and the result keeps its codes.
"""

from __future__ import annotations

import re

from corpus import regions
from corpus.metadata import extract_region
from corpus.models import Document
from corpus.push.targeting import Jurisdiction, JurisdictionLevel
from corpus.regions import MUNICIPALITIES, Division

PREFER = regions.HOME_PREFER

# Bodies whose documents apply nationwide.
_NATIONAL_RE = re.compile(
    r"^(?:中华人民共和国|中共中央|国务院|全国人[大民]|国家(?!级)|中央|财政部|教育部|公安部|民政部|商务部|"
    r"海关总署|税务总局|人力资源(?:和)?社会保障部|人社部|劳动(?:和社会保障|保障)?部|劳保部|卫生部|农业部|"
    r"国土资源部|自然资源部|住房和城乡建设部|建设部|交通运输部|工业和信息化部|工信部|生态环境部|环境保护部|"
    r"国家卫生|人民银行|中国人民银行|银保监会|证监会|国家发展|发改|[^\s，。]{1,10}部(?:令|关于|：|-|办公厅)|"
    r"[^\s，。]{1,8}总局)"
)
_ALL_PROVINCES_RE = re.compile(r"各省、自治区、直辖市")
_NATIONAL_SIGN_RE = re.compile(
    r"(?:国务院|国家[\u4e00-\u9fff]{2,12}(?:局|委员会|总局)|海关总署|[\u4e00-\u9fff]{2,10}(?<!指挥|俱乐)(?<!支)部)\s*(?:19|20)\d\d年"
)
_LOCAL_RE = re.compile(r"我市|本市|我省|本省")
_SOURCE_RE = re.compile(r"来源[:：]\s*([\u4e00-\u9fff]{2,12})")
_NATIONAL_LAW_RE = re.compile(r"^[^省市区县]{2,20}法(?:（[^）]*）)?(?:\d{4})?$")
_SCOPE_RE = re.compile(
    r"(?:本(?:省|市|区|县|自治区)(?:行政区域|行政区划|范围|辖区)(?:内|范围内))|(?:适用于[^。；\n]{0,40})"
)
# The org part of an issuer or title: everything before 关于 / 印发 / 转发.
_ORG_END_RE = re.compile(r"关于|印发|转发")
_DATELINE_RE = re.compile(r"(?:新华社|中新网|人民网|央视网|中新社)[\u4e00-\u9fff]{2,4}\d{1,2}月\d{1,2}日电")
# After a city that has no counties (东莞市, 中山市): the area it names next (中山市西区).
_AREA_AFTER_CITY_RE = re.compile(r"[\u4e00-\u9fff]{1,4}?区")
_NOT_AREA_RE = re.compile(r"社区|园区|城区|辖区|景区|小区|地区|新区|开发区|全区|市区")


def jurisdiction_of(doc: Document) -> Jurisdiction:
    """Where `doc` applies: the rules of the module docstring, in that order."""
    title = re.sub(r"\s+", "", doc.title or "")
    text = doc.text or ""
    head = text[:300]
    issuer = doc.issuer or ""
    # a local branch of a national body (国家税务总局济南市税务局) is at its own level
    branch = _branch_place(issuer) or _branch_place(_ORG_END_RE.split(title, maxsplit=1)[0] if "关于" in title else "")
    if branch is not None:
        return _scoped(branch, text)
    national_law = bool(_NATIONAL_LAW_RE.search(title)) and not regions.find_places(title, shorts=False)
    national = bool(_NATIONAL_RE.search(title) or _NATIONAL_RE.search(issuer) or national_law)
    if not title or doc.metadata.get("title_from_text"):
        national = national or bool(_NATIONAL_RE.search(head.lstrip("（( 　")))
    # written to every province, or signed by a national body
    national = national or bool(_ALL_PROVINCES_RE.search(head)) or bool(_NATIONAL_SIGN_RE.search(text[-80:]))
    if national:
        # a national body writing to or about one place (复函, 先行区): that place
        about = title.split("关于", 1)[1] if "关于" in title else ""
        if title.endswith(("批复", "复函", "函")) or about.startswith("在"):
            return _about_place(about) or Jurisdiction()
        return Jurisdiction()
    base = (
        _parse_region(doc.region or "")
        or _parse_region(extract_region(title, issuer) or "")
        or _region_in(title, skip_datelines=True)
        or _parse_region(str(doc.metadata.get("source_issuer") or ""))
        or _region_in(head, skip_datelines=True)
        or _region_in(" ".join(_SOURCE_RE.findall(text[-300:])))
        # the folder a mirrored collection filed it under (…/京蓉宁汉郑-5城/武汉/教育)
        or _deepest_in_path(str(doc.metadata.get("topic_path") or ""))
    )
    if base is None:
        # a local text ("我市…") whose place we cannot name: reach no one rather than everyone
        m = _LOCAL_RE.search(text[:1000])
        if m:
            place = _first_of_level(text, province_level="省" in m.group(0))
            if place is not None:  # the first place of that level written in full (本市…“北京市…系统”)
                return _scoped(place, text)
            level = JurisdictionLevel.PROVINCIAL if "省" in m.group(0) else JurisdictionLevel.MUNICIPAL
            return Jurisdiction(level)
        return Jurisdiction()
    return _scoped(base, text)


def _deepest_in_path(path: str) -> Jurisdiction | None:
    """The deepest folder named after a place: …/京蓉宁汉郑-5城/武汉/教育 -> 武汉市 (not 广东-6城)."""
    for folder in reversed(path.split("/")):
        if regions.is_division_name(folder):
            d = regions.parse_place(folder, prefer=PREFER)
            if d is not None:
                return from_division(d)
    return None


def _first_of_level(text: str, province_level: bool) -> Jurisdiction | None:
    """The first province (本省) or city (本市; a municipality is one) named in full in `text`."""
    for m in regions.find_places(text, prefer=PREFER, shorts=False):
        d = m.division
        municipality = d.province in MUNICIPALITIES
        if province_level and d.level == "province" and not municipality:
            return from_division(d)
        if not province_level and municipality:
            return from_division(regions.province_named(d.province) or d)
        if not province_level and d.level != "province":
            return from_division(regions.city_named(d.city or "", d.province) or d)
    return None


def _about_place(about: str) -> Jurisdiction | None:
    """The one area a national reply is about: 同意以哈尔滨市名义… -> 哈尔滨市; 湖北省巴东县… -> 巴东县;
    乌鲁木齐、昌吉… -> their province; places in several provinces -> None."""
    found: list[Division] = []
    prev_end = -1
    for m in regions.find_places(about, prefer=PREFER):
        d = m.division
        if m.start == prev_end and found[-1].level != "county" and d.level != "province":
            found[-1] = d  # 湖北省巴东县: the county inside its province
        else:
            found.append(d)
        prev_end = m.end
    if not found or len({d.province for d in found}) > 1:
        return None
    if len({d.code for d in found}) == 1:
        return from_division(found[0])
    cities = {d.city for d in found}
    if len(cities) == 1 and None not in cities and found[0].city not in MUNICIPALITIES:
        return from_division(regions.city_named(found[0].city or "", found[0].province) or found[0])
    return from_division(regions.province_named(found[0].province) or found[0])


def _branch_place(org: str) -> Jurisdiction | None:
    """国家税务总局甘肃省税务局 -> 甘肃省; 中国人民银行济南分行营业管理部 -> None (no full place name):
    the place named in full inside the name of a national body's office."""
    org = re.sub(r"\s+", "", org)
    if not org or not _NATIONAL_RE.match(org):
        return None
    mentions = regions.find_places(org, prefer=PREFER, shorts=False)
    if not mentions or mentions[0].start == 0:
        return None
    d = mentions[0].division
    for nxt in mentions[1:]:
        if nxt.start != mentions[0].end:
            break
        d = nxt.division
    return from_division(d)


def from_division(d: Division) -> Jurisdiction:
    """A table division as a jurisdiction: 山东省 -> provincial, 济南市 -> municipal, 历城区 -> district;
    a municipality (北京市) is provincial, its districts have city = the municipality."""
    if d.level == "province":
        return Jurisdiction(JurisdictionLevel.PROVINCIAL, d.province, codes=(d.code,))
    if d.level == "city":
        return Jurisdiction(JurisdictionLevel.MUNICIPAL, d.province, d.city, codes=(d.code,))
    return Jurisdiction(JurisdictionLevel.DISTRICT, d.province, d.city, (d.name,), codes=(d.code,))


def _scoped(base: Jurisdiction, text: str) -> Jurisdiction:
    """Narrow a city-level jurisdiction to named districts when the scope clause lists them."""
    if base.level is JurisdictionLevel.DISTRICT or base.level is JurisdictionLevel.NATIONAL:
        return base
    city = base.city or (base.province if base.province in MUNICIPALITIES else None)
    if city is None or base.province is None:
        return base
    for m in _SCOPE_RE.finditer(text[:3000]):
        clause = m.group(0)
        if "行政区域" in clause or "全市" in clause or "全省" in clause:
            return base
        named: list[Division] = []
        for mention in regions.find_places(clause, prefer=PREFER, within=regions.city_named(city, base.province)):
            d = mention.division
            if d.level == "county" and d.province == base.province and d.city == city and d not in named:
                named.append(d)
        if named:
            return Jurisdiction(
                JurisdictionLevel.DISTRICT,
                base.province,
                city,
                tuple(d.name for d in named),
                codes=tuple(d.code for d in named),
            )
    return base


def _parse_region(region: str) -> Jurisdiction | None:
    """济南市历城区 / 上海市 / 宁夏回族自治区 / 武汉市 / 历城区 -> Jurisdiction."""
    region = re.sub(r"\s+", "", region)
    if not region or region == "全国":
        return None
    d = regions.parse_place(region, prefer=PREFER)
    return _with_area(from_division(d), region, d) if d else None


def _with_area(j: Jurisdiction, s: str, d: Division) -> Jurisdiction:
    """中山市西区: a city without counties in the table followed by the area it names."""
    if d.level != "city" or regions.counties_of(d.province, d.city) or not s.startswith(d.name):
        return j
    m = _AREA_AFTER_CITY_RE.match(s[len(d.name) :])
    if m and not _NOT_AREA_RE.search(m.group(0)):
        return Jurisdiction(JurisdictionLevel.DISTRICT, d.province, d.city, (m.group(0),), codes=(d.code,))
    return j


def _region_in(s: str, skip_datelines: bool = False) -> Jurisdiction | None:
    """The first place named anywhere in `s` (a province, city or county, with the county that follows
    its city: 南京市建邺区)."""
    if skip_datelines:
        s = _DATELINE_RE.sub("", s)
    mentions = regions.find_places(s, prefer=PREFER)
    if not mentions:
        return None
    first = mentions[0]
    d = first.division
    # a county right after the first place, inside it
    for nxt in mentions[1:]:
        if nxt.start != first.end or nxt.division.level != "county":
            break
        d, first = nxt.division, nxt
    return _with_area(from_division(d), s[mentions[0].start :], mentions[0].division)
