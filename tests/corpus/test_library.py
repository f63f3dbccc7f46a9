from __future__ import annotations

from pathlib import Path

import pytest

from corpus.library import Library, link_documents, title_key
from corpus.loaders import load_corpus, load_law_articles
from corpus.models import Document, Status


def _doc(doc_id: str, title: str, text: str = "正文。", **kw) -> Document:
    return Document(id=doc_id, title=title, text=text, **kw)


OLD = _doc(
    "old",
    "历城区养老服务补贴管理办法（2021年）",
    publish_date="2021-03-01",
    status=Status.CURRENT,
    doc_number="济历城政办发〔2021〕4号",
)
MID = _doc(
    "mid", "历城区养老服务补贴管理办法（2023年修订）", publish_date="2023-03-01", doc_number="济历城政办发〔2023〕2号"
)
NEW = _doc(
    "new",
    "济南市历城区人民政府办公室关于印发历城区养老服务补贴管理办法（2025年修订）的通知",
    publish_date="2025-03-01",
    doc_number="济历城政办发〔2025〕6号",
)
INTERP = _doc("interp", "《历城区养老服务补贴管理办法（2025年修订）》政策解读", publish_date="2025-03-05")
OTHER = _doc("other", "历城区居住证办理指南", publish_date="2024-11-05")


@pytest.mark.parametrize(
    ("title", "key"),
    [
        ("历城区养老服务补贴管理办法（2023年修订）", "历城区养老服务补贴管理办法"),
        ("济南市历城区人民政府办公室关于印发历城区养老服务补贴管理办法的通知", "历城区养老服务补贴管理办法"),
        ("深圳经济特区居住证条例2015", "深圳经济特区居住证条例"),
        ("国务院关于完善城乡义务教育经费保障机制的通知-国发[2015]67号", "国务院关于完善城乡义务教育经费保障机制的通知"),
    ],
)
def test_title_key(title: str, key: str) -> None:
    assert title_key(title) == key


def test_versions_chain_by_date_with_one_current() -> None:
    lib = Library([NEW, OTHER, OLD, MID])  # input order must not matter
    chain = lib.revisions("mid")
    assert [d.id for d in chain] == ["old", "mid", "new"]
    assert [d.status for d in chain] == [Status.SUPERSEDED, Status.SUPERSEDED, Status.UNKNOWN]
    assert [d.supersedes for d in chain] == [None, "old", "mid"]
    assert len({d.version_group for d in chain}) == 1
    assert lib.current_version("old").id == "new"
    assert lib.revisions("other") == [lib.get("other")]
    assert lib.get("other").status is Status.UNKNOWN  # a lone document is untouched


def test_expired_newest_leaves_no_in_force_version_but_keeps_order() -> None:
    expired_new = _doc("new", NEW.title, publish_date="2025-03-01", status=Status.EXPIRED)
    lib = Library([OLD, expired_new])
    assert [d.status for d in lib.revisions("old")] == [Status.CURRENT, Status.EXPIRED]
    assert lib.current_version("new").id == "old"


def test_text_that_abolishes_an_older_document_links_it() -> None:
    old = _doc("a", "历城区临时救助办法", publish_date="2020-01-01", doc_number="济历城民发〔2020〕1号")
    new = _doc(
        "b",
        "历城区困难群众临时救助实施细则",
        publish_date="2024-08-15",
        text="第十条 本细则自2024年9月1日起施行。《历城区临时救助办法》（济历城民发〔2020〕1号）同时废止。",
    )
    lib = Library([new, old])
    assert [d.id for d in lib.revisions("b")] == ["a", "b"]
    assert lib.get("a").status is Status.SUPERSEDED


def test_interpretations_linked_both_ways() -> None:
    lib = Library([OLD, MID, NEW, INTERP, OTHER])
    # the 《title》 names the 2025 revision exactly, so the interpretation links to it, not an older one
    assert lib.interpreted_policy("interp").id == "new"
    assert [d.id for d in lib.interpretations_of("new")] == ["interp"]
    assert lib.interpretations_of("old") == []
    assert lib.get("interp").interprets == "new"
    assert lib.get("interp").doc_type == "解读"
    assert "interp" not in [d.id for d in lib.revisions("new")]


