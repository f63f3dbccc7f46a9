"""The national division table (corpus.regions) against Jinan's street list and by hand-checked names."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from corpus import regions
from corpus.regions import JINAN_DISTRICTS, MUNICIPALITIES, PROVINCES, SHORT_PROVINCES


def _streets(shared_dir: Path) -> list[dict[str, str]]:
    with (shared_dir / "data" / "regions" / "jinan_streets.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.mark.shared
def test_every_street_district_of_jinan_is_in_the_table_with_its_code(shared_dir: Path) -> None:
    rows = _streets(shared_dir)
    assert len(rows) == 164
    for row in rows:
        d = regions.division(row["district_code"])
        assert d is not None, row
        assert (d.name, d.city, d.province) == (row["district"], row["city"], row["province"])
        assert regions.county_named(row["district"], "山东省", "济南市") == d


@pytest.mark.shared
def test_licheng_is_370112_with_its_17_streets(shared_dir: Path) -> None:
    licheng = regions.division("370112")
    assert licheng is not None and (licheng.name, licheng.city, licheng.level) == ("历城区", "济南市", "county")
    streets = [r["street"] for r in _streets(shared_dir) if r["district_code"] == "370112"]
    assert len(streets) == 17 and "洪家楼街道" in streets and "王舍人街道" in streets


def test_provinces_municipalities_and_short_forms() -> None:
    assert len(PROVINCES) == 34
    assert MUNICIPALITIES == ("北京市", "天津市", "上海市", "重庆市")
    assert {
        "广西": "广西壮族自治区",
        "新疆": "新疆维吾尔自治区",
        "内蒙古": "内蒙古自治区",
        "山东": "山东省",
    }.items() <= (SHORT_PROVINCES.items())
    assert "香港" not in SHORT_PROVINCES  # 港澳台居民 names no jurisdiction


def test_jinan_has_its_twelve_districts_after_the_2019_merger() -> None:
    # 章丘区 (2016), 济阳区 (2018), 莱芜区 and 钢城区 (2019): the old cpca table still had 章丘市 / 莱芜市
    assert JINAN_DISTRICTS == (
        "历下区", "市中区", "槐荫区", "天桥区", "历城区", "长清区",
        "章丘区", "济阳区", "莱芜区", "钢城区", "平阴县", "商河县",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "code", "province", "city", "name"),
    [
        ("山东省济南市历城区人民政府", "370112", "山东省", "济南市", "历城区"),
        ("新疆维吾尔自治区伊犁哈萨克自治州", "654000", "新疆维吾尔自治区", "伊犁哈萨克自治州", "伊犁哈萨克自治州"),
        ("西藏自治区拉萨市城关区", "540102", "西藏自治区", "拉萨市", "城关区"),
        ("黑龙江省哈尔滨市道里区", "230102", "黑龙江省", "哈尔滨市", "道里区"),
        ("云南省西双版纳傣族自治州景洪市", "532801", "云南省", "西双版纳傣族自治州", "景洪市"),
        ("湖北省巴东县", "422823", "湖北省", "恩施土家族苗族自治州", "巴东县"),  # the city from the table
        ("上海市静安区", "310106", "上海市", "上海市", "静安区"),  # a municipality is its own city
        ("海南省琼海市", "469002", "海南省", "琼海市", "琼海市"),  # county-level city under the province
        ("石柱县", "500240", "重庆市", "重庆市", "石柱土家族自治县"),  # derived short form
        ("济阳县", "370115", "山东省", "济南市", "济阳区"),  # former name
        ("恩施", "422800", "湖北省", "恩施土家族苗族自治州", "恩施土家族苗族自治州"),
    ],
)
def test_parse_place_far_from_shandong(text: str, code: str, province: str, city: str, name: str) -> None:
    d = regions.parse_place(text, prefer=regions.HOME_PREFER)
    assert d is not None, text
    assert (d.code, d.province, d.city, d.name) == (code, province, city, name)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("市中区", "370103"),  # 济南, 枣庄, 乐山, 内江 have one: the service's own city first
        ("通州区", "110112"),  # 北京 and 南通: the municipality
        ("鼓楼区", None),  # 南京, 福州, 徐州, 开封: no way to tell
        ("城区", None),  # a word as well as a district of 阳泉 / 晋城
        ("番禺区", "440113"),  # one county of that name
    ],
)
def test_county_named_alone(name: str, expected: str | None) -> None:
    d = regions.county_named(name, prefer=regions.HOME_PREFER)
    assert (d.code if d else None) == expected


def test_find_places_keeps_whole_names_after_a_verb() -> None:
    found = regions.find_places("本办法适用于历下区、市中区和槐荫区，以及南京市建邺区。", prefer=regions.HOME_PREFER)
    assert [(m.name, m.division.code) for m in found] == [
        ("历下区", "370102"),
        ("市中区", "370103"),
        ("槐荫区", "370104"),
        ("南京市", "320100"),
        ("建邺区", "320105"),
    ]


@pytest.mark.parametrize(
    "text",
    ["在山东路设点", "临汾路街道社区", "东方市场管理", "相应城市的规定", "城区道路", "大同小异"],
)
def test_find_places_skips_streets_markets_and_words(text: str) -> None:
    assert regions.find_places(text, prefer=regions.HOME_PREFER) == []


def test_chongqing_keeps_the_two_districts_the_bundled_table_dropped() -> None:
    assert regions.county_named("渝北区", "重庆市", "重庆市") == regions.division("500112")
    assert regions.county_named("江北区", "重庆市", "重庆市") == regions.division("500105")
    assert regions.county_named("江北区", prefer=regions.HOME_PREFER) == regions.division("500105")  # not 宁波


def test_unknown_names_and_missing_codes() -> None:
    assert regions.parse_place("幸福市快乐区") is None
    assert regions.division("379999") is None
    assert not regions.is_division_name("幸福区")
