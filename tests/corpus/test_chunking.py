from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from corpus.chunking import chunk_document, heading_of
from corpus.loaders import load_law_articles
from corpus.models import Document

# Hand-checkable fixture: two chapters, articles, an enumerated list inside an article.
REGULATION = """历城区养老服务补贴管理办法
第一章 总则
第一条 为了规范养老服务补贴发放，保障老年人基本生活，制定本办法。
第二条 本办法适用于本区户籍、年满80周岁的老年人。
第二章 补贴标准
第三条 补贴按月发放。
第四条 申请人应当提交下列材料：
（一）居民身份证；
（二）户口簿；
（三）银行账户信息。
第五条 本办法自2025年8月1日起施行。"""

PLAN = """各街道办事处，区政府各部门：
现将有关事项通知如下。
一、总体要求
坚持以人民为中心，稳步推进老旧小区改造。
二、重点任务
（一）完善基础设施。改造供水、供电、供气、排水管网，完善消防设施和无障碍设施。
（二）提升服务功能。增设养老托育设施，完善便民服务网点和快递收发设施。
三、保障措施
各部门要加强协作。"""

SENTENCE_END = "。！？；\n"


def _doc(text: str, title: str = "测试文件", doc_id: str = "d1") -> Document:
    return Document(id=doc_id, title=title, text=text)


def _check_invariants(doc: Document, passages, max_chars: int) -> None:
    assert [p.position for p in passages] == list(range(len(passages)))
    assert [p.id for p in passages] == [f"{doc.id}#{i}" for i in range(len(passages))]
    last_end = 0
    for p in passages:
        assert doc.text[p.start : p.end] == p.text  # verbatim offsets
        assert 0 < len(p.text) <= max_chars
        assert p.start >= last_end  # in order, no overlap
        assert doc.text[last_end : p.start].strip() == ""  # nothing dropped between passages
        last_end = p.end
        assert p.title == doc.title
    assert doc.text[last_end:].strip() == ""


def test_regulation_heading_paths_by_hand() -> None:
    doc = _doc(REGULATION)
    # max 60: each chapter (66 and 88 chars) is too long, so articles are the units; 第一条 (34) +
    # 第二条 (25) + newline > 60. 第四条 with its list (52) fits whole, so the list is not split.
    ps = chunk_document(doc, max_chars=60, min_chars=10)
    _check_invariants(doc, ps, 60)
    assert [(p.heading_path, p.text.split("\n")[-1][:4]) for p in ps] == [
        ((), "历城区养"),
        (("第一章 总则", "第一条"), "第一条 "),
        (("第一章 总则", "第二条"), "第二条 "),
        (("第二章 补贴标准", "第三条"), "第三条 "),
        (("第二章 补贴标准", "第四条"), "（三）银"),
        (("第二章 补贴标准", "第五条"), "第五条 "),
    ]
    # the bare chapter heading travels with its first article
    assert ps[1].text.startswith("第一章 总则\n第一条")
    assert ps[3].text == "第二章 补贴标准\n第三条 补贴按月发放。"
    assert ps[4].text.startswith("第四条 申请人应当提交下列材料：\n（一）")


def _law(rows: list[tuple[str, str, str]]) -> Document:
    """A law assembled from (article id, chapter, text) rows by the real loader's rule."""
    from corpus.loaders import law_from_articles

    return law_from_articles(
        "L",
        [{"_id": i, "title": "某某条例", "chapter": ch, "article": t.split(" ")[0], "text": t} for i, ch, t in rows],
    )


def test_articles_are_never_merged() -> None:
    # three short articles of one chapter: 68 chars together would be one passage in a policy
    doc = _law(
        [
            ("a-1", "第一章 总则", "第一条 为了规范管理，制定本条例。"),
            ("a-2", "第一章 总则", "第二条 本条例适用于本省。"),
            ("a-3", "第二章 附则", "第三条 本条例自公布之日起施行。"),
        ]
    )
    ps = chunk_document(doc, max_chars=300)
    _check_invariants(doc, ps, 300)
    assert [(p.source_ids, p.heading_path, p.article) for p in ps] == [
        (("a-1",), ("第一章 总则", "第一条"), "第一条"),
        (("a-2",), ("第一章 总则", "第二条"), "第二条"),
        (("a-3",), ("第二章 附则", "第三条"), "第三条"),
    ]
    assert ps[0].text == "第一章 总则\n第一条 为了规范管理，制定本条例。"
    # a policy's passages name the document itself
    assert {p.source_ids for p in chunk_document(_doc(REGULATION))} == {("d1",)}


