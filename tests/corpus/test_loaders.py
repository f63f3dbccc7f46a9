from __future__ import annotations

import itertools
import json
import logging
import random
from pathlib import Path

import pytest

from corpus.loaders import LoadError, decode_text, load_corpus, load_folder, load_jsonl, load_law_articles
from corpus.models import Status

NOTICE = (
    "济南市历城区人民政府办公室关于印发历城区高校毕业生就业补贴实施办法的通知\n"
    "济历城政办字〔2025〕13号\n"
    "各街道办事处，区政府各部门：\n"
    "《历城区高校毕业生就业补贴实施办法》已经区政府同意，现印发给你们，请认真贯彻执行。\n"
    "济南市历城区人民政府办公室\n"
    "2025年7月9日\n"
)


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


def test_load_jsonl_maps_fields_and_extracts_missing_metadata(tmp_path: Path) -> None:
    rows = [
        {
            "_id": "a",
            "title": "济南市历城区人民政府办公室关于印发历城区高校毕业生就业补贴实施办法的通知",
            "text": NOTICE,
            "collection": "demo",
            "source": "x",
            "topic_path": "就业",
        },
        {"_id": "ncp-1", "text": "关于延期开学的通知 各学校：现就有关事项通知如下。", "collection": "ncp"},
        {
            "_id": "b",
            "title": "东营市养犬管理条例",
            "text": "第一条 为了规范养犬行为，制定本条例。",
            "expired": True,
            "publish_date": "2017-10-11",
            "valid_from": "2018-05-01",
            "level": "地方性法规",
        },
    ]
    docs = {d.id: d for d in load_jsonl(_write_jsonl(tmp_path / "p.jsonl", rows))}
    a = docs["a"]
    assert a.doc_number == "济历城政办字〔2025〕13号"
    assert a.issuer == "济南市历城区人民政府办公室"
    assert a.publish_date == "2025-07-09"
    assert a.doc_type == "通知"
    assert a.region == "济南市历城区"
    assert a.status is Status.UNKNOWN
    assert a.metadata["topic_path"] == "就业" and a.metadata["source"] == "x"
    # ncp docs have no title: the first clause of the text stands in
    assert docs["ncp-1"].title == "关于延期开学的通知"
    b = docs["b"]
    assert b.status is Status.EXPIRED
    assert (b.publish_date, b.effective_date, b.level) == ("2017-10-11", "2018-05-01", "地方性法规")


