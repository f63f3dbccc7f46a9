"""Streets (街道/乡镇) of a district for the subscription form, and the check of a profile's street.

The town table (corpus.streets, fetched by `make regions`) is read once per path from
`Settings.resolved_regions_dir`. Without it (an offline machine where `make regions` never ran) the
service still starts: the form asks for the street as free text, the API takes any well-formed
name, and one log line says so. A district the table has no towns for is treated the same way.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

from corpus import regions
from corpus.regions import HOME_PREFER, MUNICIPALITIES, Division
from corpus.streets import STREETS_FILE, Street, StreetTable
from qa_service.errors import ApiError, ErrorCode
from qa_service.settings import Settings

logger = logging.getLogger(__name__)

MAX_NAME_CHARS = 40
UNLISTED_NOTICE = "暂无该区县的街道（乡镇）列表，请直接填写街道或乡镇名称。"
NO_TABLE_NOTICE = "街道（乡镇）列表暂不可用，请直接填写街道或乡镇名称。"


@functools.lru_cache(maxsize=4)
def _table_at(path: Path) -> StreetTable | None:
    try:
        table = StreetTable.load(path)
    except FileNotFoundError:
        logger.warning(
            "street table %s not found (run `make regions`): the street field is free text and any "
            "well-formed street is accepted",
            path,
        )
        return None
    except ValueError as exc:  # also json.JSONDecodeError
        logger.error("street table %s unreadable (%s): the street field is free text", path, exc)
        return None
    logger.info("street table: %d streets of %d districts from %s", len(table), table.county_count, path)
    return table


def street_table(settings: Settings) -> StreetTable | None:
    """The town table of these settings, loaded on first use; None when it is not installed."""
    return _table_at(settings.resolved_regions_dir / STREETS_FILE)


@dataclass(frozen=True)
class DistrictStreets:
    """The district's towns; `listed` False: there is no list, so the street is typed and taken as written."""

    division: Division
    streets: tuple[Street, ...]
    listed: bool
    notice: str | None


def _bad(message: str) -> ApiError:
    return ApiError(ErrorCode.INVALID_REQUEST, message)


_EXAMPLES = {"省份": "山东省", "城市": "济南市", "区县": "历城区", "区县代码": "370112"}


def _name(value: str | None, what: str) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if len(value) > MAX_NAME_CHARS or not value.isprintable():
        raise _bad(f"{what}不正确，请填写规范名称，例如“{_EXAMPLES[what]}”。")
    return value


def _county(province: str | None, city: str | None, district: str) -> Division | None:
    if province is not None and province not in regions.PROVINCES:
        raise _bad(f"省份“{province}”不正确，请填写省级行政区全称，例如“山东省”。")
    if province in MUNICIPALITIES and city is None:
        city = province  # a municipality is its own city
    if city is not None and province is not None and regions.city_named(city, province) is None:
        raise _bad(f"城市“{city}”不是{province}的地级行政区，请填写全称，例如“济南市”。")
    return regions.county_named(district, province, city, prefer=HOME_PREFER)  # 市中区 without a city: Jinan's


def district_streets(
    table: StreetTable | None,
    district: str | None,
    province: str | None = None,
    city: str | None = None,
    code: str | None = None,
) -> DistrictStreets:
    """The towns of a district named (inside `province`/`city` when given) or coded (GB/T 2260).

    ApiError (422, Chinese) when the district is not one of the division table."""
    code = _name(code, "区县代码")
    if code is not None:
        found = regions.division(code) if code.isdigit() and len(code) == 6 else None
        if found is None or found.level != "county":
            raise _bad(f"区县代码“{code[:12]}”不正确，应为 6 位行政区划代码，例如“370112”（历城区）。")
        division = found
    else:
        name = _name(district, "区县")
        if name is None:
            raise _bad("请填写区县名称，例如“历城区”。")
        prov, town = _name(province, "省份"), _name(city, "城市")
        division = _county(prov, town, name)
        if division is None:
            where = f"不是{town or prov}的区县" if town or prov else "不在全国区县名单中"
            raise _bad(f"区县“{name}”{where}，请填写全称，例如“历城区”“平阴县”。")
    if table is None:
        return DistrictStreets(division, (), False, NO_TABLE_NOTICE)
    streets = table.of(division.code)
    return DistrictStreets(division, streets, bool(streets), None if streets else UNLISTED_NOTICE)


def _listing(streets: tuple[Street, ...]) -> str:
    names = [s.name for s in streets]
    return "、".join(names) if len(names) <= 30 else "、".join(names[:30]) + "等"


def checked_street(table: StreetTable | None, county: Division, street: str | None) -> str | None:
    """The official name of `street` in `county`; ApiError when the county has a list and it is not in it.

    Without a list (no table, or none for this county) the street stays as written."""
    if street is None or table is None:
        return street
    streets = table.of(county.code)
    if not streets:
        return street
    found = table.find(county.code, street)
    if found is None:
        shown = street if len(street) <= 20 else street[:20] + "…"
        raise ApiError(
            ErrorCode.PROFILE_INVALID,
            f"街道“{shown}”不是{county.name}的街道（乡镇），请从列表中选择：{_listing(streets)}。",
        )
    return found.name
