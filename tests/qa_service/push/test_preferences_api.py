"""Residents' preferences through the subscription API: several channels with their addresses, immediate or
daily digest, quiet hours, a daily cap; the webhook's signing secret shown once; only the channels this
deployment has may be chosen; the original single-channel form still works."""

from __future__ import annotations

import logging
import time

import pytest
from fastapi.testclient import TestClient

from qa_service.app import build_state, create_app
from qa_service.push.channels.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from tests.qa_service.conftest import make_settings
from tests.qa_service.push.library import ADMIN, PHONE, bearer, fake_labeller, profile_body, run_plan
from tests.qa_service.push.loopback import HttpReceiver
from tests.qa_service.push.test_api import assert_error

EMAIL = "wang.fang@example.com"
HOOK = "https://hooks.example.com/policy-push"
# Every channel configured; nothing is sent to these hosts unless a test delivers to them.
ALL_CHANNELS = dict(
    push_webhook_enabled=True,
    push_channels_allow_loopback=True,  # the loopback receiver of the delivery test
    push_http_retries=0,
    push_public_base_url="https://zw.licheng.gov.cn",
    push_unsubscribe_secret="unsubscribe-secret-for-these-tests-only-0123",
    push_smtp_host="smtp.example.com",
    push_smtp_from="push@licheng.gov.cn",
    push_sms_gateway_url="https://sms.example.com/send",
    push_sms_gateway_key="gateway-key",
    push_sms_template_id="TPL-1",
)


def _client(tmp_path, policy_index, **settings):
    st = build_state(make_settings(tmp_path, push_max_attempts=2, push_retry_seconds=0, **settings), index=policy_index)
    st.push_labeller = fake_labeller
    return st, TestClient(create_app(state=st))


@pytest.fixture
def full(tmp_path, policy_index):
    """A deployment with every channel configured: (state, client)."""
    st, client = _client(tmp_path, policy_index, **ALL_CHANNELS)
    with client:
        yield st, client


@pytest.fixture
def bare(tmp_path, policy_index):
    """The default deployment: the inbox only."""
    _, client = _client(tmp_path, policy_index)
    with client:
        yield client


def prefs_body(**prefs) -> dict:
    body = profile_body()
    del body["contact"]
    return {**body, "preferences": prefs}


def test_the_taxonomy_offers_only_the_channels_the_deployment_has(full, bare):
    _, api = full
    everything = api.get("/api/push/taxonomy").json()
    assert [c["value"] for c in everything["available_channels"]] == ["inbox", "sms", "email", "webhook"]
    assert {c["value"]: c["label"] for c in everything["delivery_modes"]} == {
        "immediate": "即时推送",
        "digest": "每日汇总",
    }
    assert everything["max_daily_cap"] == 50
    inbox_only = bare.get("/api/push/taxonomy").json()
    assert inbox_only["available_channels"] == [{"value": "inbox", "label": "站内信"}]
    assert inbox_only["channels"] == everything["channels"]  # the original field is unchanged


def test_create_with_preferences_shows_the_webhook_secret_once(full, caplog):
    st, api = full
    body = prefs_body(
        channels=["email", "sms", "webhook"], email=EMAIL, phone="139-1234-5678", webhook_url=HOOK,
        delivery_mode="digest", quiet_start="22:00", quiet_end="7:30", daily_cap=5,
    )  # fmt: skip
    with caplog.at_level(logging.DEBUG):
        r = api.post("/api/profiles", json=body)
    assert r.status_code == 201, r.text
    created = r.json()
    secret = created["webhook_secret"]
    assert secret.startswith("whsec-") and len(secret) > 40 and "签名密钥" in created["notice"]
    stored = st.push_store.get_profile(created["profile_id"]).contact
    assert stored.webhook_secret == secret  # the one deliveries sign with
    want = {
        "channels": ["inbox", "email", "sms", "webhook"], "email": EMAIL, "phone": PHONE, "webhook_url": HOOK,
        "delivery_mode": "digest", "quiet_start": "22:00", "quiet_end": "07:30", "daily_cap": 5,
    }  # fmt: skip
    assert {k: created["preferences"][k] for k in want} == want
    assert created["contact"] == {"channel": "sms", "address": PHONE}  # the original field, for older readers

    for path in ("/api/profiles/me", f"/api/profiles/{created['profile_id']}"):
        me = api.get(path, headers=bearer(created["token"]))
        assert me.status_code == 200 and {k: me.json()["preferences"][k] for k in want} == want
        assert secret not in me.text and "webhook_secret" not in me.json()
        assert me.json()["preferences"]["webhook_secret"] == secret[:6] + "…" + secret[-4:]
    admin = api.get(f"/api/profiles/{created['profile_id']}", headers=ADMIN)
    assert admin.status_code == 200 and secret not in admin.text
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert created["profile_id"] in logged  # the log names the profile...
    for personal in (EMAIL, PHONE, HOOK, "hooks.example.com", secret):
        assert personal not in logged  # ...never its contact details