def test_long_article_splits_keeping_its_id() -> None:
    long_text = "第九条 " + "".join(f"第{i}项要求应当落实到位并接受监督检查。" for i in range(12))
    doc = _law([("b-8", "", "第八条 短条文。"), ("b-9", "", long_text)])
    ps = chunk_document(doc, max_chars=60, min_chars=10)
    _check_invariants(doc, ps, 60)
    assert ps[0].source_ids == ("b-8",) and len(ps) > 3
    assert all(p.source_ids == ("b-9",) and p.article == "第九条" for p in ps[1:])


@pytest.mark.parametrize(
    "spans",
    [
        "x",
        [{"id": "a", "start": 5, "end": 2, "path": []}],
        [{"id": "a", "start": 0, "end": 999, "path": []}],
        [{"id": "", "start": 0, "end": 2, "path": []}],
        [{"id": "a", "start": 0, "end": 4, "path": []}, {"id": "b", "start": 2, "end": 6, "path": []}],
    ],
)
def test_bad_source_spans_are_refused(spans) -> None:
    doc = Document(id="L", title="某法", text="第一条 内容。第二条 内容。", metadata={"source_spans": spans})
    with pytest.raises(ValueError, match="source_spans"):
        chunk_document(doc)


def test_siblings_merge_up_to_max_chars() -> None:
    doc = _doc(REGULATION)
    # the whole text (170 chars) fits in 300: one passage at the root
    assert [p.heading_path for p in chunk_document(doc, max_chars=300)] == [()]
    # max 100: each chapter (66, 88) fits whole; the 14-char title line (< min_chars) joins chapter one
    ps = chunk_document(doc, max_chars=100, min_chars=40)
    _check_invariants(doc, ps, 100)
    assert [p.heading_path for p in ps] == [("第一章 总则",), ("第二章 补贴标准",)]
    assert ps[0].text.startswith("历城区养老服务补贴管理办法\n第一章 总则\n第一条")
    assert ps[1].text.endswith("第五条 本办法自2025年8月1日起施行。")


def test_plan_style_numbering() -> None:
    doc = _doc(PLAN)
    ps = chunk_document(doc, max_chars=50, min_chars=5)
    _check_invariants(doc, ps, 50)
    # 二、 (subtree 90 chars) is split into its children (39 and 35 chars); the bare heading 二、重点任务
    # joins the first child. 一、 (27) and 三、 (16) fit whole.
    assert [p.heading_path for p in ps] == [
        (),
        ("一、总体要求",),
        ("二、重点任务", "（一）完善基础设施"),
        ("二、重点任务", "（二）提升服务功能"),
        ("三、保障措施",),
    ]
    assert ps[2].text.startswith("二、重点任务\n（一）")


def test_one_line_notice_is_split_at_inline_headings() -> None:
    text = (
        "内江经济技术开发区通告 为阻断病毒传播，现就有关事项通告如下。 "
        "\u3000\u3000一、群体性聚餐是指2户及以上家庭人员聚集聚餐。"
        "单户家庭用餐不视为群体性聚餐。 \u3000\u3000二、广大群众要增强自我管理能力，自觉抵制设宴聚餐行为。"
        " \u3000\u3000三、严禁餐饮服务单位承办群体性聚餐宴席。"
    )
    doc = _doc(text)
    ps = chunk_document(doc, max_chars=50, min_chars=5)
    _check_invariants(doc, ps, 50)
    labels = [p.heading_path[0] for p in ps if p.heading_path]
    assert labels[0] == "一、群体性聚餐是指2户及以上家庭人员聚集聚餐"
    assert "二、广大群众要增强自我管理能力" in labels
    # every passage starts at a paragraph start: the notice opening or a numbered item
    # 一、 (38 chars) fits whole; 二、 (27) and 三、 (21) are siblings merged up to 50
    assert [p.text[:2] for p in ps] == ["内江", "一、", "二、"]
    assert "三、严禁" in ps[-1].text