def test_remove_and_replace_keep_links_consistent() -> None:
    lib = Library([OLD, MID, NEW, INTERP])
    lib.remove(["new"])
    assert [d.id for d in lib.revisions("old")] == ["old", "mid"]
    assert lib.get("mid").status is Status.UNKNOWN  # newest again, no longer superseded
    # the exact 2025 title is gone; the version-insensitive title falls back to the newest earlier version
    assert lib.interpreted_policy("interp").id == "mid"
    assert [d.id for d in lib.interpretations_of("mid")] == ["interp"]
    lib.add([NEW])
    assert lib.interpreted_policy("interp").id == "new"
    assert lib.interpretations_of("mid") == []
    assert lib.get("mid").status is Status.SUPERSEDED
    lib.replace(_doc("new", "历城区居住证办理指南（2025年）"))  # no longer a version of the subsidy rules
    assert [d.id for d in lib.revisions("old")] == ["old", "mid"]
    assert lib.revisions("new") == [lib.get("new")]
    lib.remove(["old", "mid"])
    assert lib.interpreted_policy("interp") is None
    assert [d.id for d in lib.unlinked_interpretations()] == ["interp"]


def test_link_documents_returns_input_order() -> None:
    out = link_documents([NEW, OLD])
    assert [d.id for d in out] == ["new", "old"]
    assert out[0].supersedes == "old"


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda lib: lib.remove(["nope"]), KeyError, "unknown document ids: 'nope'"),
        (lambda lib: lib.replace(_doc("nope", "x")), KeyError, "use add"),
        (lambda lib: lib.revisions("nope"), KeyError, "unknown document id 'nope'"),
        (lambda lib: lib.add(["not a doc"]), TypeError, "got str"),
    ],
)
def test_validation(call, exc: type[Exception], match: str) -> None:
    with pytest.raises(exc, match=match):
        call(Library([OLD]))


def test_demo_corpus_links(demo_dir: Path) -> None:
    lib = Library(load_corpus(demo_dir))
    assert [d.id for d in lib.revisions("demo-002")] == ["demo-001", "demo-002"]
    assert lib.current_version("demo-001").id == "demo-002"
    assert lib.interpreted_policy("demo-003").id == "demo-002"
    assert lib.interpreted_policy("demo-022").id == "demo-007"
    assert lib.unlinked_interpretations() == []


def test_real_policies_interpretation(shared_dir: Path) -> None:
    lib = Library(load_corpus(shared_dir / "data" / "corpus" / "policies.jsonl"))
    policy = lib.interpreted_policy("mirrorcn-00346")
    assert policy is not None, "the 答记者问 should link to the 指导意见 it quotes"
    assert policy.title.startswith("教育部关于进一步推进高中阶段学校考试招生制度改革的指导意见")
    assert "mirrorcn-00346" in [d.id for d in lib.interpretations_of(policy.id)]


@pytest.mark.slow
def test_real_law_versions_form_chains(shared_dir: Path) -> None:
    lib = Library(load_law_articles(shared_dir / "data" / "corpus" / "law_articles.jsonl"))
    company = [d for d in lib if d.title == "中华人民共和国公司法"]
    assert len(company) == 2
    chain = lib.revisions(company[0].id)
    assert len(chain) == 2
    assert [d.status for d in chain] == [Status.SUPERSEDED, Status.CURRENT]
    assert chain[1].effective_date == "2024-07-01" and chain[1].supersedes == chain[0].id
    # every chain in the corpus has exactly one current version (no law is marked expired in the source)
    chains = {tuple(d.id for d in lib.revisions(d.id)) for d in lib}
    multi = [c for c in chains if len(c) > 1]
    assert len(multi) >= 78
    for c in multi:
        assert sum(lib.get(i).status is Status.CURRENT for i in c) == 1, c
    # the parts of the civil code are not versions of each other
    assert all(len(lib.revisions(d.id)) == 1 for d in lib if d.title == "中华人民共和国民法典")
