"""The SMS channel against a gateway on loopback: message id, template, length limit, unsubscribe link."""

from __future__ import annotations

from datetime import date

import pytest

from qa_service.push.channels import Digest, PermanentFailure, RenderConfig, TransientFailure
from qa_service.push.channels._http import HttpConfig
from qa_service.push.channels.render import sms_capacity, sms_segments, sms_units
from qa_service.push.channels.sms import SmsChannel, SmsConfig
from qa_service.push.preferences import verify_unsubscribe_token
from tests.qa_service.push.loopback import HttpReceiver, Received, push_message

NOW = 1_796_000_000.0
PHONE = "13912345678"
LINKS = RenderConfig("https://zw.licheng.gov.cn", b"unsubscribe-secret-for-tests-0123456789")
SIGNATURE = "【历城区政务】"
LONG_REASON = "您关注“就业创业”“社会保障”，且您所在的洪家楼街道属于该政策的适用范围，" * 12


def message_id(r: Received) -> str:
    return r.json()["message_id"]


@pytest.fixture
def gateway():
    with HttpReceiver(key_of=message_id) as r:
        yield r


def sms(gateway: HttpReceiver, max_segments: int = 3, **kw) -> SmsChannel:
    config = SmsConfig(
        gateway_url=gateway.url("/v1/sms/send"),
        api_key="gw-key-123",
        template_id="SMS_2025_001",
        signature=SIGNATURE,
        max_segments=max_segments,
        http=HttpConfig(allow_loopback=True, backoff_seconds=0, **kw),
    )
    return SmsChannel(config, LINKS, clock=lambda: NOW, sleep=lambda _s: None)


def ends_with_unsubscribe_link(text: str, profile_id: str) -> bool:
    head, _, link = text.rpartition(" 退订：")
    prefix = "https://zw.licheng.gov.cn/api/u/"
    return (
        bool(head)
        and link.startswith(prefix)
        and verify_unsubscribe_token(LINKS.unsubscribe_secret, link[len(prefix) :], NOW) == profile_id
    )


def test_posts_the_message_with_its_key_as_message_id(gateway):
    msg = push_message(phone=PHONE)
    sms(gateway).send(msg)
    (req,) = gateway.requests
    assert req.path == "/v1/sms/send"
    assert req.headers["authorization"] == "Bearer gw-key-123" and req.headers["idempotency-key"] == msg.key
    body = req.json()
    assert body["message_id"] == msg.key and body["phone"] == PHONE and body["template_id"] == "SMS_2025_001"
    text = body["text"]
    assert body["params"] == {"text": text}
    assert text.startswith(SIGNATURE + "为您推送政策《历城区创业担保贷款实施办法》") and msg.reason in text
    assert ends_with_unsubscribe_link(text, msg.profile_id)
    assert sms_segments(text) <= 3


@pytest.mark.parametrize("max_segments", [2, 3, 4, 6])
def test_long_texts_are_cut_to_the_carrier_limit_and_keep_the_link(gateway, max_segments):
    msg = push_message(
        phone=PHONE, reason=LONG_REASON, title="关于进一步做好高校毕业生等青年就业创业工作的若干措施" * 2
    )
    text = sms(gateway, max_segments).text(msg)
    assert sms_units(text) <= sms_capacity(max_segments) and sms_segments(text) == max_segments  # filled, not over
    assert "…" in text and ends_with_unsubscribe_link(text, msg.profile_id)
    assert text.startswith(SIGNATURE + "为您推送政策《关于进一步")


def test_segment_arithmetic_is_ucs2():
    # 70 characters fit one segment; from 71 on every segment holds 67 (the concatenation header).
    assert sms_segments("政" * 70) == 1 and sms_segments("政" * 71) == 2
    assert sms_segments("政" * 134) == 2 and sms_segments("政" * 135) == 3
    assert sms_units("政策😀") == 4  # an emoji is a surrogate pair: two units


def test_emoji_are_not_split_when_cutting(gateway):
    msg = push_message(phone=PHONE, title="😀" * 200)
    text = sms(gateway, 2).text(msg)
    assert sms_units(text) <= sms_capacity(2) and "\ufffd" not in text
    assert text.encode("utf-16-le").decode("utf-16-le") == text


def test_one_segment_cannot_hold_the_link_and_says_so(gateway):
    with pytest.raises(ValueError, match="allow more segments"):
        sms(gateway, max_segments=1)


def test_a_digest_lists_the_titles(gateway):
    first = push_message(phone=PHONE)
    second = push_message(phone=PHONE, id=2, key="push-2", doc_id="sd-gljt-2022", title="山东省高龄津贴发放办法")
    digest = Digest("digest:p-0123456789abcdef:2026-12-01:sms", first.profile_id, date(2026, 12, 1), (first, second))
    sms(gateway).send(digest)
    body = gateway.requests[0].json()
    assert body["message_id"] == digest.key
    assert "12月1日为您推送2项政策：《历城区创业担保贷款实施办法》《山东省高龄津贴发放办法》" in body["text"]
    assert ends_with_unsubscribe_link(body["text"], first.profile_id)


def test_the_gateway_delivers_a_repeated_message_id_once(gateway):
    msg = push_message(phone=PHONE)
    channel = sms(gateway)
    channel.send(msg)
    channel.send(msg)
    assert gateway.accepted == [msg.key] and gateway.duplicates[msg.key] == 1


def test_gateway_5xx_is_retried_and_4xx_is_not(gateway):
    msg = push_message(phone=PHONE)
    gateway.script(503)
    sms(gateway, retries=1).send(msg)
    assert len(gateway.requests) == 2 and gateway.accepted == [msg.key]
    gateway.script(400)
    with pytest.raises(PermanentFailure, match="SMS gateway refused the message with HTTP 400"):
        sms(gateway, retries=3).send(push_message(phone=PHONE, key="push-3"))
    assert len(gateway.requests) == 3
    gateway.script(500, 500)
    with pytest.raises(TransientFailure, match="SMS gateway answered HTTP 500"):
        sms(gateway, retries=1).send(push_message(phone=PHONE, key="push-4"))


@pytest.mark.parametrize("phone", ["12345", "23912345678", "+8613912345678", None])
def test_a_bad_or_missing_number_is_permanent_and_sends_nothing(gateway, phone):
    with pytest.raises(PermanentFailure, match="mobile number") as e:
        sms(gateway).send(push_message(phone=phone))
    assert gateway.requests == []
    assert phone is None or phone not in str(e.value)


def test_config_is_checked_and_hides_the_key():
    with pytest.raises(ValueError, match="https"):
        SmsConfig(gateway_url="http://sms.example.com/send", api_key="k", template_id="t")
    with pytest.raises(ValueError, match="API key and a template id"):
        SmsConfig(gateway_url="https://sms.example.com/send", api_key="", template_id="t")
    with pytest.raises(ValueError, match="max_segments"):
        SmsConfig(gateway_url="https://sms.example.com/send", api_key="k", template_id="t", max_segments=0)
    config = SmsConfig(gateway_url="https://sms.example.com/send", api_key="gw-key-123", template_id="t")
    assert "gw-key-123" not in repr(config)
