from __future__ import annotations

import pytest

from corpus.metadata import (
    doc_number_family,
    extract_doc_number,
    extract_doc_type,
    extract_effective_date,
    extract_issuer,
    extract_metadata,
    extract_publish_date,
    extract_region,
    find_doc_numbers,
    is_interpretation,
    issuer_from_doc_number,
    normalize_doc_number,
    parse_date,
    strip_trailing_doc_number,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("济历城政办字〔2025〕13号", "济历城政办字〔2025〕13号"),
        ("国发〔2019〕5号", "国发〔2019〕5号"),
        ("鲁政办发[2020]3号", "鲁政办发〔2020〕3号"),
        ("鲁政办发［2020］3号", "鲁政办发〔2020〕3号"),
        ("国发(2019)5号", "国发〔2019〕5号"),
        ("国发（2019）05号", "国发〔2019〕5号"),
        ("鄂建【2015】13号", "鄂建〔2015〕13号"),
        ("济历城政办字 〔 2025 〕 13 号", "济历城政办字〔2025〕13号"),
        ("中华人民共和国国务院令 第707号", "国令第707号"),
        ("建设部令第56号", "建设部令第56号"),
    ],
)
def test_normalize_doc_number(raw: str, expected: str) -> None:
    assert normalize_doc_number(raw) == expected


@pytest.mark.parametrize(
    ("title", "text", "expected"),
    [
        (
            "国务院关于在市场监管领域全面推行部门联合监管的意见",
            "国务院关于在市场监管领域\n全面推行部门联合监管的意见\n国发〔2019〕5号\n各省",
            "国发〔2019〕5号",
        ),
        ("国务院关于完善城乡义务教育经费保障机制的通知-国发[2015]67号", "", "国发〔2015〕67号"),
        ("x", "索 引 号： \t000014349/2015-00194\n发文字号： \t国发〔2015〕67号 \t发布日期：", "国发〔2015〕67号"),
        # a number cited in parentheses after a 《title》 belongs to another document
        ("历城区实施细则", "根据《山东省实施办法》（鲁政办发〔2020〕3号），制定本细则。", None),
        ("2014年4月29日建设部令第56号", "", "建设部令第56号"),
    ],
)
def test_extract_doc_number(title: str, text: str, expected: str | None) -> None:
    assert extract_doc_number(title, text) == expected


def test_find_doc_numbers_in_a_query() -> None:
    q = "查一下济历城政办字［2025］13号和国办发(2019)6号，以及国令第707号"
    assert find_doc_numbers(q) == ["济历城政办字〔2025〕13号", "国办发〔2019〕6号", "国令第707号"]
    assert doc_number_family("济历城政办字〔2025〕13号") == "济历城政办字"
    assert strip_trailing_doc_number("关于印发办法的通知国发[2015]67号") == "关于印发办法的通知"


@pytest.mark.parametrize(
    ("s", "iso"),
    [
        ("2025年7月9日", "2025-07-09"),
        ("二〇二五年七月九日", "2025-07-09"),
        ("二○二○年十二月三十一日", "2020-12-31"),
        ("二〇一九年一月二十日", "2019-01-20"),
        ("2025-07-09", "2025-07-09"),
        ("2025.7.9", "2025-07-09"),
        ("2025年 7 月 9 日", "2025-07-09"),
        ("2025年2月30日", None),  # not a date
        ("第2025号", None),
    ],
)
def test_parse_date(s: str, iso: str | None) -> None:
    assert parse_date(s) == iso


def test_publish_and_effective_dates() -> None:
    text = "第一条 为了……\n第九条 本办法自2025年8月1日起施行。\n济南市历城区人民政府办公室\n2025年7月9日"
    assert extract_publish_date("", text) == "2025-07-09"
    assert extract_effective_date(text) == "2025-08-01"
    # the 施行 date at the end is not a signature date
    assert extract_publish_date("", "第九条 本办法自2025年8月1日起施行。") is None
    # a news-style dateline in the header
    assert extract_publish_date("", "答记者问\n2016-09-20　来源：教育部\n\n日前，教育部印发……") == "2016-09-20"


@pytest.mark.parametrize(
    ("title", "text", "number", "issuer"),
    [
        ("北京市密云区人民政府关于印发补偿暂行规定的通知", "", None, "北京市密云区人民政府"),
        ("财政部 税务总局关于延续实施有关个人所得税优惠政策的公告", "", None, "财政部、税务总局"),
        ("关于做好养老服务的通知", "……请认真贯彻落实。\n济南市历城区民政局\n2024年8月15日", None, "济南市历城区民政局"),
        ("某通知", "正文。", "济历城政办字〔2025〕13号", "济南市历城区人民政府办公室"),
        ("某通知", "正文。", "国办发〔2019〕6号", "国务院办公厅"),
        ("某通知", "正文。", None, None),
    ],
)
def test_extract_issuer(title: str, text: str, number: str | None, issuer: str | None) -> None:
    assert extract_issuer(title, text, number) == issuer


def test_issuer_from_unknown_family() -> None:
    assert issuer_from_doc_number("某某发〔2020〕1号") is None


@pytest.mark.parametrize(
    ("title", "doc_type"),
    [
        ("济南市历城区人民政府办公室关于印发历城区高校毕业生就业补贴实施办法的通知", "通知"),
        ("国务院关于在市场监管领域全面推行部门联合监管的意见", "意见"),
        ("历城区养老服务补贴管理办法（2023年修订）", "办法"),
        ("东营市养犬管理条例", "条例"),
        ("《历城区高校毕业生就业补贴实施办法》政策解读", "解读"),
        ("历城区2025年政务公开工作要点", "要点"),
        ("国务院关于完善城乡义务教育经费保障机制的通知-国发[2015]67号", "通知"),
        ("历城区居民", None),
    ],
)
def test_doc_type(title: str, doc_type: str | None) -> None:
    assert extract_doc_type(title) == doc_type


@pytest.mark.parametrize(
    ("title", "issuer", "region"),
    [
        ("济南市历城区人民政府关于印发方案的通知", None, "济南市历城区"),
        ("历城区养老服务补贴管理办法", None, "济南市历城区"),
        ("上海市人民政府关于印发意见的通知", None, "上海市"),
        ("山东省人民政府办公厅关于加强管理的通知", None, "山东省"),
        ("东营市养犬管理条例", None, "东营市"),
        ("关于做好2016年高中阶段学校招生考试工作的通知", "武汉市教育局", "武汉市"),
        ("国务院关于在市场监管领域全面推行部门联合监管的意见", "国务院", None),
    ],
)
def test_region(title: str, issuer: str | None, region: str | None) -> None:
    assert extract_region(title, issuer) == region


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("《历城区高校毕业生就业补贴实施办法》政策解读", True),
        ("教育部有关负责人就《指导意见》答记者问", True),
        ("一图读懂历城区以旧换新补贴", True),
        ("历城区消费品以旧换新补贴实施细则", False),
    ],
)
def test_is_interpretation(title: str, expected: bool) -> None:
    assert is_interpretation(title) is expected


def test_extract_metadata_all_fields() -> None:
    title = "《历城区高校毕业生就业补贴实施办法（2025年修订）》政策解读"
    m = extract_metadata(title, "一、修订背景\n……\n济南市历城区人力资源和社会保障局\n2025年7月10日")
    assert m.is_interpretation and m.doc_type == "解读"
    assert m.interprets_title == "历城区高校毕业生就业补贴实施办法（2025年修订）"
    assert m.publish_date == "2025-07-10"
    assert m.issuer == "济南市历城区人力资源和社会保障局"
