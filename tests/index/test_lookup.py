import pytest

from corpus.models import Document
from index.lookup import DocLookup, normalize_title

DOCS = [
    Document(
        id="a",
        title="国务院关于在市场监管领域全面推行部门联合“双随机、一公开”监管的意见",
        text="…",
        doc_number="国发〔2019〕5号",
    ),
    Document(id="b", title="山东省流动人口服务管理办法", text="…"),
    Document(id="c", title="济南市流动人口服务管理办法", text="…", doc_number="济政发[2015]3号"),
    Document(id="d", title="通知", text="…"),
]


@pytest.fixture()
def lookup() -> DocLookup:
    lk = DocLookup()
    lk.add(DOCS)
    return lk


@pytest.mark.parametrize(
    "query, expected",
    [
        ("国发〔2019〕5号", ["a"]),
        ("国发[2019]5号 主要讲什么", ["a"]),
        ("国发（2019）5号", ["a"]),
        ("济政发〔2015〕3号", ["c"]),  # stored with [] brackets, matched after normalisation
        ("国发〔2019〕6号", []),
    ],
)
def test_by_number(lookup, query, expected):
    assert lookup.by_number(query) == expected


def test_whole_title_inside_a_question(lookup):
    assert lookup.find("山东省流动人口服务管理办法2012 居住证 发放条件") == ["b"]
    assert lookup.find("《济南市流动人口服务管理办法》第五条") == ["c"]


def test_partial_title(lookup):
    assert lookup.find("流动人口服务管理办法") == ["b", "c"]
    assert lookup.find("双随机、一公开") == ["a"]


def test_generic_short_titles_do_not_match_everything(lookup):
    assert lookup.find("关于发放补贴的通知有哪些") == []
    assert lookup.find("办法") == []


def test_remove_and_replace(lookup):
    lookup.remove(["a"])
    assert lookup.find("国发〔2019〕5号") == []
    lookup.add([Document(id="c", title="济南市居住证管理办法", text="…")])
    assert lookup.by_number("济政发〔2015〕3号") == []
    assert lookup.find("济南市居住证管理办法") == ["c"]


def test_normalize_title():
    assert normalize_title("《山东省 流动人口服务管理办法》（2012年）") == "山东省流动人口服务管理办法"
