"""The review step (先审后发): held rows, approve / drop / corrected labels, their export, preview.

Store level on the tiny corpus (`tiny.py`: emp reaches 4 profiles, edu 1, new 1), with the
confidences set by hand below; API level on the small library of `library.py`, whose fake
labeller has no confidence (rules only), so with the review step on every push waits.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from corpus.push.targeting import Jurisdiction, JurisdictionLevel, Targeting
from corpus.push.taxonomy import Audience
from qa_service.app import build_state, create_app
from qa_service.push.delivery import InboxChannel, deliver
from qa_service.push.gate import ReviewPolicy
from qa_service.push.planner import LabelCache, backfill, plan
from qa_service.push.records import Contact
from qa_service.push.store import PushStore
from tests.conftest import tiny_docs
from tests.qa_service.conftest import make_settings
from tests.qa_service.push import tiny
from tests.qa_service.push.library import (
    ADMIN,
    LABELS,
    PHONE,
    SECRET_STORY,
    bearer,
    fake_labeller,
    profile_body,
    run_plan,
)
from tests.qa_service.push.test_api import assert_error

CONFIDENCE = {"emp": 0.5, "edu": 0.95, "new": None}  # emp and new wait, edu goes out on its own
POLICY = ReviewPolicy(auto_threshold=0.9, min_profiles=200)


def confident_labeller(doc):
    return replace(tiny.labeller(doc), confidence=CONFIDENCE.get(doc.id, 1.0))


def rows_by_doc(store: PushStore) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for r in store.outbox_rows():
        out.setdefault(r["doc_id"], set()).add(r["status"])
    return out


# -- the gate ----------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, match", [({"auto_threshold": 1.5}, "auto_threshold"),
                                           ({"auto_threshold": -0.1}, "auto_threshold"),
                                           ({"min_profiles": 0}, "min_profiles")])  # fmt: skip
def test_review_policy_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ReviewPolicy(**kwargs)


def test_review_policy_reasons():
    t = Targeting("d", (Audience.RESIDENT,), confidence=0.72)
    assert POLICY.reasons(t, 3) == ("标注置信度 0.72 低于自动发送阈值 0.90",)
    assert POLICY.reasons(replace(t, confidence=None), 3) == ("标注未经置信度校准（仅规则标注），须人工审核",)
    assert POLICY.reasons(replace(t, confidence=0.9), 3) == ()  # at the threshold: sent
    assert POLICY.reasons(replace(t, confidence=0.95), 200) == ("将推送给 200 位订阅用户（达到 200 人须人工审核）",)
    assert POLICY.reasons(t, 0) == ()  # reaches nobody: nothing to review


# -- store and planner -------------------------------------------------------------------------
def test_low_confidence_document_is_held_until_approved_then_delivered_once(store):
    result = plan(store, tiny_docs(), confident_labeller, review=POLICY)
    assert result.enqueued == 6 and set(result.held) == {"emp", "new"}
    assert rows_by_doc(store) == {"emp": {"held"}, "edu": {"pending"}, "new": {"held"}}
    channel = InboxChannel(store)
    assert deliver(store, channel).sent == 1  # edu only
    assert deliver(store, channel).sent == 0
    assert [r.doc_id for r in store.reviews()] == ["emp", "new"]
    emp = store.review("emp")
    assert emp.reach == 4 and emp.reasons == ("标注置信度 0.50 低于自动发送阈值 0.90",)
    assert {r["id"] for r in store.held_profiles("emp", emp.version)} == {"p-grad-1", "p-grad-2", "p-grad-3", "p-firm"}

    assert store.approve_review("emp", emp.version) == 4
    assert store.approve_review("emp", emp.version) is None  # decided once
    assert deliver(store, channel).sent == 4
    assert deliver(store, channel).sent == 0
    # Re-planning the approved version adds nothing and sends nothing again.
    assert plan(store, tiny_docs(), confident_labeller, review=POLICY).enqueued == 0
    assert deliver(store, channel).sent == 0
    assert store.inbox("p-grad-1")[0] == 1 and store.status_counts() == {"held": 1, "pending": 0, "sent": 5,
                                                                          "failed": 0, "dead": 0}  # fmt: skip


def test_a_document_reaching_many_profiles_waits_even_when_confident(store):
    sure = lambda d: replace(tiny.labeller(d), confidence=0.99)  # noqa: E731
    result = plan(store, tiny_docs(), sure, review=ReviewPolicy(0.9, min_profiles=3))
    assert result.held == ("emp",)  # 4 profiles > 3; edu and new reach 1 each
    assert store.review("emp").reasons == ("将推送给 4 位订阅用户（达到 3 人须人工审核）",)
    assert deliver(store, InboxChannel(store)).sent == 2


def test_drop_deletes_the_held_rows_and_nothing_is_sent_or_replanned(store):
    plan(store, tiny_docs(), confident_labeller, review=POLICY)
    version = store.review("emp").version
    assert store.drop_review("emp", version) == 4
    assert "emp" not in rows_by_doc(store)
    assert deliver(store, InboxChannel(store)).sent == 1  # edu; new stays held
    again = plan(store, tiny_docs(), confident_labeller, review=POLICY)
    assert again.enqueued == 0 and again.skipped["emp"] == "审核人员已撤下该文件的推送"
    assert store.review("emp").status == "dropped" and store.review("emp").decided is not None


def test_backfill_follows_the_decisions(store):
    plan(store, tiny_docs(), confident_labeller, review=POLICY)
    newcomer = tiny.licheng("p-grad-4", groups=["高校毕业生"])
    store.create_profile(newcomer, Contact())
    assert backfill(store, newcomer, tiny_docs(), confident_labeller, LabelCache(), POLICY) == 1
    assert [r["status"] for r in store.outbox_rows() if r["profile_id"] == "p-grad-4"] == ["held"]
    store.drop_review("emp", store.review("emp").version)
    later = tiny.licheng("p-grad-5", groups=["高校毕业生"])
    store.create_profile(later, Contact())
    assert backfill(store, later, tiny_docs(), confident_labeller, LabelCache(), POLICY) == 0


def test_a_new_version_supersedes_the_waiting_review_of_the_old_one(store):
    docs = tiny_docs()
    plan(store, docs, confident_labeller, review=POLICY)
    old = store.review("emp").version
    revised = [replace(d, text=d.text + "\n第九条 本细则自发布之日起施行。") if d.id == "emp" else d for d in docs]
    plan(store, revised, confident_labeller, review=POLICY)
    assert store.review("emp", old).status == "superseded"
    assert {r["doc_version"] for r in store.outbox_rows() if r["doc_id"] == "emp"} == {store.review("emp").version}


# -- the API ------------------------------------------------------------------------------------
@pytest.fixture
def review_state(tmp_path, policy_index):
    st = build_state(make_settings(tmp_path, push_review=True), index=policy_index)
    st.push_labeller = fake_labeller  # no confidence: every push waits
    return st


@pytest.fixture
def api(review_state):
    with TestClient(create_app(state=review_state)) as c:
        yield c


def subscribe(api, **overrides) -> dict:
    r = api.post("/api/profiles", json=profile_body(**overrides))
    assert r.status_code == 201, r.text
    return r.json()


def people(api) -> tuple[dict, dict]:
    newcomer = subscribe(api)  # Licheng, 外来务工与新市民 + 就业创业, SMS
    elder = subscribe(api, groups=["老年人"], topics=["养老服务"], contact={"channel": "inbox"}, description=None)
    r = run_plan(api, list(LABELS))
    assert sorted(r["held"]) == sorted(LABELS), r
    return newcomer, elder


def inbox_docs(api, who: dict) -> list[str]:
    return [i["doc_id"] for i in api.get("/api/profiles/me/inbox", headers=bearer(who["token"])).json()["items"]]


def test_queue_shows_labels_evidence_reasons_and_reach_without_contact_details(api):
    newcomer, elder = people(api)
    r = api.get("/api/admin/push/review", headers=ADMIN)
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 3
    items = {i["doc_id"]: i for i in body["items"]}
    jzz = items["jn-jzz-2019"]
    assert jzz["title"] == "济南市居住证申领办法" and jzz["confidence"] is None
    assert jzz["labels"]["groups"] == ["外来务工与新市民"] and jzz["labels"]["jurisdiction"]["level"] == "municipal"
    assert jzz["evidence"] == {"外来务工与新市民": "保障流动人口合法权益"}
    assert jzz["reasons"] == ["标注未经置信度校准（仅规则标注），须人工审核"]
    assert jzz["reach"] == {"total": 1, "by_area": {"山东省济南市历城区": 1}, "by_kind": {"居民个人": 1},
                            "sample": [newcomer["profile_id"]]}  # fmt: skip
    assert items["sd-gljt-2022"]["reach"]["sample"] == [elder["profile_id"]]
    assert PHONE not in r.text and SECRET_STORY not in r.text and "pt-" not in r.text


def test_nothing_is_delivered_until_approved_then_exactly_once(api):
    newcomer, elder = people(api)
    assert api.post("/api/admin/push/deliver", headers=ADMIN).json()["sent"] == 0
    assert api.get("/api/admin/push/status", headers=ADMIN).json()["outbox"]["held"] == 3
    r = api.post("/api/admin/push/review/jn-jzz-2019/approve", headers=ADMIN)
    assert r.status_code == 200 and r.json()["released"] == 1 and r.json()["status"] == "approved"
    assert api.post("/api/admin/push/deliver", headers=ADMIN).json()["sent"] == 1
    assert api.post("/api/admin/push/deliver", headers=ADMIN).json()["sent"] == 0
    assert inbox_docs(api, newcomer) == ["jn-jzz-2019"] and inbox_docs(api, elder) == []
    assert_error(api.post("/api/admin/push/review/jn-jzz-2019/approve", headers=ADMIN), 404, "REVIEW_NOT_FOUND")
    assert [i["doc_id"] for i in api.get("/api/admin/push/review", headers=ADMIN).json()["items"]] == [
        "lc-cydb-2023", "sd-gljt-2022"]  # fmt: skip


def test_drop_removes_the_rows_and_delivery_sends_nothing(api, review_state):
    _, elder = people(api)
    r = api.post("/api/admin/push/review/sd-gljt-2022/drop", headers=ADMIN)
    assert r.status_code == 200 and r.json()["deleted"] == 1
    assert not [row for row in review_state.push_store.outbox_rows() if row["doc_id"] == "sd-gljt-2022"]
    assert api.post("/api/admin/push/deliver", headers=ADMIN).json()["sent"] == 0
    assert run_plan(api, ["sd-gljt-2022"])["enqueued"] == 0
    assert inbox_docs(api, elder) == []


CORRECTED = {
    "audience": ["resident"],
    "jurisdiction": {"level": "district", "province": "山东省", "city": "济南市", "district": "历城区"},
    "groups": ["外来务工与新市民"],
    "evidence": {"外来务工与新市民": "具有本省户籍"},
    "topics": ["养老服务"],
    "expired": False,
}


def test_corrected_labels_change_who_is_reached_and_are_exported_as_doc_labels(api):
    newcomer, elder = people(api)
    r = api.put("/api/admin/push/review/sd-gljt-2022/labels", headers=ADMIN, json=CORRECTED)
    assert r.status_code == 200, r.text
    assert r.json()["corrected"] and r.json()["reach"]["sample"] == [newcomer["profile_id"]]
    assert r.json()["labels"]["jurisdiction"]["districts"] == ["历城区"]
    api.post("/api/admin/push/review/sd-gljt-2022/approve", headers=ADMIN)
    api.post("/api/admin/push/deliver", headers=ADMIN)
    assert inbox_docs(api, newcomer) == ["sd-gljt-2022"] and inbox_docs(api, elder) == []

    export = api.get("/api/admin/push/corrections/export", headers=ADMIN)
    assert export.status_code == 200 and export.headers["content-type"].startswith("application/x-ndjson")
    (line,) = export.text.splitlines()
    row = json.loads(line)
    assert set(row) == {"_id", "audience", "jurisdiction", "groups", "evidence", "topics", "expired_or_superseded",
                        "corrected_at"}  # fmt: skip
    assert row["jurisdiction"] == CORRECTED["jurisdiction"] and row["corrected_at"].endswith("+08:00")
    t = Targeting.from_dict(row)
    licheng = Jurisdiction(JurisdictionLevel.DISTRICT, "山东省", "济南市", ("历城区",))
    assert t == Targeting("sd-gljt-2022", (Audience.RESIDENT,), licheng, ("外来务工与新市民",), {}, ("养老服务",))
    assert t.evidence == CORRECTED["evidence"]


@pytest.mark.parametrize(
    "change, fragment",
    [
        ({"groups": ["大学生"], "evidence": {}}, "群体“大学生”不在分类表中"),
        ({"topics": ["养老"]}, "主题“养老”不在分类表中"),
        ({"audience": ["company"]}, "适用对象“company”不正确"),
        ({"evidence": {"外来务工与新市民": "本文件不存在的句子"}}, "须逐字摘自文件正文"),
        ({"evidence": {}}, "请为群体“外来务工与新市民”填写摘自正文的原文依据"),
        ({"evidence": {"外来务工与新市民": "具有本省户籍", "老年人": "年满80周岁"}}, "不在所选群体中"),
        ({"jurisdiction": {"level": "village"}}, "层级“village”不正确"),
        ({"jurisdiction": {"level": "district", "province": "山东省", "city": "济南市"}}, "须填写区县"),
        ({"jurisdiction": {"level": "provincial", "province": "山东"}}, "省份全称"),
    ],
)
def test_bad_labels_are_422_in_chinese_and_change_nothing(api, review_state, change, fragment):
    people(api)
    before = review_state.push_store.outbox_rows()
    r = api.put("/api/admin/push/review/sd-gljt-2022/labels", headers=ADMIN, json={**CORRECTED, **change})
    assert fragment in assert_error(r, 422), r.text
    assert [dict(x) for x in review_state.push_store.outbox_rows()] == [dict(x) for x in before]
    assert review_state.push_store.corrections() == []


@pytest.mark.parametrize("method, suffix", [("POST", "approve"), ("POST", "drop"), ("PUT", "labels")])
def test_unknown_documents_are_404(api, method, suffix):
    people(api)
    r = api.request(method, f"/api/admin/push/review/no-such-doc/{suffix}", headers=ADMIN, json=CORRECTED)
    assert_error(r, 404, "REVIEW_NOT_FOUND")


def test_preview_says_who_and_why_and_stores_and_sends_nothing(api, review_state):
    newcomer = subscribe(api)
    store = review_state.push_store
    before = ([dict(r) for r in store.outbox_rows()], store.reviews(status=None), store.count_profiles())
    r = api.post("/api/admin/push/preview", headers=ADMIN, json={"doc_id": "jn-jzz-2019"})
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["reach"]["total"] == 1 and p["reach"]["by_kind"] == {"居民个人": 1}
    reason = "适用于济南市，您属于外来务工与新市民。"
    assert p["sample_reasons"] == [{"profile_id": newcomer["profile_id"], "reason": reason}]
    assert p["review_reasons"] == ["标注未经置信度校准（仅规则标注），须人工审核"]
    doc = {"id": "lc-jyjx-2025", "title": "历城区就业见习补贴办法", "text": "第一条 支持青年就业见习。"}
    r = api.post("/api/admin/push/preview", headers=ADMIN, json={"document": doc})
    assert r.status_code == 200 and r.json()["labels"]["topics"] == ["就业创业"] and r.json()["reach"]["total"] == 1
    assert ([dict(r) for r in store.outbox_rows()], store.reviews(status=None), store.count_profiles()) == before
    assert api.get("/api/documents/lc-jyjx-2025").status_code == 404  # not ingested
    assert api.post("/api/admin/push/deliver", headers=ADMIN).json()["sent"] == 0


@pytest.mark.parametrize(
    "body, status",
    [({}, 422), ({"doc_id": "x", "document": {"id": "y", "title": "t", "text": "正文"}}, 422),
     ({"doc_id": "no-such-doc"}, 404), ({"document": {"id": "y"}}, 422), ({"document": {"id": "y", "title": "t",
     "text": "正文", "colour": "red"}}, 422)],
)  # fmt: skip
def test_bad_previews_are_4xx_in_chinese(api, body, status):
    assert_error(api.post("/api/admin/push/preview", headers=ADMIN, json=body), status)


REVIEW_ROUTES = [
    ("GET", "/api/admin/push/review"),
    ("POST", "/api/admin/push/review/jn-jzz-2019/approve"),
    ("POST", "/api/admin/push/review/jn-jzz-2019/drop"),
    ("PUT", "/api/admin/push/review/jn-jzz-2019/labels"),
    ("GET", "/api/admin/push/corrections/export"),
    ("POST", "/api/admin/push/preview"),
]


@pytest.mark.parametrize("method, path", REVIEW_ROUTES)
def test_review_routes_need_the_admin_key(api, review_state, method, path):
    newcomer, _ = people(api)
    for headers in ({}, {"X-API-Key": "wrong"}, bearer(newcomer["token"])):
        assert_error(api.request(method, path, json=CORRECTED, headers=headers), 401, "UNAUTHORIZED")
    assert review_state.push_store.status_counts()["held"] == 3  # nothing decided


def test_with_the_review_step_off_everything_goes_out(tmp_path, policy_index):
    st = build_state(make_settings(tmp_path, push_review=False), index=policy_index)
    st.push_labeller = fake_labeller
    with TestClient(create_app(state=st)) as api:
        subscribe(api)
        r = run_plan(api, list(LABELS))
        assert r["held"] == [] and api.post("/api/admin/push/deliver", headers=ADMIN).json()["sent"] == 2


def test_a_confident_document_reaching_few_profiles_goes_out_on_its_own(tmp_path, policy_index):
    st = build_state(make_settings(tmp_path, push_review=True, push_review_min_profiles=2), index=policy_index)
    st.push_labeller = lambda d: replace(fake_labeller(d), confidence=0.95)
    with TestClient(create_app(state=st)) as api:
        subscribe(api)
        subscribe(api, contact={"channel": "inbox"}, description=None)
        subscribe(api, groups=["老年人"], topics=[], contact={"channel": "inbox"}, description=None)
        r = run_plan(api, list(LABELS))
        # 创业担保贷款 and 居住证 reach 2 profiles each (>= 2: wait); 高龄津贴 reaches 1 (sent).
        assert sorted(r["held"]) == ["jn-jzz-2019", "lc-cydb-2023"]
        assert api.post("/api/admin/push/deliver", headers=ADMIN).json()["sent"] == 1
        waiting = api.get("/api/admin/push/review", headers=ADMIN).json()["items"]
        assert waiting[0]["reasons"] == ["将推送给 2 位订阅用户（达到 2 人须人工审核）"]
