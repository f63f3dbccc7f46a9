"""The push API end to end over the small library in conftest, with the fake labeller of `library.py`.

Labels (fake, by hand): 创业担保贷款 (lc-cydb-2023) is for Licheng residents on the topic 就业创业;
高龄津贴 (sd-gljt-2022) for Shandong's 老年人; 居住证 (jn-jzz-2019) for Jinan's 外来务工与新市民.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from corpus.models import Document
from corpus.push.targeting import Targeting
from corpus.push.taxonomy import GROUPS, TOPICS
from qa_service.app import build_state, create_app
from qa_service.push.records import PushMessage
from tests.qa_service.conftest import make_settings
from tests.qa_service.push.library import (
    ADMIN,
    LABELS,
    PHONE,
    SECRET_STORY,
    bearer,
    fake_labeller,
    profile_body,
    run_plan,
    settle,
)

CJK = re.compile(r"[\u4e00-\u9fff]")
EMAIL = "li.hua@example.com"


@pytest.fixture
def push_state(tmp_path, policy_index):
    st = build_state(make_settings(tmp_path, push_max_attempts=2, push_retry_seconds=0), index=policy_index)
    st.push_labeller = fake_labeller
    return st


@pytest.fixture
def api(push_state):
    with TestClient(create_app(state=push_state)) as c:
        yield c


def subscribe(api, **overrides) -> dict:
    r = api.post("/api/profiles", json=profile_body(**overrides))
    assert r.status_code == 201, r.text
    return r.json()


def assert_error(r, status: int, code: str | None = None) -> str:
    assert r.status_code == status, (r.status_code, r.text[:300])
    err = r.json()["error"]
    if code:
        assert err["code"] == code
    assert CJK.search(err["message"]), err
    return err["message"]


# -- taxonomy and profiles ---------------------------------------------------------------------
def test_taxonomy_lists_the_groups_and_topics_for_the_form(api):
    t = api.get("/api/push/taxonomy").json()
    assert t["groups"] == list(GROUPS) and len(t["groups"]) == 15
    assert t["topics"] == list(TOPICS) and len(t["topics"]) == 20
    assert {c["value"] for c in t["kinds"]} == {"resident", "enterprise"}
    assert {c["label"] for c in t["channels"]} == {"站内信", "短信", "电子邮件"}
    assert "山东省" in t["provinces"] and len(t["provinces"]) == 34


def test_create_returns_the_token_once_and_the_owner_reads_the_profile(api):
    created = subscribe(api)
    assert created["token"].startswith("pt-") and "只显示这一次" in created["notice"]
    assert created["profile_id"].startswith("p-") and created["contact"] == {"channel": "sms", "address": PHONE}
    me = api.get("/api/profiles/me", headers=bearer(created["token"]))
    assert me.status_code == 200
    body = me.json()
    assert "token" not in body
    assert body["description"] == SECRET_STORY and body["groups"] == ["外来务工与新市民", "学生及家长"]
    assert body["street"] == "王舍人街道" and body["created"].endswith("+08:00")


@pytest.mark.parametrize(
    "headers, code",
    [
        ({}, "TOKEN_MISSING"),
        ({"Authorization": "Basic abc"}, "TOKEN_MISSING"),
        ({"Authorization": "Bearer "}, "TOKEN_MISSING"),
        ({"Authorization": "Bearer pt-not-a-real-token"}, "TOKEN_INVALID"),
        ({"Authorization": "Bearer ' OR 1=1 --"}, "TOKEN_INVALID"),
        ({"Authorization": "Bearer " + "x" * 5000}, "TOKEN_INVALID"),
    ],
)
@pytest.mark.parametrize("method, path", [("GET", "/api/profiles/me"), ("DELETE", "/api/profiles/me"),
                                          ("GET", "/api/profiles/me/inbox")])  # fmt: skip
def test_profile_routes_need_a_valid_token(api, headers, code, method, path):
    subscribe(api)
    msg = assert_error(api.request(method, path, headers=headers), 401, code)
    assert "凭证" in msg


def test_wrong_token_answers_401_in_chinese(api):
    subscribe(api)
    r = api.get("/api/profiles/me", headers=bearer("pt-" + "A" * 43))
    assert assert_error(r, 401, "TOKEN_INVALID") == "订阅凭证无效或已注销，请确认凭证是否正确。"


def test_another_resident_cannot_read_a_profile(api):
    alice = subscribe(api)
    bob = subscribe(api, description="我是退休教师。", contact={"channel": "email", "address": EMAIL})
    # Bob's token shows Bob, never Alice.
    assert api.get("/api/profiles/me", headers=bearer(bob["token"])).json()["description"] == "我是退休教师。"
    r = api.get(f"/api/profiles/{alice['profile_id']}", headers=bearer(bob["token"]))
    assert_error(r, 403, "FORBIDDEN")
    assert PHONE not in r.text and SECRET_STORY not in r.text
    # An id that does not exist answers the same, so ids cannot be probed.
    assert_error(api.get("/api/profiles/p-0000000000000000", headers=bearer(bob["token"])), 403, "FORBIDDEN")
    assert_error(api.get(f"/api/profiles/{alice['profile_id']}"), 401, "TOKEN_MISSING")
    assert_error(api.get(f"/api/profiles/{alice['profile_id']}", headers={"X-API-Key": "wrong"}), 401)
    # The owner and the admin key may.
    own = api.get(f"/api/profiles/{alice['profile_id']}", headers=bearer(alice["token"]))
    assert own.status_code == 200 and own.json()["contact"]["address"] == PHONE
    admin = api.get(f"/api/profiles/{alice['profile_id']}", headers=ADMIN)
    assert admin.status_code == 200 and admin.json()["description"] == SECRET_STORY
    assert_error(api.get("/api/profiles/p-0000000000000000", headers=ADMIN), 404, "NOT_FOUND")


def test_update_replaces_and_delete_erases(api, push_state):
    created = subscribe(api)
    token = created["token"]
    r = api.put(
        "/api/profiles/me",
        headers=bearer(token),
        json=profile_body(groups=["老年人"], topics=[], description=None, contact={"channel": "站内信"}),
    )
    assert r.status_code == 200, r.text
    assert r.json()["groups"] == ["老年人"] and r.json()["contact"] == {"channel": "inbox", "address": None}
    assert r.json()["description"] == ""
    assert api.delete("/api/profiles/me", headers=bearer(token)).json() == {"deleted": True}
    assert_error(api.get("/api/profiles/me", headers=bearer(token)), 401, "TOKEN_INVALID")
    assert push_state.push_store.count_profiles() == 0


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        ({"groups": ["大学生"]}, "群体“大学生”不在可选范围内"),
        ({"groups": ["高校毕业生", "老人"]}, "可选：高校毕业生、农民工"),
        ({"topics": ["养老"]}, "主题“养老”不在可选范围内"),
        ({"groups": [], "topics": []}, "至少选择一个所属群体或关注主题"),
        ({"kind": "company"}, "订阅类型“company”不正确"),
        ({"province": "山东"}, "省份“山东”不正确"),
        ({"province": None}, "填写城市时请同时填写省份"),
        ({"city": None}, "填写区县时请同时填写省份和城市"),
        ({"city": "济南"}, "城市“济南”不是规范名称"),
        ({"district": "Licheng"}, "区县应为 2-30 个汉字"),
        ({"province": "上海市", "city": "济南市"}, "直辖市的城市应填写为“上海市”"),
        ({"contact": {"channel": "sms", "address": "12345"}}, "手机号格式不正确"),
        ({"contact": {"channel": "email", "address": "not-an-email"}}, "电子邮箱格式不正确"),
        ({"contact": {"channel": "inbox", "address": PHONE}}, "站内信无需填写联系地址"),
        ({"contact": {"channel": "pigeon"}}, "接收渠道“pigeon”不正确"),
        ({"description": "描" * 501}, "自我描述过长"),
    ],
)
def test_bad_profiles_are_422_with_a_chinese_message(api, overrides, fragment):
    msg = assert_error(api.post("/api/profiles", json=profile_body(**overrides)), 422)
    assert fragment in msg, msg


@pytest.mark.parametrize(
    "overrides",
    [{"groups": "高校毕业生"}, {"groups": [1, 2]}, {"kind": 3}, {"nickname": "小李"}, {"contact": {"phone": PHONE}}],
)
def test_wrongly_typed_fields_are_422_with_a_chinese_message(api, overrides):
    assert_error(api.post("/api/profiles", json=profile_body(**overrides)), 422)


def test_municipality_profile_gets_its_city_filled_in(api):
    created = subscribe(api, province="北京市", city=None, district="通州区", street="新华街道")
    assert created["city"] == "北京市"


def test_every_jinan_street_in_the_official_list_is_accepted(api, shared_dir):
    import csv

    path = shared_dir / "data" / "regions" / "jinan_streets.csv"
    with path.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 164
    from qa_service.push.schemas import ProfileIn
    from qa_service.push.service import build_profile

    for row in rows:
        body = ProfileIn(**profile_body(province=row["province"], city=row["city"], district=row["district"],
                                        street=row["street"]))  # fmt: skip
        profile, _ = build_profile(body, "p-x")
        assert profile.street == row["street"]


def test_every_push_dev_profile_is_accepted(api, shared_dir):
    path = shared_dir / "data" / "eval" / "push-dev" / "profiles.jsonl"
    for line in path.read_text(encoding="utf-8").splitlines():
        d = json.loads(line)
        d.pop("profile_id")
        r = api.post("/api/profiles", json={**d, "contact": {"channel": "inbox"}})
        assert r.status_code == 201, (d, r.text)


HOSTILE = [
    "",
    "\x00",
    "高校毕业生\x00",
    "\x1b[31m红色",
    "a" * 10_000,
    "'; DROP TABLE profiles; --",
    "<script>alert(1)</script>",
    "高校毕业生' OR '1'='1",
    "\ud800",
]


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize(
    "field",
    ["kind", "province", "city", "district", "street", "groups", "topics", "description", "channel", "address"],
)
def test_hostile_strings_are_4xx_never_500(api, push_state, field, value):
    if field in ("groups", "topics"):
        body = profile_body(**{field: [value]})
    elif field in ("channel", "address"):
        body = profile_body(contact={"channel": "sms", "address": PHONE, field: value})
    else:
        body = profile_body(**{field: value})
    # ASCII-escaped JSON, so lone surrogates reach the server as the \\ud800 escapes a client can send.
    r = api.post("/api/profiles", content=json.dumps(body), headers={"Content-Type": "application/json"})
    free_text = ("", "'; DROP TABLE profiles; --", "<script>alert(1)</script>", "高校毕业生' OR '1'='1", "\x1b[31m红色")
    if field == "description" and value in free_text:
        # Free text: stored verbatim (control characters dropped), as data, never as SQL.
        assert r.status_code == 201, r.text
        assert r.json()["description"] == value.replace("\x1b", "")
    elif field in ("district", "street") and value == "":
        assert r.status_code == 201, r.text  # optional: empty means not given
        assert r.json()[field] is None
    else:
        assert 400 <= r.status_code < 500, (r.status_code, r.text[:200])
        assert CJK.search(r.json()["error"]["message"])
    counts = push_state.push_store.status_counts()
    assert counts == {"held": 0, "pending": 0, "sent": 0, "failed": 0, "dead": 0}  # tables intact


@pytest.mark.parametrize("value", ["\x00", "a" * 10_000, "../../etc/passwd", "'; DROP TABLE outbox; --"])
def test_hostile_admin_inputs_are_4xx(api, value):
    assert 400 <= api.post("/api/admin/push/plan", headers=ADMIN, json={"doc_ids": [value]}).status_code < 500
    assert 400 <= api.get(f"/api/profiles/{quote(value[:300], safe='')}", headers=ADMIN).status_code < 500
    assert_error(api.post("/api/admin/push/deliver", headers=ADMIN, json={"limit": value}), 422)


# -- admin --------------------------------------------------------------------------------------
ADMIN_ROUTES = [
    ("POST", "/api/admin/push/plan"),
    ("POST", "/api/admin/push/deliver"),
    ("GET", "/api/admin/push/status"),
    ("POST", "/api/admin/push/requeue-failed"),
    ("GET", "/api/admin/push/jobs"),
    ("GET", "/api/admin/push/jobs/1"),
]


def test_a_plan_request_answers_202_at_once_and_unknown_jobs_are_404_in_chinese(api, push_state):
    subscribe(api)
    push_state.push_jobs.stop()  # the `api` lifespan's planner thread: now only the request runs
    idle = TestClient(create_app(state=push_state))  # and no lifespan here to start another
    r = idle.post("/api/admin/push/plan", headers=ADMIN, json={"doc_ids": list(LABELS)})
    assert r.status_code == 202 and r.json()["status_url"] == f"/api/admin/push/jobs/{r.json()['job_id']}"
    assert r.json()["status"] == "queued" and push_state.push_store.outbox_rows() == []  # the request planned nothing
    push_state.push_jobs.run_pending()
    listed = api.get("/api/admin/push/jobs", headers=ADMIN).json()
    assert listed["active"] == 0 and [j["status_label"] for j in listed["items"]] == ["已完成"]
    assert_error(api.get("/api/admin/push/jobs/999", headers=ADMIN), 404, "NOT_FOUND")
    assert_error(api.get("/api/admin/push/jobs/abc", headers=ADMIN), 422)


@pytest.mark.parametrize("method, path", ADMIN_ROUTES)
def test_admin_push_routes_need_the_key(api, method, path):
    created = subscribe(api)
    assert_error(api.request(method, path, json={}), 401, "UNAUTHORIZED")
    assert_error(api.request(method, path, json={}, headers={"X-API-Key": "wrong"}), 401, "UNAUTHORIZED")
    # A subscriber's token is not an admin key.
    assert_error(api.request(method, path, json={}, headers=bearer(created["token"])), 401, "UNAUTHORIZED")


def test_plan_deliver_inbox_and_status_end_to_end(api):
    newcomer = subscribe(api)  # Licheng, 外来务工与新市民 + 就业创业
    elder = subscribe(api, groups=["老年人"], topics=["养老服务"], contact={"channel": "inbox"}, description=None)
    stranger = subscribe(api, province="广东省", city="深圳市", district="南山区", street="粤海街道")

    r = run_plan(api, list(LABELS))
    # newcomer: 创业担保贷款 (topic) + 居住证 (group); elder: 高龄津贴; the Shenzhen profile: nothing.
    # jn-jzz-2019 supersedes the 2015 version in this library, so it goes out as a revision.
    assert {k: r[k] for k in ("documents", "progress", "enqueued", "revised", "skipped", "errors", "held")} == {
        "documents": 3, "progress": 3, "enqueued": 3, "revised": ["jn-jzz-2019"], "skipped": {}, "errors": {},
        "held": [],
    }  # fmt: skip
    assert r["source"] == "admin" and r["runs"] == 1 and r["doc_ids"] == list(LABELS)
    assert run_plan(api, list(LABELS))["enqueued"] == 0

    status = api.get("/api/admin/push/status", headers=ADMIN).json()
    assert status["outbox"] == {"held": 0, "pending": 3, "sent": 0, "failed": 0, "dead": 0} and status["profiles"] == 3

    assert api.post("/api/admin/push/deliver", headers=ADMIN, json={"limit": 2}).json()["sent"] == 2
    assert api.post("/api/admin/push/deliver", headers=ADMIN).json()["sent"] == 1
    assert api.post("/api/admin/push/deliver", headers=ADMIN).json()["sent"] == 0

    inbox = api.get("/api/profiles/me/inbox", headers=bearer(newcomer["token"])).json()
    assert inbox["total"] == 2
    by_doc = {i["doc_id"]: i for i in inbox["items"]}
    jzz = by_doc["jn-jzz-2019"]
    assert jzz["title"] == "济南市居住证申领办法" and jzz["doc_number"] == "济政发〔2019〕3号"
    assert jzz["link"] == "/api/documents/jn-jzz-2019" and api.get(jzz["link"]).status_code == 200
    assert (
        jzz["reason"]
        == "该政策已修订（替代《济南市居住证申领办法》），请以新版本为准。适用于济南市，您属于外来务工与新市民。"
    )
    assert jzz["evidence"] == ["保障流动人口合法权益"] and jzz["revised"]
    assert by_doc["lc-cydb-2023"]["reason"] == "适用于济南市历城区，您关注就业创业。"
    elder_inbox = api.get("/api/profiles/me/inbox", headers=bearer(elder["token"])).json()
    assert [i["reason"] for i in elder_inbox["items"]] == ["适用于山东省，您属于老年人。"]
    stranger_inbox = api.get("/api/profiles/me/inbox", headers=bearer(stranger["token"])).json()
    assert stranger_inbox == {"total": 0, "unread": 0, "items": []}
    page = api.get("/api/profiles/me/inbox?limit=1&offset=1", headers=bearer(newcomer["token"])).json()
    assert page["total"] == 2 and len(page["items"]) == 1
    assert_error(api.get("/api/profiles/me/inbox?limit=1000", headers=bearer(newcomer["token"])), 422)


def test_plan_rejects_unknown_documents(api):
    msg = assert_error(
        api.post("/api/admin/push/plan", headers=ADMIN, json={"doc_ids": ["no-such-doc"]}), 404, "DOCUMENT_NOT_FOUND"
    )
    assert "no-such-doc" in msg


def test_ingest_plans_pushes_and_a_revision_is_pushed_again_with_修订(api, push_state):
    created = subscribe(api)
    doc = {
        "id": "lc-jyjx-2025",
        "title": "历城区就业见习补贴办法",
        "doc_number": "历人社发〔2025〕5号",
        "issuer": "济南市历城区人力资源和社会保障局",
        "publish_date": "2025-03-01",
        "status": "current",
        "text": "第一条 见习单位吸纳离校两年内未就业高校毕业生参加就业见习的，按每人每月1000元给予见习补贴。",
    }
    assert api.post("/api/admin/documents", headers=ADMIN, json={"documents": [doc]}).status_code == 200
    settle(api)
    assert push_state.push_store.status_counts()["pending"] == 1  # planned by the job the ingest queued
    [job] = api.get("/api/admin/push/jobs", headers=ADMIN).json()["items"]
    assert (job["source"], job["status"], job["documents"], job["enqueued"]) == ("ingest", "done", 1, 1)
    # The same text again is not a new version: nothing new to send.
    assert api.post("/api/admin/documents", headers=ADMIN, json={"documents": [doc]}).status_code == 200
    settle(api)
    assert push_state.push_store.status_counts()["pending"] == 1
    revised = {**doc, "text": doc["text"].replace("1000元", "1500元")}
    assert api.post("/api/admin/documents", headers=ADMIN, json={"documents": [revised]}).status_code == 200
    settle(api)
    assert push_state.push_store.status_counts()["pending"] == 2

    assert api.post("/api/admin/push/deliver", headers=ADMIN).json()["sent"] == 2
    items = api.get("/api/profiles/me/inbox", headers=bearer(created["token"])).json()["items"]
    reasons = sorted(i["reason"] for i in items)
    assert reasons == [
        "该政策已修订，请以新版本为准。适用于济南市历城区，您关注就业创业。",
        "适用于济南市历城区，您关注就业创业。",
    ]
    assert [i["revised"] for i in items if "修订" in i["reason"]] == [True]


def test_an_http_client_waits_for_the_job_an_ingest_queued(api, push_state):
    subscribe(api)
    doc = {"id": "lc-jyjx-2026", "title": "历城区就业见习补贴办法", "status": "current", "text": "见习补贴每月1000元。"}
    assert api.post("/api/admin/documents", headers=ADMIN, json={"documents": [doc]}).status_code == 200
    listed = api.get("/api/admin/push/jobs", params={"wait": 30}, headers=ADMIN).json()  # the lifespan's thread
    assert listed["active"] == 0 and listed["items"][0]["status"] == "done" and listed["items"][0]["source"] == "ingest"
    assert push_state.push_store.status_counts()["pending"] == 1


def test_ingest_of_a_new_version_names_the_one_it_replaces(api):
    created = subscribe(api)
    new = {
        "id": "lc-cydb-2025",
        "title": "历城区创业担保贷款实施细则（2025年修订）",
        "doc_number": "历人社发〔2025〕2号",
        "publish_date": "2025-02-01",
        "status": "current",
        "version_group": "lc-cydb",
        "supersedes": "lc-cydb-2023",
        "text": "第二条 个人创业担保贷款最高额度为50万元，贷款期限最长不超过3年。",
    }
    assert api.post("/api/admin/documents", headers=ADMIN, json={"documents": [new]}).status_code == 200
    settle(api)
    api.post("/api/admin/push/deliver", headers=ADMIN)
    [item] = api.get("/api/profiles/me/inbox", headers=bearer(created["token"])).json()["items"]
    assert item["reason"].startswith("该政策已修订（替代《历城区创业担保贷款实施细则》）") and item["revised"]


def test_documents_ingested_while_the_labeller_failed_are_planned_later(api, push_state):
    created = subscribe(api)

    def broken(doc: Document) -> Targeting:
        raise RuntimeError("labeller crashed")

    push_state.push_labeller = broken
    doc = {"id": "lc-new-1", "title": "历城区稳就业若干措施", "status": "current", "text": "一、支持企业吸纳就业。"}
    assert api.post("/api/admin/documents", headers=ADMIN, json={"documents": [doc]}).status_code == 200
    settle(api)
    status = api.get("/api/admin/push/status", headers=ADMIN).json()
    assert status["unplanned_documents"] == 1 and status["outbox"]["pending"] == 0
    [job] = api.get("/api/admin/push/jobs", headers=ADMIN).json()["items"]
    assert job["status"] == "done" and list(job["errors"]) == ["lc-new-1"] and job["enqueued"] == 0

    push_state.push_labeller = fake_labeller
    r = run_plan(api, body={})  # all ingested since the last plan
    assert r["enqueued"] == 1 and r["documents"] == 1 and r["doc_ids"] is None
    assert api.get("/api/admin/push/status", headers=ADMIN).json()["unplanned_documents"] == 0
    assert run_plan(api)["documents"] == 0
    api.post("/api/admin/push/deliver", headers=ADMIN)
    [item] = api.get("/api/profiles/me/inbox", headers=bearer(created["token"])).json()["items"]
    assert item["title"] == "历城区稳就业若干措施"


def test_missing_labeller_module_is_503_not_500(api, push_state, monkeypatch):
    push_state.push_labeller = None
    monkeypatch.setitem(sys.modules, "corpus.push.labels", None)  # import fails
    r = api.post("/api/admin/push/plan", headers=ADMIN, json={"doc_ids": ["jn-jzz-2019"]})
    assert_error(r, 503, "PUSH_UNAVAILABLE")


class GatewayDown:
    name = "sms"

    def send(self, message: PushMessage) -> None:
        raise ConnectionError(f"gateway refused {message.contact.address}")


def test_failed_deliveries_are_reported_without_personal_data_and_logs_stay_clean(api, push_state, caplog):
    caplog.set_level(logging.DEBUG)
    created = subscribe(api, contact={"channel": "email", "address": EMAIL})
    token = created["token"]
    other = subscribe(api)  # sms with PHONE
    api.get("/api/profiles/me", headers=bearer(token))
    api.put("/api/profiles/me", headers=bearer(other["token"]), json=profile_body(description=SECRET_STORY + "!"))
    api.post("/api/profiles", json=profile_body(contact={"channel": "sms", "address": PHONE + "0"}))  # rejected

    push_state.push_channel = GatewayDown()
    run_plan(api, list(LABELS))
    first = api.post("/api/admin/push/deliver", headers=ADMIN).json()
    assert first["sent"] == 0 and first["retrying"] == 4  # 2 documents each for 2 profiles
    second = api.post("/api/admin/push/deliver", headers=ADMIN).json()  # retry delay 0, 2 attempts max
    assert second["failed"] == 4 and all(f["final"] for f in second["failures"])
    status = api.get("/api/admin/push/status", headers=ADMIN).json()
    assert status["outbox"] == {"held": 0, "pending": 0, "sent": 0, "failed": 0, "dead": 4}
    assert len(status["failures"]) == 4
    assert all(f["attempts"] == 2 and "ConnectionError" in f["error"] for f in status["failures"])
    assert api.post("/api/admin/push/requeue-failed", headers=ADMIN).json() == {"requeued": 4}
    api.delete("/api/profiles/me", headers=bearer(token))

    for secret in (PHONE, EMAIL, SECRET_STORY, token, other["token"]):
        assert secret not in caplog.text
        assert secret not in str(status) and secret not in str(first) and secret not in str(second)
    assert "push" in caplog.text  # the jobs did log, just not the personal data
