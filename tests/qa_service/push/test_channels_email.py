"""The e-mail channel against an aiosmtpd server on loopback: STARTTLS, login, headers, both parts, unsubscribe."""

from __future__ import annotations

from datetime import date

import pytest

from qa_service.push.channels import Digest, PermanentFailure, RenderConfig, TransientFailure
from qa_service.push.channels.email import EmailChannel, SmtpConfig, message_id
from qa_service.push.preferences import verify_unsubscribe_token
from tests.qa_service.push.loopback import SmtpReceiver, closed_port, push_message

NOW = 1_796_000_000.0
TO = "li.hua@example.com"
SENDER = "历城区政策推送 <push@licheng.gov.cn>"
LINKS = RenderConfig("https://zw.licheng.gov.cn", b"unsubscribe-secret-for-tests-0123456789")


@pytest.fixture
def smtp(tmp_path):
    with SmtpReceiver(tmp_path / "tls") as server:
        yield server


def channel(server: SmtpReceiver, **kw) -> EmailChannel:
    config = {
        "host": "127.0.0.1",
        "port": server.port,
        "sender": SENDER,
        "username": "push",
        "password": "smtp-secret",
        "ca_file": server.ca_file,
        "timeout": 5.0,
        **kw,
    }
    return EmailChannel(SmtpConfig(**config), LINKS, clock=lambda: NOW)


def token_of(url: str) -> str:
    assert url.startswith("https://zw.licheng.gov.cn/api/push/unsubscribe?t="), url
    return url.split("?t=", 1)[1]


def parts(mail):
    msg = mail.parsed()
    text, html = (msg.get_body((kind,)).get_content().replace("\r\n", "\n") for kind in ("plain", "html"))
    return msg, text, html


def test_sends_over_starttls_with_login_and_one_click_unsubscribe(smtp):
    msg = push_message(email=TO)
    channel(smtp).send(msg)
    (mail,) = smtp.mails
    assert mail.tls and mail.login == "push" and smtp.logins == ["push"]
    assert mail.mail_from == "push@licheng.gov.cn" and mail.rcpt_tos == (TO,)
    email, text, html = parts(mail)
    assert email["Subject"] == "政策推送：《历城区创业担保贷款实施办法》"
    assert email["From"] == SENDER and email["To"] == TO
    assert email["Message-ID"] == message_id(msg.key, "licheng.gov.cn")
    assert email["Auto-Submitted"] == "auto-generated" and email["Date"].endswith("+0800")
    assert email.get_content_type() == "multipart/alternative"
    header = email["List-Unsubscribe"]
    assert header.startswith("<") and header.endswith(">") and "\n" not in header
    url = header[1:-1]
    assert verify_unsubscribe_token(LINKS.unsubscribe_secret, token_of(url), NOW) == msg.profile_id
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    for body in (text, html):
        assert url.replace("&", "&amp;") in body or url in body
        assert "推送理由：您关注“就业创业”，该政策适用于历城区居民" in body
        assert "济历城政办发〔2023〕5号" in body
    assert "查看原文：https://zw.licheng.gov.cn/api/documents/lc-cydb-2023" in text
    assert 'href="https://zw.licheng.gov.cn/api/documents/lc-cydb-2023"' in html
    assert "一键退订" in text and "一键退订" in html


def test_everything_from_the_document_is_escaped_in_html(smtp):
    msg = push_message(
        email=TO,
        title='<script>alert("x")</script>补贴 & 奖励',
        reason="<img src=x onerror=alert(1)>",
        link="javascript:alert(1)",
        doc_number='"><b>',
    )
    channel(smtp).send(msg)
    _, text, html = parts(smtp.mails[0])
    assert "<script>" not in html and "<img" not in html and '"><b>' not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;补贴 &amp; 奖励" in html
    assert "javascript:" not in html and "javascript:" not in text  # not a link residents should follow
    assert '<script>alert("x")</script>补贴 & 奖励' in text  # plain text is shown as is


