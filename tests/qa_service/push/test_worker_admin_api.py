"""What operators and residents see of delivery over HTTP: status per document and channel (planned,
sent, failed, dead-lettered) with requeue of one channel, and the inbox's read receipts."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from qa_service.app import build_state, create_app
from qa_service.push.records import Contact
from tests.qa_service.conftest import make_settings
from tests.qa_service.push.library import ADMIN, LABELS, bearer, fake_labeller, profile_body, run_plan
from tests.qa_service.push.loopback import HttpReceiver
from tests.qa_service.push.test_api import assert_error


@pytest.fixture
def receiver():
    with HttpReceiver() as r:
        yield r


@pytest.fixture
def push_state(tmp_path, policy_index):
    settings = make_settings(
        tmp_path, push_max_attempts=2, push_retry_seconds=0, push_webhook_enabled=True,
        push_channels_allow_loopback=True, push_http_retries=0,
    )  # fmt: skip
    st = build_state(settings, index=policy_index)
    st.push_labeller = fake_labeller
    return st


@pytest.fixture
def api(push_state):
    with TestClient(create_app(state=push_state)) as c:
        yield c


def test_status_per_document_and_channel_and_requeue_of_the_dead_webhook_rows(api, push_state, receiver):
    r = api.post("/api/profiles", json=profile_body(contact={"channel": "inbox"}))
    assert r.status_code == 201, r.text
    pid = r.json()["profile_id"]
    sub = push_state.push_store.get_profile(pid)
    hook = Contact(channels=("webhook",), webhook_url=receiver.url())
    assert push_state.push_store.update_profile(sub.profile, hook)
    plan = run_plan(api, ["lc-cydb-2023"])
    assert plan["enqueued"] == 2  # inbox + webhook

    receiver.script(410)  # the receiver refuses the webhook row: dead-lettered at once
    report = api.post("/api/admin/push/deliver", headers=ADMIN).json()
    assert report["sent"] == 1 and report["failed"] == 1 and report["failures"][0]["channel"] == "webhook"
    status = api.get("/api/admin/push/status", headers=ADMIN, params={"doc_id": "lc-cydb-2023"}).json()
    by = {d["channel"]: d for d in status["documents"]}
    assert by["inbox"] == {"doc_id": "lc-cydb-2023", "channel": "inbox", "held": 0, "pending": 0, "sent": 1,
                           "failed": 0, "dead": 0}  # fmt: skip
    assert by["webhook"]["dead"] == 1 and status["outbox"]["dead"] == 1
    assert [f["channel"] for f in status["failures"]] == ["webhook"] and "410" in status["failures"][0]["error"]

    body = {"doc_id": "lc-cydb-2023", "channel": "inbox"}
    assert api.post("/api/admin/push/requeue-failed", headers=ADMIN, json=body).json() == {"requeued": 0}
    bad = api.post("/api/admin/push/requeue-failed", headers=ADMIN, json={"channel": "pigeon"})
    assert_error(bad, 422, "INVALID_REQUEST")
    body["channel"] = "webhook"
    assert api.post("/api/admin/push/requeue-failed", headers=ADMIN, json=body).json() == {"requeued": 1}
    assert api.post("/api/admin/push/deliver", headers=ADMIN).json()["sent"] == 1
    assert len(receiver.accepted) == 1 and set(LABELS) >= {"lc-cydb-2023"}
    status = api.get("/api/admin/push/status", headers=ADMIN).json()
    assert {d["channel"]: d["sent"] for d in status["documents"]} == {"inbox": 1, "webhook": 1}


def test_read_receipts_mark_an_item_read_when_its_owner_opens_it(api):
    me = api.post("/api/profiles", json=profile_body(contact={"channel": "inbox"})).json()
    other = api.post("/api/profiles", json=profile_body(contact={"channel": "inbox"})).json()
    run_plan(api, list(LABELS))
    api.post("/api/admin/push/deliver", headers=ADMIN)
    inbox = api.get("/api/profiles/me/inbox", headers=bearer(me["token"])).json()
    assert inbox["total"] == inbox["unread"] == 2 and not any(i["read"] for i in inbox["items"])
    key = inbox["items"][0]["key"]

    assert_error(api.post(f"/api/push/inbox/{key}/read"), 401)
    assert_error(api.post(f"/api/push/inbox/{key}/read", headers=bearer(other["token"])), 404, "NOT_FOUND")
    r = api.post(f"/api/push/inbox/{key}/read", headers=bearer(me["token"]))
    assert r.status_code == 200 and r.json()["read"] and r.json()["key"] == key and r.json()["read_at"]
    again = api.post(f"/api/push/inbox/{key}/read", headers=bearer(me["token"])).json()
    assert again["read_at"] == r.json()["read_at"]  # the first opening is what counts
    inbox = api.get("/api/profiles/me/inbox", headers=bearer(me["token"])).json()
    assert inbox["unread"] == 1 and [i["read"] for i in inbox["items"] if i["key"] == key] == [True]
    assert api.get("/api/profiles/me/inbox", headers=bearer(other["token"])).json()["unread"] == 2