def test_edit_keeps_the_secret_and_a_first_webhook_shows_its_new_secret_once(full):
    _, api = full
    created = api.post("/api/profiles", json=prefs_body(channels=["email"], email=EMAIL)).json()
    assert created["webhook_secret"] is None and "签名密钥" not in created["notice"]
    assert created["preferences"]["delivery_mode"] == "immediate" and created["preferences"]["quiet_start"] is None
    auth = bearer(created["token"])

    first = api.put("/api/profiles/me", headers=auth, json=prefs_body(channels=["webhook"], webhook_url=HOOK))
    assert first.status_code == 200, first.text
    secret = first.json()["webhook_secret"]
    assert secret.startswith("whsec-") and "签名密钥" in first.json()["notice"]
    assert first.json()["preferences"]["channels"] == ["inbox", "webhook"]
    assert first.json()["preferences"]["email"] is None  # replaced as a whole

    again = api.put(
        "/api/profiles/me", headers=auth,
        json=prefs_body(channels=["webhook", "sms"], webhook_url=HOOK + "/v2", phone=PHONE, delivery_mode="每日汇总",
                        quiet_start="23:15", quiet_end="06:00", daily_cap=50),
    )  # fmt: skip
    assert again.status_code == 200, again.text
    assert again.json()["webhook_secret"] is None and secret not in again.text  # kept, not shown again
    p = api.get("/api/profiles/me", headers=auth).json()["preferences"]
    assert p["webhook_secret"] == secret[:6] + "…" + secret[-4:] and p["webhook_url"] == HOOK + "/v2"
    assert (p["delivery_mode"], p["quiet_start"], p["quiet_end"], p["daily_cap"]) == ("digest", "23:15", "06:00", 50)

    # Dropping the preferences again: no quiet hours, no cap, immediate.
    plain = api.put("/api/profiles/me", headers=auth, json=prefs_body(channels=["webhook"], webhook_url=HOOK)).json()
    assert plain["webhook_secret"] is None
    assert (plain["preferences"]["quiet_start"], plain["preferences"]["daily_cap"]) == (None, None)
    assert plain["preferences"]["delivery_mode"] == "immediate"


def test_deliveries_are_signed_with_the_secret_shown_at_subscription(full):
    st, api = full
    with HttpReceiver() as receiver:
        created = api.post("/api/profiles", json=prefs_body(channels=["webhook"], webhook_url=receiver.url())).json()
        plan = run_plan(api, ["lc-cydb-2023"])
        assert plan["enqueued"] == 2  # inbox + webhook
        assert api.post("/api/admin/push/deliver", headers=ADMIN).json()["sent"] == 2
    [req] = receiver.requests
    ts = req.headers[TIMESTAMP_HEADER.lower()]
    assert verify_signature(created["webhook_secret"], req.body, req.headers[SIGNATURE_HEADER.lower()], ts, time.time())
    assert req.json()["profile_id"] == created["profile_id"]


