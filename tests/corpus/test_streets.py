"""The town table (corpus.streets): the npm file `make regions` fetches, checked against Jinan's official
street list in ../shared (same upstream), and the loader's validation on hand-made rows."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from corpus import regions
from corpus.streets import STREETS_FILE, Street, StreetTable

NPM_TABLE = Path(__file__).resolve().parents[2] / "var" / "regions" / STREETS_FILE


@pytest.fixture(scope="module")
def npm_table() -> StreetTable:
    if not NPM_TABLE.is_file():
        pytest.fail(f"{NPM_TABLE} is missing: run `make regions` (make test does)", pytrace=False)
    return StreetTable.load(NPM_TABLE)


def _jinan(shared_dir: Path) -> list[dict[str, str]]:
    with (shared_dir / "data" / "regions" / "jinan_streets.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


# -- the npm table ---------------------------------------------------------------------------------
def test_every_jinan_street_and_code_agrees_with_the_official_list(npm_table: StreetTable, shared_dir: Path) -> None:
    rows = _jinan(shared_dir)
    assert len(rows) == 164
    expected = {(r["district_code"], r["street_code"], r["street"]) for r in rows}
    districts = {r["district_code"] for r in rows}
    got = {(c, s.code, s.name) for c in districts for s in npm_table.of(c)}
    assert got == expected  # same 164 streets, same codes, no extra ones in Jinan's districts
    assert len(districts) == 13


def test_licheng_has_its_17_streets_in_code_order(npm_table: StreetTable) -> None:
    licheng = npm_table.of("370112")
    assert len(licheng) == 17
    assert [s.code for s in licheng] == sorted(s.code for s in licheng)
    assert licheng[0] == Street("370112001", "山大路街道", "370112")
    assert {"洪家楼街道", "王舍人街道"} <= {s.name for s in licheng}


def test_the_high_tech_zone_has_its_five_streets(npm_table: StreetTable) -> None:
    names = [s.name for s in npm_table.of("370176")]
    assert names == ["舜华路街道", "孙村街道", "巨野河街道", "遥墙街道", "临港街道"]
    assert regions.division("370176").name == "济南高新技术产业开发区"  # the district the form accepts


def test_the_whole_table_covers_the_counties_of_the_division_table(npm_table: StreetTable) -> None:
    assert len(npm_table) == 41352 and npm_table.county_count == 2978
    counties = [d for d in regions.counties_of("山东省")]
    assert len(counties) > 130 and all(npm_table.of(d.code) for d in counties)
    # official names that are not plain CJK (a form check must not refuse them)
    assert npm_table.has_name("八五〇农场") and npm_table.has_name("湖㳇镇")


# -- the loader ------------------------------------------------------------------------------------
ROWS = [
    {"code": "370112002", "name": "洪家楼街道", "areaCode": "370112", "cityCode": "3701", "provinceCode": "37"},
    {"code": "370112001", "name": "山大路街道", "areaCode": "370112", "cityCode": "3701", "provinceCode": "37"},
    {"code": "370112104", "name": "唐王街道", "areaCode": "370112", "cityCode": "3701", "provinceCode": "37"},
    {"code": "370124100", "name": "平阴镇", "areaCode": "370124", "cityCode": "3701", "provinceCode": "37"},
    {"code": "370124102", "name": "东阿镇", "areaCode": "370124", "cityCode": "3701", "provinceCode": "37"},
]


def _write(tmp_path: Path, rows: object) -> Path:
    path = tmp_path / STREETS_FILE
    path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    return path


def test_load_groups_by_county_in_code_order_from_the_file_or_its_directory(tmp_path: Path) -> None:
    path = _write(tmp_path, ROWS)
    for source in (path, tmp_path):
        t = StreetTable.load(source)
        assert len(t) == 5 and t.county_count == 2
        assert [s.name for s in t.of("370112")] == ["山大路街道", "洪家楼街道", "唐王街道"]
        assert [s.code for s in t.of("370124")] == ["370124100", "370124102"]
        assert t.of("370102") == ()


def test_find_takes_the_exact_name_or_the_one_with_the_missing_suffix(tmp_path: Path) -> None:
    t = StreetTable.load(_write(tmp_path, ROWS))
    assert t.find("370112", "洪家楼街道") == Street("370112002", "洪家楼街道", "370112")
    assert t.find("370112", "洪家楼").name == "洪家楼街道"
    assert t.find("370124", "东阿").name == "东阿镇"
    assert t.find("370112", "东阿镇") is None  # another county's town
    assert t.find("370112", "洪家楼镇") is None  # a suffix of its own is taken as written
    assert t.find("370102", "洪家楼街道") is None
    assert t.has_name("平阴镇") and not t.has_name("平阴")


def test_a_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        StreetTable.load(tmp_path / "nowhere" / STREETS_FILE)


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        ({"code": "370112001"}, "expected a JSON list"),
        ([["370112001", "山大路街道"]], "row 0 lacks the string fields"),
        ([{"code": "370112001", "name": "山大路街道"}], "row 0 lacks"),
        ([{**ROWS[0], "code": 370112001}], "row 0 lacks"),
        ([{**ROWS[0], "code": "37011200"}], "9 digits"),
        ([{**ROWS[0], "areaCode": "370102"}], "starting with its county's 6"),
        ([{**ROWS[0], "name": ""}], "empty or padded"),
        ([{**ROWS[0], "name": " 洪家楼街道"}], "empty or padded"),
        ([ROWS[0], ROWS[0]], "appears twice"),
    ],
)
def test_rows_that_are_not_towns_of_the_npm_table_are_refused(tmp_path: Path, rows: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        StreetTable.load(_write(tmp_path, rows))
