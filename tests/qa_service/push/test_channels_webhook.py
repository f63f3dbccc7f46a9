"""The webhook channel against a real HTTP(S) receiver on loopback: signature, headers, retries, dedupe."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import date

import pytest

from qa_service.push.channels import Digest, PermanentFailure, RenderConfig, TransientFailure
from qa_service.push.channels._http import HttpConfig
from qa_service.push.channels.webhook import WebhookChannel, WebhookConfig, validate_webhook_url, verify_signature
from qa_service.push.preferences import verify_unsubscribe_token
from tests.qa_service.push.loopback import HttpReceiver, closed_port, push_message

NOW = 1_796_000_000.0
SECRET = "whsec-resident-7f3a9c"
LINKS = RenderConfig("https://zw.licheng.gov.cn/", b"unsubscribe-secret-for-tests-0123456789")


def http(**kw) -> HttpConfig:
    return HttpConfig(**{"allow_loopback": True, "backoff_seconds": 0.5, "read_timeout": 5.0, **kw})


def channel(sleeps: list[float] | None = None, **kw) -> WebhookChannel:
    out = sleeps if sleeps is not None else []
    return WebhookChannel(WebhookConfig(http(**kw)), LINKS, clock=lambda: NOW, sleep=out.append)


def hooked(receiver: HttpReceiver, **fields):
    return push_message(webhook_url=receiver.url("/hooks/policy?site=lc"), webhook_secret=SECRET, **fields)


@pytest.fixture
def receiver():
    with HttpReceiver() as r:
        yield r


def test_posts_a_signed_json_payload(receiver):
    msg = hooked(receiver)
    channel().send(msg)
    (req,) = receiver.requests
    assert req.path == "/hooks/policy?site=lc"
    h = req.headers
    assert h["content-type"] == "application/json; charset=utf-8"
    assert h["idempotency-key"] == msg.key and h["x-push-event"] == "policy"
    assert h["x-push-timestamp"] == str(int(NOW))
    expected = "sha256=" + hmac.new(SECRET.encode(), req.body, hashlib.sha256).hexdigest()
    assert h["x-push-signature"] == expected
    assert verify_signature(SECRET, req.body, h["x-push-signature"], h["x-push-timestamp"], NOW + 10)
    assert not verify_signature("another-secret", req.body, h["x-push-signature"], h["x-push-timestamp"], NOW)
    assert not verify_signature(SECRET, req.body + b" ", h["x-push-signature"], h["x-push-timestamp"], NOW)
    assert not verify_signature(SECRET, req.body, h["x-push-signature"], h["x-push-timestamp"], NOW + 301)  # stale
    body = req.json()
    assert body["id"] == msg.key and body["event"] == "policy" and body["timestamp"] == int(NOW)
    assert body["profile_id"] == msg.profile_id
    (item,) = body["items"]
    assert item["title"] == "历城区创业担保贷款实施办法" and item["reason"] == msg.reason
    assert item["link"] == "https://zw.licheng.gov.cn/api/documents/lc-cydb-2023"
    assert item["doc_number"] == "济历城政办发〔2023〕5号" and item["evidence"] == list(msg.evidence)
    token = body["unsubscribe_url"].split("?t=")[1]
    assert verify_unsubscribe_token(LINKS.unsubscribe_secret, token, NOW) == msg.profile_id
    assert "退订".encode() not in req.body and "创业".encode() in req.body  # UTF-8 JSON, not \\u escapes


def test_a_digest_is_one_post_listing_its_policies(receiver):
    first = hooked(receiver)
    second = hooked(receiver, id=2, key="push-second", doc_id="sd-gljt-2022", title="山东省高龄津贴发放办法")
    digest = Digest(
        "digest:p-0123456789abcdef:2026-12-01:webhook", first.profile_id, date(2026, 12, 1), (first, second)
    )
    channel().send(digest)
    (req,) = receiver.requests
    body = req.json()
    assert req.headers["idempotency-key"] == digest.key and req.headers["x-push-event"] == "digest"
    assert body["event"] == "digest" and body["day"] == "2026-12-01"
    assert [i["doc_id"] for i in body["items"]] == ["lc-cydb-2023", "sd-gljt-2022"]
    assert [i["key"] for i in body["items"]] == [first.key, "push-second"]


def test_5xx_is_retried_with_back_off_under_the_same_key(receiver):
    receiver.script(500, 503)
    sleeps: list[float] = []
    msg = hooked(receiver)
    channel(sleeps, retries=2).send(msg)
    assert len(receiver.requests) == 3
    assert {r.headers["idempotency-key"] for r in receiver.requests} == {msg.key}
    for r in receiver.requests:  # every attempt is signed over its own body
        assert verify_signature(SECRET, r.body, r.headers["x-push-signature"], r.headers["x-push-timestamp"], NOW)
    assert sleeps == [0.5, 1.0]  # 0.5 * 2**(n-1)
    assert receiver.accepted == [msg.key]


def test_persistent_5xx_ends_in_a_transient_failure(receiver):
    receiver.script(502, 502, 502)
    with pytest.raises(TransientFailure, match="HTTP 502") as e:
        channel(retries=2).send(hooked(receiver))
    assert e.value.status == 502
    assert len(receiver.requests) == 3 and receiver.accepted == []


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
def test_4xx_is_permanent_and_never_retried(receiver, status):
    receiver.script(status)
    sleeps: list[float] = []
    with pytest.raises(PermanentFailure, match=f"HTTP {status}") as e:
        channel(sleeps, retries=3).send(hooked(receiver))
    assert e.value.status == status
    assert len(receiver.requests) == 1 and sleeps == []


def test_429_means_later_and_is_retried(receiver):
    receiver.script(429)
    channel(retries=1).send(hooked(receiver))
    assert len(receiver.requests) == 2 and len(receiver.accepted) == 1


def test_a_hung_receiver_times_out_and_the_retry_goes_through(receiver):
    receiver.stall(1)
    msg = hooked(receiver)
    channel(retries=1, read_timeout=0.3).send(msg)
    assert len(receiver.requests) == 2 and receiver.accepted == [msg.key]


def test_a_hung_receiver_without_retries_is_a_transient_timeout(receiver):
    receiver.stall(1)
    with pytest.raises(TransientFailure, match="timed out"):
        channel(retries=0, read_timeout=0.3).send(hooked(receiver))


def test_connection_refused_is_transient_after_every_retry():
    sleeps: list[float] = []
    msg = push_message(webhook_url=f"http://127.0.0.1:{closed_port()}/hook", webhook_secret=SECRET)
    with pytest.raises(TransientFailure, match="connection failed"):
        channel(sleeps, retries=2).send(msg)
    assert sleeps == [0.5, 1.0]


def test_the_receiver_dedupes_a_message_sent_twice(receiver):
    msg = hooked(receiver)
    other = hooked(receiver, id=2, key="push-other", doc_id="jn-jzz-2019")
    ch = channel()
    ch.send(msg)
    ch.send(msg)  # e.g. a deliverer killed between "send" and "mark sent"
    ch.send(other)
    assert receiver.accepted == [msg.key, "push-other"] and receiver.duplicates[msg.key] == 1


def test_https_to_a_receiver_with_a_private_ca(tmp_path):
    with HttpReceiver(tls_dir=tmp_path / "tls") as r:
        msg = push_message(webhook_url=r.url(), webhook_secret=SECRET)
        channel(ca_file=str(tmp_path / "tls" / "ca.pem")).send(msg)
        assert r.accepted == [msg.key]
        with pytest.raises(TransientFailure, match="SSLCertVerificationError"):  # not trusted without the CA
            channel(retries=0).send(msg)
        assert len(r.requests) == 1


@pytest.mark.parametrize(
    ("url", "kw", "match"),
    [
        ("http://hooks.example.com/x", {}, "must use https"),  # refused before any lookup
        ("ftp://127.0.0.1/x", {}, "must start with https"),
        ("https://user:pw@127.0.0.1/x", {}, "user name or password"),
        ("https://127.0.0.1/x", {"allow_loopback": False}, "private or reserved"),
        ("http://127.0.0.1/x", {"allow_loopback": False}, "must use https"),
        ("https://10.1.2.3/x", {}, "private or reserved"),
        ("https://169.254.169.254/latest/meta-data", {}, "private or reserved"),  # cloud metadata
        ("https://[::ffff:192.168.1.1]/x", {}, "private or reserved"),
        ("not a url", {}, "must start with https"),
    ],
)
def test_refused_urls_are_permanent_and_send_nothing(url, kw, match):
    with pytest.raises(PermanentFailure, match=match):
        channel(**kw).send(push_message(webhook_url=url, webhook_secret=SECRET))


def test_a_subscription_without_url_or_secret_is_permanent(receiver):
    with pytest.raises(PermanentFailure, match="no webhook URL or secret"):
        channel().send(push_message(webhook_url=receiver.url(), webhook_secret=None))
    assert receiver.requests == []


def test_failure_messages_never_hold_the_url_or_its_query(receiver):
    receiver.script(500)
    msg = push_message(webhook_url=receiver.url("/h?token=sekrit-42"), webhook_secret=SECRET)
    with pytest.raises(TransientFailure) as e:
        channel(retries=0).send(msg)
    assert "sekrit" not in str(e.value) and "127.0.0.1" not in str(e.value)


def test_validate_webhook_url_for_the_form():
    assert validate_webhook_url(" https://hooks.example.com/lc ") == "https://hooks.example.com/lc"
    with pytest.raises(ValueError, match="https"):
        validate_webhook_url("http://hooks.example.com/lc")


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"connect_timeout": 0}, "timeouts"),
        ({"read_timeout": 301}, "timeouts"),
        ({"retries": -1}, "retries"),
        ({"retries": 11}, "retries"),
        ({"backoff_seconds": -1}, "back-off"),
    ],
)
def test_http_config_rejects_bad_values(kw, match):
    with pytest.raises(ValueError, match=match):
        HttpConfig(**kw)


def test_payload_is_compact_utf8_json(receiver):
    channel().send(hooked(receiver))
    raw = receiver.requests[0].body
    assert json.loads(raw)["items"][0]["title"] in raw.decode("utf-8") and b", " not in raw


def test_a_digest_needs_policies_of_one_profile():
    msg = push_message()
    with pytest.raises(ValueError, match="lists no policies"):
        Digest("digest:p-0123456789abcdef:2026-12-01:webhook", msg.profile_id, date(2026, 12, 1), ())
    with pytest.raises(ValueError, match="mixes profiles"):
        Digest("digest:p-0123456789abcdef:2026-12-01:webhook", msg.profile_id, date(2026, 12, 1),
               (msg, push_message(profile_id="p-fedcba9876543210")))  # fmt: skip


@pytest.mark.parametrize(
    ("base", "secret", "match"),
    [
        ("ftp://zw.licheng.gov.cn", b"unsubscribe-secret-for-tests-0123456789", "public_base_url"),
        ("https://zw.licheng.gov.cn/?x=1", b"unsubscribe-secret-for-tests-0123456789", "public_base_url"),
        ("https://zw.licheng.gov.cn", b"short", "at least 16 bytes"),
    ],
)
def test_render_config_is_checked(base, secret, match):
    with pytest.raises(ValueError, match=match):
        RenderConfig(base, secret)


def test_links_are_made_absolute_and_other_schemes_dropped():
    assert LINKS.absolute("/api/documents/x") == "https://zw.licheng.gov.cn/api/documents/x"
    assert LINKS.absolute("https://www.gov.cn/zhengce/1.htm") == "https://www.gov.cn/zhengce/1.htm"
    assert LINKS.absolute("//evil.example.com/x") is None and LINKS.absolute("javascript:alert(1)") is None
