"""One-click unsubscribe through the signed link (no login), over the real app; and the channels the settings make.

GET only shows a confirmation page (mail scanners follow links); POST (RFC 8058 One-Click, or the
page's button) deletes the subscription with its outbox and inbox.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from qa_service.app import build_state, create_app
from qa_service.push.channels import build_channels, render_config
from qa_service.push.preferences import make_unsubscribe_token
from tests.qa_service.conftest import make_settings
from tests.qa_service.push.library import ADMIN, LABELS, bearer, fake_labeller, profile_body, run_plan

SECRET = "unsubscribe-secret-for-the-api-tests-0123456789"
BASE = "https://zw.licheng.gov.cn"
HTML = {"Accept": "text/html,application/xhtml+xml"}
ONE_CLICK = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def push_state(tmp_path, policy_index):
    settings = make_settings(tmp_path, push_unsubscribe_secret=SECRET, push_public_base_url=BASE)
    st = build_state(settings, index=policy_index)
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


def link_path(push_state, profile_id: str, short: bool = False) -> str:
    """The path of the link residents get in their messages."""
    links = render_config(push_state.settings)
    assert links is not None
    url = links.short_unsubscribe_url(profile_id) if short else links.unsubscribe_url(profile_id)
    assert url.startswith(BASE)
    return url[len(BASE) :]


def delivered(api) -> dict:
    assert run_plan(api, list(LABELS))["status"] == "done"
    api.post("/api/admin/push/deliver", headers=ADMIN)
    return api.get("/api/admin/push/status", headers=ADMIN).json()


def test_get_confirms_and_post_deletes_the_subscription_and_everything_derived(api, push_state):
    newcomer = subscribe(api, contact={"channel": "inbox"})  # gets 创业担保贷款 and 居住证
    elder = subscribe(api, groups=["老年人"], topics=["养老服务"], contact={"channel": "inbox"}, description=None)
    before = delivered(api)
    assert before["profiles"] == 2 and before["outbox"]["sent"] == 3
    path = link_path(push_state, newcomer["profile_id"])

    page = api.get(path, headers=HTML)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "确认退订" in page.text and '<form method="post">' in page.text
    assert "script-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    assert api.get(path).json() == {"subscribed": True}
    # Looking at the link changed nothing.
    assert api.get("/api/profiles/me", headers=bearer(newcomer["token"])).status_code == 200

    r = api.post(path, content="List-Unsubscribe=One-Click", headers=ONE_CLICK)
    assert r.status_code == 200 and r.json() == {"unsubscribed": True, "deleted": True}

    assert api.get("/api/profiles/me", headers=bearer(newcomer["token"])).status_code == 401
    assert push_state.push_store.inbox(newcomer["profile_id"])[0] == 0
    after = api.get("/api/admin/push/status", headers=ADMIN).json()
    assert after["profiles"] == 1 and after["outbox"]["sent"] == 1  # the newcomer's two rows are gone
    # The other subscriber keeps everything.
    assert api.get("/api/profiles/me/inbox", headers=bearer(elder["token"])).json()["total"] == 1

    again = api.post(path, content="List-Unsubscribe=One-Click", headers=ONE_CLICK)
    assert again.status_code == 200 and again.json() == {"unsubscribed": True, "deleted": False}
    assert "您已退订" in api.get(path, headers=HTML).text and api.get(path).json() == {"subscribed": False}


def test_the_page_button_unsubscribes_with_a_browser_post(api, push_state):
    created = subscribe(api)
    for short in (True, False):
        path = link_path(push_state, created["profile_id"], short=short)
        page = api.get(path, headers=HTML)
        assert page.status_code == 200 and "确认退订" in page.text
        assert '<form method="post">' in page.text  # no action: the browser posts back to the link itself
    done = api.post(link_path(push_state, created["profile_id"], short=True), headers={**HTML, **ONE_CLICK})
    assert done.status_code == 200 and "退订成功" in done.text
    assert api.get("/api/profiles/me", headers=bearer(created["token"])).status_code == 401


def test_forged_and_expired_links_are_refused_in_chinese_and_delete_nothing(api, push_state):
    victim = subscribe(api)
    forged = make_unsubscribe_token("someone-elses-secret-0123456789", victim["profile_id"])
    expired = make_unsubscribe_token(SECRET, victim["profile_id"], expires_at=1_000_000_000)
    for token, words in ((forged, "退订链接无效"), (expired, "退订链接已过期"), ("", "退订链接无效")):
        r = api.post(f"/api/push/unsubscribe?t={token}", headers=ONE_CLICK, content="List-Unsubscribe=One-Click")
        assert r.status_code == 401 and r.json()["error"]["code"] == "TOKEN_INVALID"
        assert words in r.json()["error"]["message"]
        page = api.get(f"/api/push/unsubscribe?t={token}", headers=HTML)
        assert page.status_code == 401 and words in page.text and "确认退订" not in page.text
    assert api.get("/api/profiles/me", headers=bearer(victim["token"])).status_code == 200


def test_hostile_tokens_are_not_reflected(api):
    hostile = '"><script>alert(1)</script>'
    page = api.get("/api/push/unsubscribe", params={"t": hostile}, headers=HTML)
    assert page.status_code == 401 and "<script>" not in page.text
    long = api.post("/api/push/unsubscribe", params={"t": "p-1." + "a" * 5000})
    assert long.status_code == 401


def test_without_a_secret_no_link_is_valid(tmp_path, policy_index):
    st = build_state(make_settings(tmp_path), index=policy_index)
    with TestClient(create_app(state=st)) as c:
        r = c.post("/api/push/unsubscribe?t=p-1..AAAAAAAAAAAAAAAA")
        assert r.status_code == 401 and r.json()["error"]["code"] == "TOKEN_INVALID"
        page = c.get("/api/push/unsubscribe?t=p-1..AAAAAAAAAAAAAAAA")
        assert page.status_code == 401
    assert render_config(st.settings) is None


def test_the_settings_make_only_complete_channels(tmp_path, push_state):
    assert set(build_channels(push_state.settings, push_state.push_store)) == {"inbox"}
    full = make_settings(
        tmp_path,
        push_unsubscribe_secret=SECRET,
        push_public_base_url=BASE,
        push_webhook_enabled=True,
        push_smtp_host="smtp.licheng.gov.cn",
        push_smtp_from="历城区政策推送 <push@licheng.gov.cn>",
        push_sms_gateway_url="https://sms.example.com/v1/send",
        push_sms_gateway_key="gw-key",
        push_sms_template_id="SMS_001",
    )
    channels = build_channels(full, push_state.push_store)
    assert {name: ch.name for name, ch in channels.items()} == {
        "inbox": "inbox", "webhook": "webhook", "email": "email", "sms": "sms"
    }  # fmt: skip
    no_links = full.model_copy(update={"push_unsubscribe_secret": None})
    assert set(build_channels(no_links, push_state.push_store)) == {"inbox", "webhook"}  # no unsubscribe link


def test_the_settings_refuse_a_short_unsubscribe_secret(tmp_path):
    with pytest.raises(ValueError, match="at least 32 characters"):
        make_settings(tmp_path, push_unsubscribe_secret="too-short")