def test_never_cuts_mid_sentence() -> None:
    sentences = [f"第{i}项措施要求各部门按照职责分工抓好落实并定期报送进展情况。" for i in range(1, 40)]
    doc = _doc("".join(sentences))
    ps = chunk_document(doc, max_chars=120, min_chars=10)
    _check_invariants(doc, ps, 120)
    assert len(ps) > 5
    for p in ps:
        assert p.text[-1] in SENTENCE_END


def test_over_long_sentence_cut_at_commas_then_hard() -> None:
    clause = "对符合条件的高校毕业生给予一次性就业补贴，"
    doc = _doc(clause * 30 + "特此通知。")
    ps = chunk_document(doc, max_chars=100, min_chars=10)
    _check_invariants(doc, ps, 100)
    assert all(p.text.endswith(("，", "。")) for p in ps)
    # no punctuation at all: hard cuts of exactly max_chars
    huge = _doc("历城区" * 100_000, doc_id="huge")
    t = time.perf_counter()
    hp = chunk_document(huge, max_chars=300)
    assert time.perf_counter() - t < 5
    _check_invariants(huge, hp, 300)
    assert len(hp) == 1000 and all(len(p.text) == 300 for p in hp)


def test_markdown_headings() -> None:
    doc = _doc(
        "## 第一章  总\u3000则\n\n第一条 为了规范养犬行为，保障公民健康和人身安全，维护社会秩序，制定本条例。"
        "\n\n## 第二章  管理\n\n第二条 犬只应当登记，养犬人应当携带养犬登记证。"
    )
    ps = chunk_document(doc, max_chars=60, min_chars=5)
    _check_invariants(doc, ps, 60)
    # each chapter subtree fits whole; markdown marks and the ideographic space are normalised in labels
    assert [p.heading_path for p in ps] == [("第一章 总 则",), ("第二章 管理",)]


def test_empty_text_has_no_passages() -> None:
    assert chunk_document(_doc(" \n\u3000 ")) == []


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_chars": 10}, "max_chars must be an int >= 50, got 10"),
        ({"max_chars": 300.0}, "max_chars must be an int"),
        ({"min_chars": -1}, r"min_chars must be an int in 0..max_chars-1 \(299\), got -1"),
        ({"max_chars": 100, "min_chars": 100}, "min_chars must be"),
    ],
)
def test_argument_validation(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        chunk_document(_doc("第一条 正文。"), **kwargs)


@pytest.mark.parametrize(
    ("para", "expected"),
    [
        ("第十条 申请人应当提交下列材料：", (3, "第十条", False)),
        ("第一章 总则", (1, "第一章 总则", True)),
        ("一、总体要求", (4, "一、总体要求", True)),
        ("（三）完善补贴标准。对困难群体给予补助。", (5, "（三）完善补贴标准", False)),
        ("1.加快发展先进制造业。落实战略。", (6, "1.加快发展先进制造业", False)),
        ("（2）申请材料", (7, "（2）申请材料", True)),
        ("## 附件", (1, "附件", True)),
        ("1.5万元以下的部分免征。", None),
        ("为了规范管理，制定本办法。", None),
    ],
)
def test_heading_detection(para: str, expected) -> None:
    assert heading_of(para) == expected


@pytest.mark.slow
def test_real_law_corpus_one_article_per_passage(shared_dir: Path) -> None:
    """Every article of the 86k-row corpus gets its own passages, labelled with its id and 第X条."""
    path = shared_dir / "data" / "corpus" / "law_articles.jsonl"
    article_ids = set()
    with path.open(encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if row["text"].strip():
                article_ids.add(row["_id"])
    seen: set[str] = set()
    n_docs = n_pass = 0
    for doc in load_law_articles(path):
        ps = chunk_document(doc, max_chars=300)
        n_docs += 1
        n_pass += len(ps)
        spans = {s["id"]: s for s in doc.metadata["source_spans"]}
        for p in ps:
            assert len(p.text) <= 300 and doc.text[p.start : p.end] == p.text
            (sid,) = p.source_ids  # never two articles in one passage
            assert spans[sid]["start"] <= p.start and p.end <= spans[sid]["end"]
            assert p.article == spans[sid]["path"][-1]
            seen.add(sid)
    assert seen == article_ids
    assert n_docs > 1800 and n_pass >= len(article_ids) > 86_000
