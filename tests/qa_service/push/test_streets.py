"""Streets of a district (GET /api/regions/streets) and the street check of subscribe and update.

The table is Jinan's 164 official streets from ../shared in the npm table's format (tests/qa_service/
streets.py), in the test's own regions directory; a second state has no table at all (an offline
machine where `make regions` never ran).
"""

from __future__ import annotations

import logging
import re

import pytest
from fastapi.testclient import TestClient

from corpus.streets import Street, StreetTable
from qa_service.app import build_state, create_app
from qa_service.errors import ApiError
from qa_service.push import streets
from qa_service.push.schemas import ProfileIn
from qa_service.push.service import build_profile
from tests.qa_service.conftest import make_settings
from tests.qa_service.push.library import bearer, fake_labeller, profile_body
from tests.qa_service.streets import jinan_rows, write_jinan_table

CJK = re.compile(r"[\u4e00-\u9fff]")
LICHENG = {"province": "山东省", "city": "济南市", "district": "历城区"}


def _client(tmp_path, policy_index, **overrides):
    st = build_state(make_settings(tmp_path, **overrides), index=policy_index)
    st.push_labeller = fake_labeller
    return st, TestClient(create_app(state=st))


@pytest.fixture
def api(tmp_path, policy_index, shared_dir):
    write_jinan_table(shared_dir, tmp_path / "regions")  # the default <data_dir>/regions
    st, client = _client(tmp_path, policy_index)
    with client as c:
        yield c
    st.store.close()
    st.push_store.close()


@pytest.fixture
def offline(tmp_path, policy_index):
    st, client = _client(tmp_path, policy_index, regions_dir=tmp_path / "not-fetched")
    with client as c:
        yield c
    st.store.close()
    st.push_store.close()


def error_of(r, status: int, code: str) -> str:
    assert r.status_code == status, (r.status_code, r.text[:300])
    err = r.json()["error"]
    assert err["code"] == code and CJK.search(err["message"]), err
    return err["message"]


# -- the list ----------------------------------------------------------------------------------------
def test_licheng_lists_its_17_streets_with_codes(api, shared_dir):
    r = api.get("/api/regions/streets", params=LICHENG)
    assert r.status_code == 200 and "max-age" in r.headers["cache-control"]
    body = r.json()
    expected = [(x["street_code"], x["street"]) for x in jinan_rows(shared_dir) if x["district_code"] == "370112"]
    assert [(s["code"], s["name"]) for s in body["streets"]] == sorted(expected) and len(expected) == 17
    assert (body["district"], body["district_code"], body["city"], body["province"]) == (
        "历城区", "370112", "济南市", "山东省",
    )  # fmt: skip
    assert body["listed"] is True and body["notice"] is None


@pytest.mark.parametrize(
    ("params", "code", "count"),
    [
        ({"code": "370176"}, "370176", 5),  # 济南高新技术产业开发区 by its code
        ({**LICHENG, "district": "济南高新技术产业开发区"}, "370176", 5),
        ({"district": "市中区"}, "370103", 17),  # alone, Jinan's (not Zaozhuang's or Jining's)
        ({"province": "山东省", "district": "市中区"}, "370103", 17),  # Zaozhuang and Jining have one too
        ({"province": "山东省", "city": "枣庄市", "district": "市中区"}, "370402", 0),
        ({"province": "山东省", "city": "济南市", "district": "济阳县"}, "370115", 10),  # former name
        ({"district": "  商河县 "}, "370126", 13),
    ],
)
def test_a_district_by_code_by_name_alone_or_by_former_name(api, params, code, count):
    body = api.get("/api/regions/streets", params=params).json()
    assert body["district_code"] == code and len(body["streets"]) == count and body["listed"] is (count > 0)


def test_a_real_district_without_a_list_says_to_type_the_street(api):
    body = api.get("/api/regions/streets", params={"province": "北京市", "district": "通州区"}).json()
    assert (body["district_code"], body["city"], body["listed"], body["streets"]) == ("110112", "北京市", False, [])
    assert body["notice"] == streets.UNLISTED_NOTICE


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({**LICHENG, "district": "幸福区"}, "区县“幸福区”不是济南市的区县"),
        ({"province": "四川省", "city": "成都市", "district": "历城区"}, "区县“历城区”不是成都市的区县"),
        ({"district": "幸福区"}, "区县“幸福区”不在全国区县名单中"),
        ({"province": "山东", "district": "历城区"}, "省份“山东”不正确"),
        ({"province": "山东省", "city": "快乐市", "district": "历城区"}, "城市“快乐市”不是山东省的地级行政区"),
        ({}, "请填写区县名称"),
        ({"district": "  "}, "请填写区县名称"),
        ({"code": "370100"}, "区县代码“370100”不正确"),  # a city, not a district
        ({"code": "9999999"}, "区县代码“9999999”不正确"),
        ({"district": "历城区" * 20}, "区县不正确"),
        ({"district": "\x1b[31m历城区"}, "区县不正确"),
    ],
)
def test_an_unknown_district_is_a_chinese_422(api, params, message):
    r = api.get("/api/regions/streets", params=params)
    assert message in error_of(r, 422, "INVALID_REQUEST")


@pytest.mark.parametrize("value", ["'; DROP TABLE profiles; --", "<script>alert(1)</script>", "\x00", "\u202e历城区"])
def test_hostile_query_values_are_4xx_never_500(api, value):
    for field in ("district", "province", "city", "code"):
        r = api.get("/api/regions/streets", params={**LICHENG, field: value})
        assert 400 <= r.status_code < 500 and CJK.search(r.json()["error"]["message"]), (field, r.text[:200])