@pytest.mark.parametrize(
    "prefs, fragment",
    [
        ({"channels": ["email"], "email": "wang@"}, "电子邮箱格式不正确"),
        ({"channels": ["sms"], "phone": "1391234567"}, "手机号格式不正确，请填写 11 位中国大陆手机号。"),
        ({"channels": ["email"]}, "选择“电子邮件”接收时，请填写电子邮箱"),
        ({"channels": ["sms"], "phone": "  "}, "请填写手机号"),
        ({"channels": ["inbox"], "phone": PHONE}, "填写了手机号，但未选择“短信”接收渠道"),
        ({"email": EMAIL}, "请在 channels 中选择对应的接收渠道"),
        ({"channels": ["pigeon"]}, "接收渠道“pigeon”不正确"),
        ({"channels": ["webhook"], "webhook_url": "http://hooks.example.com/x"}, "以 https:// 开头"),
        ({"channels": ["webhook"], "webhook_url": "ftp://hooks.example.com/x"}, "Webhook 地址不正确"),
        ({"channels": ["webhook"], "webhook_url": "https://user:pw@hooks.example.com/"}, "Webhook 地址不正确"),
        ({"channels": ["webhook"], "webhook_url": "https://10.1.2.3/hook"}, "不能指向内网或保留地址"),
        ({"channels": ["webhook"], "webhook_url": "https://[fd00::1]:8443/hook"}, "不能指向内网或保留地址"),
        ({"delivery_mode": "weekly"}, "推送方式“weekly”不正确，可选：immediate（即时推送）、digest（每日汇总）"),
        ({"quiet_start": "25:00", "quiet_end": "07:00"}, "免打扰开始时间“25:00”格式不正确"),
        ({"quiet_start": "22:00", "quiet_end": "7点"}, "免打扰结束时间“7点”格式不正确"),
        ({"quiet_start": "22:00"}, "请同时填写开始和结束时间"),
        ({"quiet_start": "08:00", "quiet_end": "08:00"}, "开始和结束时间不能相同"),
        ({"daily_cap": 0}, "每日最多推送条数应为 1 到 50 之间的整数"),
        ({"daily_cap": 51}, "每日最多推送条数应为 1 到 50 之间的整数"),
    ],
)
def test_bad_preferences_are_422_in_chinese_without_echoing_addresses(full, prefs, fragment):
    st, api = full
    r = api.post("/api/profiles", json=prefs_body(**prefs))
    msg = assert_error(r, 422, "PROFILE_INVALID")
    assert fragment in msg, msg
    for value in (prefs.get("email"), prefs.get("phone"), prefs.get("webhook_url")):
        if value and value.strip():
            assert value not in r.text
    assert st.push_store.count_profiles() == 0


@pytest.mark.parametrize("prefs", [{"daily_cap": "很多"}, {"channels": "email"}, {"quiet_start": 2200}, {"fax": "1"}])
def test_wrongly_typed_preferences_are_422_in_chinese(full, prefs):
    assert_error(full[1].post("/api/profiles", json=prefs_body(**prefs)), 422)


def test_one_channel_form_and_channels_list_together_are_refused(full):
    body = {**prefs_body(channels=["email"], email=EMAIL), "contact": {"channel": "sms", "address": PHONE}}
    assert "请只用一种方式选择接收渠道" in assert_error(full[1].post("/api/profiles", json=body), 422)


@pytest.mark.parametrize(
    "channel, fields, label",
    [("email", {"email": EMAIL}, "电子邮件"), ("sms", {"phone": PHONE}, "短信"),
     ("webhook", {"webhook_url": HOOK}, "Webhook（对接自有系统）")],
)  # fmt: skip
def test_a_channel_the_deployment_lacks_is_422_saying_so(bare, channel, fields, label):
    r = bare.post("/api/profiles", json=prefs_body(channels=[channel], **fields))
    msg = assert_error(r, 422, "PROFILE_INVALID")
    assert msg == f"本服务暂未开通“{label}”推送，请选择其他接收渠道。可选：站内信。"
    created = bare.post("/api/profiles", json=prefs_body(channels=["inbox"]))
    assert created.status_code == 201 and created.json()["preferences"]["channels"] == ["inbox"]
    r = bare.put(
        "/api/profiles/me", headers=bearer(created.json()["token"]), json=prefs_body(channels=[channel], **fields)
    )
    assert_error(r, 422, "PROFILE_INVALID")  # editing is held to the same list


def test_the_original_single_channel_form_still_works_with_or_without_preferences(bare):
    r = bare.post("/api/profiles", json=profile_body())  # contact: sms + phone, no preferences
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["contact"] == {"channel": "sms", "address": PHONE} and created["webhook_secret"] is None
    p = created["preferences"]
    assert (p["channels"], p["phone"], p["delivery_mode"], p["daily_cap"]) == (
        ["inbox", "sms"],
        PHONE,
        "immediate",
        None,
    )
    # Preferences without `channels` keep the contact's channel and add the timing.
    body = {**profile_body(contact={"channel": "email", "address": EMAIL}), "preferences": {
        "delivery_mode": "digest", "quiet_start": "21:30", "quiet_end": "08:00", "daily_cap": 3}}  # fmt: skip
    r = bare.put("/api/profiles/me", headers=bearer(created["token"]), json=body)
    assert r.status_code == 200, r.text
    assert r.json()["contact"] == {"channel": "email", "address": EMAIL}
    p = bare.get("/api/profiles/me", headers=bearer(created["token"])).json()["preferences"]
    assert (p["channels"], p["email"], p["delivery_mode"]) == (["inbox", "email"], EMAIL, "digest")
    assert (p["quiet_start"], p["quiet_end"], p["daily_cap"]) == ("21:30", "08:00", 3)