def test_load_jsonl_skips_malformed_line_and_keeps_rest(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    p = tmp_path / "p.jsonl"
    p.write_text(
        '{"_id": "a", "text": "第一条 正文。"}\n{broken\n{"_id": "b", "text": "第二条 正文。"}\n', encoding="utf-8"
    )
    with caplog.at_level(logging.WARNING):
        ids = [d.id for d in load_jsonl(p)]
    assert ids == ["a", "b"]
    assert "p.jsonl:2" in caplog.text


def test_law_articles_one_document_per_law_id_with_chapters(tmp_path: Path) -> None:
    arts = [
        {
            "_id": "x-1",
            "name": "某法第一条",
            "title": "某法",
            "article": "第一条",
            "chapter": "第一章 总则",
            "text": "第一条 为了规范某事，制定本法。",
            "expired": False,
            "law_id": "L1",
            "level": "法律",
            "collection": "national",
        },
        {
            "_id": "y-1",
            "name": "某法第一条",
            "title": "某法",
            "article": "第一条",
            "chapter": "第一章 总则",
            "text": "第一条 旧版第一条。",
            "expired": True,
            "law_id": "L0",
            "level": "法律",
            "collection": "national",
        },
        {
            "_id": "x-2",
            "name": "某法第二条",
            "title": "某法",
            "article": "第二条",
            "chapter": "第二章 附则",
            "text": "第二条 本法自2024年7月1日起施行。",
            "expired": False,
            "law_id": "L1",
            "level": "法律",
            "collection": "national",
        },
    ]
    p = _write_jsonl(tmp_path / "law.jsonl", arts)
    docs = {d.id: d for d in load_corpus(p)}  # dispatch by shape of the first row
    assert set(docs) == {"L0", "L1"}
    l1 = docs["L1"]
    assert l1.text == "第一章 总则\n第一条 为了规范某事，制定本法。\n第二章 附则\n第二条 本法自2024年7月1日起施行。"
    assert (l1.title, l1.version_group, l1.status, l1.effective_date) == ("某法", "某法", Status.CURRENT, "2024-07-01")
    assert docs["L0"].status is Status.EXPIRED and docs["L0"].version_group == "某法"
    # each article keeps its id, its place in the text (with the chapter line it opens) and its path
    spans = l1.metadata["source_spans"]
    assert [(s["id"], l1.text[s["start"] : s["end"]], s["path"]) for s in spans] == [
        ("x-1", "第一章 总则\n第一条 为了规范某事，制定本法。", ["第一章 总则", "第一条"]),
        ("x-2", "第二章 附则\n第二条 本法自2024年7月1日起施行。", ["第二章 附则", "第二条"]),
    ]


def test_law_chapter_whitespace_is_normalised(tmp_path: Path) -> None:
    # the real corpus writes chapters with en spaces (民法典: "第一章\u2002\u2002基本规定")
    row = {
        "_id": "a-1",
        "title": "某法",
        "article": "第一条",
        "chapter": "第一章\u2002\u2002基本规定",
        "text": "第一条 内容。",
        "law_id": "L",
    }
    (doc,) = load_law_articles(_write_jsonl(tmp_path / "law.jsonl", [row]))
    assert doc.text.startswith("第一章 基本规定\n")
    assert doc.metadata["source_spans"][0]["path"] == ["第一章 基本规定", "第一条"]


@pytest.mark.slow
def test_real_law_corpus_streams(shared_dir: Path) -> None:
    path = shared_dir / "data" / "corpus" / "law_articles.jsonl"
    first = list(itertools.islice(load_law_articles(path), 3))
    assert first[0].title == "中华人民共和国刑法"
    assert first[0].text.startswith("第一章 刑法的任务、基本原则和适用范围\n第一条")
    assert len({d.id for d in first}) == 3


def test_real_policies_shapes(shared_dir: Path) -> None:
    docs = {d.id: d for d in load_corpus(shared_dir / "data" / "corpus" / "policies.jsonl")}
    assert len(docs) == 2212
    assert all(d.title for d in docs.values())
    sc = docs["govcn-sc-000"]
    assert (sc.doc_number, sc.issuer, sc.publish_date) == ("国发〔2019〕5号", "国务院", "2019-02-15")
    assert docs["sdreg-e43f6c364bd14b9e"].status is Status.CURRENT
    assert docs["mirrorcn-00346"].metadata["is_interpretation"] is True


# ---------------------------------------------------------------- folders and encodings


def test_decode_text_encodings() -> None:
    s = "历城区老旧小区改造实施方案"
    assert decode_text(s.encode("utf-8")) == s
    assert decode_text(b"\xef\xbb\xbf" + s.encode("utf-8")) == s  # BOM dropped
    assert decode_text(s.encode("gbk")) == s
    assert decode_text(s.encode("gb18030")) == s


def test_load_folder_reports_bad_files_by_name_and_loads_the_rest(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "utf8.txt").write_text(NOTICE, encoding="utf-8")
    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbf" + "历城区居住证办理指南\n申请人应当携带身份证。".encode())
    (tmp_path / "sub" / "gbk.txt").write_bytes("历城区养老服务补贴办法\n第一条 为了做好养老服务。".encode("gbk"))
    (tmp_path / "guide.md").write_text("# 义务教育入学指南\n\n## 一、报名时间\n每年6月。\n", encoding="utf-8")
    (tmp_path / "page.html").write_text(
        "<html><head><title>站点</title><script>var a=1;</script></head>"
        "<body><h1>以旧换新补贴公告</h1><p>补贴标准为&nbsp;500元。</p></body></html>",
        encoding="utf-8",
    )
    (tmp_path / "junk.txt").write_bytes(bytes(range(256)) * 8)
    # no NUL bytes: GB18030 decodes much of this, the text check must still refuse it
    rng = random.Random(7)
    (tmp_path / "junk2.txt").write_bytes(bytes(rng.randrange(1, 256) for _ in range(4000)))
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "notes.xyz").write_text("ignored", encoding="utf-8")
    docs, errors = load_folder(tmp_path)
    by_id = {d.id: d for d in docs}
    assert set(by_id) == {"utf8.txt", "bom.txt", "sub/gbk.txt", "guide.md", "page.html"}
    assert by_id["bom.txt"].title == "历城区居住证办理指南"
    assert by_id["sub/gbk.txt"].text.startswith("历城区养老服务补贴办法")
    assert by_id["guide.md"].title == "义务教育入学指南"
    assert by_id["page.html"].title == "以旧换新补贴公告"
    assert "var a" not in by_id["page.html"].text and "补贴标准为 500元。" in by_id["page.html"].text
    assert by_id["utf8.txt"].doc_number == "济历城政办字〔2025〕13号"
    reasons = {e.path: e.reason for e in errors}
    assert set(reasons) == {"junk.txt", "junk2.txt", "empty.txt"}
    assert "binary" in reasons["junk.txt"]
    assert "binary" in reasons["junk2.txt"] or "not valid" in reasons["junk2.txt"]
    assert "empty" in reasons["empty.txt"]


def test_unreadable_file_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # chmod 000 does not stop root (CI containers), so the permission error is injected.
    (tmp_path / "secret.txt").write_text(NOTICE, encoding="utf-8")
    (tmp_path / "ok.txt").write_text(NOTICE, encoding="utf-8")
    real_read = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self.name == "secret.txt":
            raise PermissionError(13, "Permission denied", str(self))
        return real_read(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    docs, errors = load_folder(tmp_path)
    assert [d.id for d in docs] == ["ok.txt"]
    assert errors == [LoadError("secret.txt", "cannot read file: Permission denied")]


def test_docx_and_pdf(tmp_path: Path) -> None:
    import docx

    d = docx.Document()
    d.add_paragraph("历城区灵活就业人员社保补贴办法")
    d.add_paragraph("第一条 为支持灵活就业，制定本办法。")
    d.save(str(tmp_path / "a.docx"))
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
    docs, errors = load_folder(tmp_path)
    assert [x.title for x in docs] == ["历城区灵活就业人员社保补贴办法"]
    assert [e.path for e in errors] == ["broken.pdf"]


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: p / "missing", "does not exist"),
        (lambda p: (p / "x.csv").write_text("a,b") and p / "x.csv", "unsupported corpus path"),
        (lambda p: (p / "faq.jsonl").write_text('{"question": "q"}\n') and p / "faq.jsonl", "not a corpus JSONL"),
    ],
)
def test_load_corpus_rejects_bad_paths(tmp_path: Path, make, match: str) -> None:
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        list(load_corpus(make(tmp_path)))