@pytest.mark.parametrize("raw", ["%ED%A0%80", "%FF%FE", "%E5%8E%86%E5%9F"])  # a lone surrogate, not UTF-8, cut short
def test_undecodable_query_bytes_are_4xx_never_500(api, raw):
    r = api.get(f"/api/regions/streets?province=%E5%B1%B1%E4%B8%9C%E7%9C%81&district={raw}")
    assert 400 <= r.status_code < 500 and CJK.search(r.json()["error"]["message"]), r.text[:200]


# -- the check when subscribing and editing -----------------------------------------------------------
def test_a_street_of_another_district_is_refused_with_the_list(api):
    r = api.post("/api/profiles", json=profile_body(street="解放路街道"))  # 历下区's, not 历城区's
    message = error_of(r, 422, "PROFILE_INVALID")
    assert message.startswith("街道“解放路街道”不是历城区的街道（乡镇），请从列表中选择：山大路街道、")
    assert "王舍人街道" in message and "解放路街道、" not in message
    r = api.post("/api/profiles", json=profile_body(street="幸福街道"))
    assert "不是历城区的街道" in error_of(r, 422, "PROFILE_INVALID")


def test_a_listed_street_is_stored_by_its_official_name(api):
    r = api.post("/api/profiles", json=profile_body(street="洪家楼"))
    assert r.status_code == 201, r.text
    assert r.json()["street"] == "洪家楼街道"
    r = api.post("/api/profiles", json=profile_body(district="济南高新技术产业开发区", street="孙村街道"))
    assert r.status_code == 201 and r.json()["district"] == "济南高新技术产业开发区"


def test_an_edit_to_a_street_outside_the_district_is_refused_and_changes_nothing(api):
    created = api.post("/api/profiles", json=profile_body()).json()
    auth = bearer(created["token"])
    r = api.put("/api/profiles/me", headers=auth, json=profile_body(district="历下区"))  # 王舍人街道 is 历城区's
    assert "不是历下区的街道" in error_of(r, 422, "PROFILE_INVALID")
    assert api.get("/api/profiles/me", headers=auth).json()["district"] == "历城区"
    r = api.put("/api/profiles/me", headers=auth, json=profile_body(district="历下区", street="解放路街道"))
    assert r.status_code == 200 and (r.json()["district"], r.json()["street"]) == ("历下区", "解放路街道")


def test_a_street_needs_its_district_once_there_is_a_list(api):
    r = api.post("/api/profiles", json=profile_body(district=None))
    assert "填写街道时请同时填写区县" in error_of(r, 422, "PROFILE_INVALID")
    r = api.post("/api/profiles", json=profile_body(district=None, street=None))
    assert r.status_code == 201  # a city-wide profile needs no street


def test_every_jinan_street_is_accepted_in_its_district_only(tmp_path, shared_dir):
    table = StreetTable.load(write_jinan_table(shared_dir, tmp_path))
    rows = jinan_rows(shared_dir)
    for row in rows:
        body = ProfileIn(**profile_body(district=row["district"], street=row["street"]))
        profile, _ = build_profile(body, "p-x", towns=table)
        assert (profile.district, profile.street) == (row["district"], row["street"])
    wrong = next(r for r in rows if r["district_code"] != "370112")
    with pytest.raises(ApiError, match="不是历城区的街道"):
        build_profile(ProfileIn(**profile_body(street=wrong["street"])), "p-x", towns=table)


def test_official_names_outside_plain_cjk_pass_when_listed():
    table = StreetTable([Street("230381500", "八五〇农场", "230381"), Street("320282113", "湖㳇镇", "320282")])
    place = {"province": "黑龙江省", "city": "鸡西市", "district": "虎林市"}
    profile, _ = build_profile(ProfileIn(**profile_body(**place, street="八五〇农场")), "p-x", towns=table)
    assert profile.street == "八五〇农场"
    with pytest.raises(ApiError, match="街道应为 2-30 个汉字"):  # without the list, the form check refuses it
        build_profile(ProfileIn(**profile_body(**place, street="八五〇农场")), "p-x")


# -- without the table ----------------------------------------------------------------------------------
def test_without_the_table_the_service_starts_takes_any_street_and_logs_why(offline, caplog):
    with caplog.at_level(logging.WARNING, logger="qa_service.push.streets"):
        body = offline.get("/api/regions/streets", params=LICHENG).json()
        assert (body["district_code"], body["listed"], body["streets"]) == ("370112", False, [])
        assert body["notice"] == streets.NO_TABLE_NOTICE
        r = offline.post("/api/profiles", json=profile_body(street="幸福街道"))
        assert r.status_code == 201 and r.json()["street"] == "幸福街道"
    warnings = [m for m in caplog.messages if "make regions" in m]
    assert len(warnings) == 1 and "free text" in warnings[0]  # said once, not on every request
    # the district is still checked against the division table
    error_of(offline.get("/api/regions/streets", params={**LICHENG, "district": "幸福区"}), 422, "INVALID_REQUEST")


def test_the_table_is_read_once(api, monkeypatch):
    calls = []
    real = StreetTable.load
    monkeypatch.setattr(StreetTable, "load", classmethod(lambda cls, p: calls.append(p) or real(p)))
    streets._table_at.cache_clear()
    for district in ("历城区", "历下区", "天桥区"):
        assert api.get("/api/regions/streets", params={**LICHENG, "district": district}).json()["listed"]
    assert api.post("/api/profiles", json=profile_body()).status_code == 201
    assert len(calls) == 1
