"""Push planning on the tiny Licheng corpus (`tiny.py` says who gets what): planning is idempotent,
revisions are re-pushed with 修订, a labeller failure leaves the document queued.
"""

from __future__ import annotations

from dataclasses import replace

from corpus.models import Document
from corpus.push.targeting import Targeting
from qa_service.push.planner import document_version, plan, plan_pending
from tests.conftest import tiny_docs
from tests.qa_service.push.tiny import all_keys, labeller


def test_plan_matches_by_hand_and_gives_the_reason(store):
    result = plan(store, tiny_docs(), labeller)
    assert (result.documents, result.enqueued, result.revised, result.errors) == (5, 6, (), {})
    assert set(result.skipped) == {"old", "tax"}
    rows = {(r["profile_id"], r["doc_id"]): r for r in store.outbox_rows()}
    assert set(rows) == {
        ("p-grad-1", "emp"),
        ("p-grad-2", "emp"),
        ("p-grad-3", "emp"),
        ("p-firm", "emp"),
        ("p-parent", "edu"),
        ("p-elder", "new"),
    }
    grad = rows[("p-grad-1", "emp")]
    assert grad["reason"] == "适用于济南市历城区，您属于高校毕业生。"
    assert grad["title"] == "历城区高校毕业生就业补贴办法" and grad["doc_number"] == "济历城政办字〔2025〕13号"
    assert grad["link"] == "/api/documents/emp" and grad["evidence"] == '["为促进高校毕业生就业"]'
    assert rows[("p-firm", "emp")]["reason"] == "适用于济南市历城区，您属于中小微企业。"
    assert rows[("p-elder", "new")]["reason"] == "适用于济南市历城区，您关注城市更新。"
    assert {r["status"] for r in rows.values()} == {"pending"}


def test_replanning_the_same_versions_enqueues_nothing(planned):
    before = planned.outbox_rows()
    again = plan(planned, tiny_docs(), labeller)
    assert again.enqueued == 0 and again.revised == ()
    assert [tuple(r) for r in planned.outbox_rows()] == [tuple(r) for r in before]


def test_revised_document_is_pushed_again_saying_it_was_revised(planned):
    emp = next(d for d in tiny_docs() if d.id == "emp")
    revised = replace(emp, text=emp.text + "\n第四条 补贴标准提高到每人每月800元。")
    assert document_version(revised) != document_version(emp)
    result = plan(planned, [revised], labeller)
    assert result.enqueued == 4 and result.revised == ("emp",)
    new_rows = [r for r in planned.outbox_rows() if r["doc_version"] == document_version(revised)]
    assert {r["profile_id"] for r in new_rows} == {"p-grad-1", "p-grad-2", "p-grad-3", "p-firm"}
    grad = next(r for r in new_rows if r["profile_id"] == "p-grad-1")
    assert "修订" in grad["reason"] and grad["revised"] == 1
    assert grad["reason"] == "该政策已修订，请以新版本为准。适用于济南市历城区，您属于高校毕业生。"
    assert len(all_keys(planned)) == 10  # the first version's rows are kept, not overwritten
    assert plan(planned, [revised], labeller).enqueued == 0


def test_a_status_change_alone_is_not_a_revision():
    emp = next(d for d in tiny_docs() if d.id == "emp")
    assert document_version(replace(emp, supersedes="x", version_group="g")) == document_version(emp)


def test_new_version_under_a_new_id_names_the_policy_it_replaces(store):
    docs = {d.id: d for d in tiny_docs()}
    new = replace(docs["new"], supersedes="old")
    result = plan(store, [new], labeller, get_document=docs.get)
    assert result.revised == ("new",)
    [row] = store.outbox_rows()
    assert row["reason"] == (
        "该政策已修订（替代《历城区老旧小区改造实施方案》），请以新版本为准。适用于济南市历城区，您关注城市更新。"
    )


def test_labeller_failure_leaves_the_document_queued_for_the_next_plan(store):
    def flaky(doc: Document) -> Targeting:
        if doc.id == "edu":
            raise RuntimeError("model not loaded")
        return labeller(doc)

    docs = tiny_docs()
    first = plan(store, docs, flaky)
    assert first.enqueued == 5 and set(first.errors) == {"edu"} and "model not loaded" in first.errors["edu"]
    assert store.unplanned_documents() == [("edu", document_version(docs[1]))]
    second = plan_pending(store, {d.id: d for d in docs}.get, labeller)
    assert second.enqueued == 1 and store.unplanned_documents() == []


def test_plan_pending_plans_the_current_text_of_a_document_changed_since_it_was_noted(store):
    docs = {d.id: d for d in tiny_docs()}
    store.note_documents([("emp", document_version(docs["emp"]), False)])
    docs["emp"] = replace(docs["emp"], title="历城区高校毕业生就业补贴办法（修订）")
    result = plan_pending(store, docs.get, labeller)
    assert result.enqueued == 4
    assert {r["doc_version"] for r in store.outbox_rows()} == {document_version(docs["emp"])}
    assert store.unplanned_documents() == []
