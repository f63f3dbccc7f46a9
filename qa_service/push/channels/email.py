"""E-mail channel: SMTP (STARTTLS, login) with a plain-text and an HTML part and one-click unsubscribe.

Headers: `List-Unsubscribe: <https://…/api/push/unsubscribe?t=…>` and `List-Unsubscribe-Post:
List-Unsubscribe=One-Click` (RFC 8058: mail clients show an "unsubscribe" button that POSTs to
the link; GET only shows a confirmation page, so link scanners unsubscribe nobody). The
`Message-ID` is derived from the message key, so a message re-sent after a crash carries the
same id and mail systems that dedupe on it show it once; SMTP itself has no idempotency.

SMTP 5xx replies refusing this recipient or this content are permanent; everything else (4xx,
connection, TLS, login, our sender refused) is transient: settings get fixed, then the rows go out.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from qa_service.push.channels.errors import PermanentFailure, TransientFailure
from qa_service.push.channels.recipient import email_of
from qa_service.push.channels.render import RenderConfig, Sendable, render
from qa_service.push.preferences import TZ

# Long unsubscribe URLs must stay one unencoded header line: fold only beyond SMTP's hard limit.
_POLICY = policy.SMTP.clone(max_line_length=998)


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    sender: str  # From:, e.g. "历城区政策推送 <push@licheng.gov.cn>"
    port: int = 587
    starttls: bool = True
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 10.0
    ca_file: str | None = None  # extra trust anchor (tests; a private CA)
    allow_plaintext_login: bool = False  # never in production: the password would cross the wire in clear

    def __post_init__(self) -> None:
        if not self.host or not 1 <= self.port <= 65535:
            raise ValueError(f"SMTP needs a host and a port 1..65535, got {self.host!r}:{self.port}")
        if "@" not in self.envelope_sender:
            raise ValueError(f"SMTP sender must hold an address like push@example.gov.cn, got {self.sender!r}")
        if self.username and not self.starttls and not self.allow_plaintext_login:
            raise ValueError("SMTP login without STARTTLS would send the password in clear; enable starttls")
        if not 0 < self.timeout <= 300:
            raise ValueError(f"SMTP timeout must be 0..300 s, got {self.timeout}")

    @property
    def envelope_sender(self) -> str:
        return parseaddr(self.sender)[1]

    @property
    def domain(self) -> str:
        return self.envelope_sender.rpartition("@")[2]


def message_id(key: str, domain: str) -> str:
    # The key may hold characters a Message-ID may not (digest keys have colons): hash it.
    return f"<{hashlib.sha256(key.encode('utf-8')).hexdigest()[:40]}.push@{domain}>"


class EmailChannel:
    name = "email"

    def __init__(self, config: SmtpConfig, render: RenderConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.render = render
        self.clock = clock

    def build(self, item: Sendable, to: str) -> EmailMessage:
        now = self.clock()
        content = render(self.render, item, now)
        msg = EmailMessage(policy=_POLICY)
        msg["Subject"] = content.subject
        msg["From"] = self.config.sender
        msg["To"] = to
        msg["Date"] = format_datetime(datetime.fromtimestamp(now, TZ))
        msg["Message-ID"] = message_id(item.key, self.config.domain)
        msg["List-Unsubscribe"] = f"<{self.render.unsubscribe_url(item.profile_id, now)}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        msg["Auto-Submitted"] = "auto-generated"  # no out-of-office replies to a no-reply sender
        msg.set_content(content.text)
        msg.add_alternative(content.html, subtype="html")
        return msg

    def send(self, message: Sendable) -> None:
        to = email_of(message)
        try:
            msg = self.build(message, to)
        except ValueError:  # a header the email package refuses (a line break in the address)
            raise PermanentFailure("the e-mail address or a header is not valid") from None
        c = self.config
        try:
            with smtplib.SMTP(c.host, c.port, timeout=c.timeout) as smtp:
                if c.starttls:
                    smtp.starttls(context=ssl.create_default_context(cafile=c.ca_file))
                    smtp.ehlo()
                if c.username:
                    smtp.login(c.username, c.password or "")
                smtp.send_message(msg, from_addr=c.envelope_sender, to_addrs=[to])
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            kind = PermanentFailure if codes and all(code >= 500 for code in codes) else TransientFailure
            raise kind(f"SMTP refused the recipient ({', '.join(map(str, codes))})", status=max(codes)) from None
        except smtplib.SMTPAuthenticationError as exc:
            raise TransientFailure(f"SMTP login failed ({exc.smtp_code}); check the SMTP settings") from None
        except smtplib.SMTPDataError as exc:  # the content itself refused (552 too large, 554 spam)
            kind = PermanentFailure if exc.smtp_code >= 500 else TransientFailure
            raise kind(f"SMTP refused the message ({exc.smtp_code})", status=exc.smtp_code) from None
        except smtplib.SMTPResponseException as exc:  # our sender, TLS or auth required: the settings, not the message
            raise TransientFailure(f"SMTP refused the session ({exc.smtp_code})", status=exc.smtp_code) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise TransientFailure(f"SMTP connection failed ({type(exc).__name__})") from None
