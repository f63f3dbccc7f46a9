"""The subscription form's region checks (qa_service.push.service.build_profile) against the division table."""

from __future__ import annotations

import re

import pytest

from qa_service.errors import ApiError
from qa_service.push.schemas import ProfileIn
from qa_service.push.service import build_profile

CJK = re.compile(r"[\u4e00-\u9fff]")


def body(**overrides) -> ProfileIn:
    fields = {"kind": "resident", "province": "山东省", "city": "济南市", "district": "历城区", "topics": ["教育"]}
    fields.update(overrides)
    return ProfileIn(**fields)


@pytest.mark.parametrize(
    ("province", "city", "district"),
    [
        ("四川省", "成都市", "金堂县"),
        ("西藏自治区", "拉萨市", "城关区"),
        ("新疆维吾尔自治区", "伊犁哈萨克自治州", "伊宁市"),
        ("北京市", "北京市", "通州区"),
        ("广东省", "中山市", "西区"),  # a city without counties: its areas are taken as written
        ("山东省", "济南市", "济南高新技术产业开发区"),  # functional area with streets in jinan_streets.csv
    ],
)
def test_real_districts_of_any_province_are_accepted(province: str, city: str, district: str) -> None:
    profile, _ = build_profile(body(province=province, city=city, district=district), "p1")
    assert (profile.province, profile.city, profile.district) == (province, city, district)


def test_former_county_name_becomes_todays_district() -> None:
    profile, _ = build_profile(body(district="济阳县"), "p1")
    assert profile.district == "济阳区"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"district": "幸福区"}, "区县“幸福区”不是济南市的区县"),
        ({"province": "四川省", "city": "成都市", "district": "历城区"}, "区县“历城区”不是成都市的区县"),
        ({"city": "快乐市", "district": None}, "城市“快乐市”不是山东省的地级行政区"),
        ({"province": "湖北省", "city": "济南市", "district": None}, "城市“济南市”不是湖北省的地级行政区"),
    ],
)
def test_made_up_or_misplaced_places_are_refused_in_chinese(overrides: dict, message: str) -> None:
    with pytest.raises(ApiError) as err:
        build_profile(body(**overrides), "p1")
    assert message in err.value.message and CJK.search(err.value.message)