def test_a_resent_message_keeps_its_message_id(smtp):
    msg = push_message(email=TO)
    ch = channel(smtp)
    ch.send(msg)
    ch.send(msg)
    ch.send(push_message(email=TO, key="push-other"))
    ids = [m.parsed()["Message-ID"] for m in smtp.mails]
    assert ids[0] == ids[1] != ids[2]  # mail systems dedupe on it; SMTP itself cannot


def test_a_digest_lists_each_policy_with_its_reason(smtp):
    first = push_message(email=TO)
    second = push_message(
        email=TO, id=2, key="push-2", doc_id="sd-gljt-2022", title="山东省高龄津贴发放办法",
        reason="您属于“老年人”群体", doc_number=None, revised=True,
    )  # fmt: skip
    digest = Digest("digest:p-0123456789abcdef:2026-12-01:email", first.profile_id, date(2026, 12, 1), (first, second))
    channel(smtp).send(digest)
    email, text, html = parts(smtp.mails[0])
    assert email["Subject"] == "政策推送日报（12月1日，共 2 项）"
    assert email["Message-ID"] == message_id(digest.key, "licheng.gov.cn")
    assert "1. 《历城区创业担保贷款实施办法》（济历城政办发〔2023〕5号）\n   推送理由：您关注“就业创业”" in text
    assert "2. 《山东省高龄津贴发放办法》【已修订】\n   推送理由：您属于“老年人”群体" in text
    assert html.count("<li>") == 2 and "您属于“老年人”群体" in html


def test_a_revised_policy_says_so(smtp):
    channel(smtp).send(push_message(email=TO, revised=True))
    email, text, _ = parts(smtp.mails[0])
    assert email["Subject"].startswith("政策更新：") and "该政策已修订" in text


@pytest.mark.parametrize(
    ("where", "reply", "kind"),
    [
        ("rcpt", "550 5.1.1 no such mailbox", PermanentFailure),
        ("rcpt", "450 4.2.1 mailbox busy", TransientFailure),
        ("data", "554 5.7.1 message refused", PermanentFailure),
        ("data", "451 4.3.0 try again later", TransientFailure),
    ],
)
def test_smtp_replies_map_to_permanent_or_transient(smtp, where, reply, kind):
    (smtp.rcpt_replies if where == "rcpt" else smtp.data_replies).append(reply)
    with pytest.raises(kind) as e:
        channel(smtp).send(push_message(email=TO))
    assert e.value.status == int(reply[:3]) and TO not in str(e.value)
    assert smtp.mails == []


def test_a_wrong_password_is_transient_and_names_the_settings(smtp):
    with pytest.raises(TransientFailure, match="check the SMTP settings"):
        channel(smtp, password="wrong").send(push_message(email=TO))
    assert smtp.mails == []


def test_an_untrusted_certificate_or_no_server_is_transient(smtp):
    with pytest.raises(TransientFailure, match="SSLCertVerificationError"):
        channel(smtp, ca_file=None).send(push_message(email=TO))
    with pytest.raises(TransientFailure, match="connection failed"):
        channel(smtp, port=closed_port()).send(push_message(email=TO))
    assert smtp.mails == []


def test_a_subscription_without_address_is_permanent(smtp):
    with pytest.raises(PermanentFailure, match="no e-mail address"):
        channel(smtp).send(push_message())


def test_a_line_break_in_the_address_cannot_add_headers(smtp):
    with pytest.raises(PermanentFailure, match="not valid"):
        channel(smtp).send(push_message(email="li.hua@example.com\r\nBcc: all@example.com"))
    assert smtp.mails == []


def test_config_refuses_plaintext_login_and_bad_senders():
    with pytest.raises(ValueError, match="in clear"):
        SmtpConfig(host="smtp.example.com", sender="push@example.com", starttls=False, username="u", password="p")
    with pytest.raises(ValueError, match="sender"):
        SmtpConfig(host="smtp.example.com", sender="历城区政策推送")
    with pytest.raises(ValueError, match="port"):
        SmtpConfig(host="smtp.example.com", sender="push@example.com", port=0)
    assert "pw-42" not in repr(SmtpConfig(host="smtp.example.com", sender="push@example.com", password="pw-42"))
