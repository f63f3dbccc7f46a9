"""The Chinese texts residents receive: one policy, or a daily digest listing the day's policies with
their reasons; as e-mail (subject, plain text, HTML) and as an SMS that fits the carrier's limit.

Everything that comes from a document or a profile is escaped in the HTML, and only http(s)
links become `href`s. Every text ends with the one-click unsubscribe link of the profile.
"""

from __future__ import annotations

import html
import math
import time
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import urlsplit

from qa_service.push.preferences import make_unsubscribe_token
from qa_service.push.records import PushMessage

UNSUBSCRIBE_PATH = "/api/push/unsubscribe"
SHORT_UNSUBSCRIBE_PATH = "/api/u/"  # the same page, for SMS where every character counts
SMS_SINGLE_UNITS = 70  # one UCS-2 segment
SMS_PART_UNITS = 67  # per segment of a concatenated message (the header takes 3 characters)
MIN_SMS_TEXT = 20  # below this a policy's title no longer fits: a configuration error


@dataclass(frozen=True)
class RenderConfig:
    """Where the service is reachable from outside, and the secret unsubscribe links are signed with."""

    public_base_url: str
    unsubscribe_secret: bytes = field(repr=False)
    sender_name: str = "历城区政策推送"
    token_ttl_seconds: float | None = None  # None: links work until the profile is gone

    def __post_init__(self) -> None:
        parts = urlsplit(self.public_base_url)
        if parts.scheme not in ("https", "http") or not parts.hostname or parts.query or parts.fragment:
            raise ValueError(f"public_base_url must be like https://host[/prefix], got {self.public_base_url!r}")
        object.__setattr__(self, "public_base_url", self.public_base_url.rstrip("/"))
        make_unsubscribe_token(self.unsubscribe_secret, "p-check")  # fails early on a short secret

    def absolute(self, link: str) -> str | None:
        """A document link as residents can open it: service paths get the public base; other schemes none."""
        if link.startswith("/") and not link.startswith("//"):
            return self.public_base_url + link
        return link if urlsplit(link).scheme in ("https", "http") else None

    def _token(self, profile_id: str, now: float) -> str:
        expires = None if self.token_ttl_seconds is None else now + self.token_ttl_seconds
        return make_unsubscribe_token(self.unsubscribe_secret, profile_id, expires)

    def unsubscribe_url(self, profile_id: str, now: float | None = None) -> str:
        now = time.time() if now is None else now
        return f"{self.public_base_url}{UNSUBSCRIBE_PATH}?t={self._token(profile_id, now)}"

    def short_unsubscribe_url(self, profile_id: str, now: float | None = None) -> str:
        now = time.time() if now is None else now
        return f"{self.public_base_url}{SHORT_UNSUBSCRIBE_PATH}{self._token(profile_id, now)}"


@dataclass(frozen=True)
class Digest:
    """One message listing a profile's policies of one day; `key` is `digest:<profile>:<day>:<channel>`."""

    key: str
    profile_id: str
    day: date
    messages: tuple[PushMessage, ...]

    def __post_init__(self) -> None:
        if not self.messages:
            raise ValueError(f"digest {self.key} lists no policies")
        if any(m.profile_id != self.profile_id for m in self.messages):
            raise ValueError(f"digest {self.key} mixes profiles")


Sendable = PushMessage | Digest


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _title(message: PushMessage) -> str:
    t = _one_line(message.title) or message.doc_id
    return t if t.startswith("《") else f"《{t}》"


def _reason(message: PushMessage) -> str:
    return _one_line(message.reason).rstrip("。；;.，,、 ") or "与您的订阅信息相符"


def _heading(message: PushMessage) -> str:
    number = _one_line(message.doc_number or "")
    return _title(message) + (f"（{number}）" if number else "") + ("【已修订】" if message.revised else "")


def _day_label(day: date) -> str:
    return f"{day.month}月{day.day}日"


def _footer(config: RenderConfig, unsubscribe: str) -> tuple[str, str]:
    text = (
        f"——\n本消息由{config.sender_name}根据您的订阅自动发送，请勿直接回复。\n"
        f"如不再需要推送，可点击以下链接一键退订（无需登录）：\n{unsubscribe}"
    )
    u = html.escape(unsubscribe, quote=True)
    markup = (
        f'<hr><p style="color:#666;font-size:13px">本消息由{html.escape(config.sender_name)}根据您的订阅自动发送，'
        f'请勿直接回复。<br>如不再需要推送，可<a href="{u}">一键退订</a>（无需登录）：{u}</p>'
    )
    return text, markup


def _item(config: RenderConfig, m: PushMessage, indent: str = "") -> tuple[str, str]:
    url = config.absolute(m.link)
    lines = [f"{indent}推送理由：{_reason(m)}"]
    if url:
        lines.append(f"{indent}查看原文：{url}")
    heading = html.escape(_heading(m))
    title = f'<a href="{html.escape(url, quote=True)}">{heading}</a>' if url else heading
    markup = f"<p><strong>{title}</strong><br>推送理由：{html.escape(_reason(m))}</p>"
    return "\n".join(lines), markup


def _page(body: str) -> str:
    return f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"></head><body>{body}</body></html>'


def render_policy(config: RenderConfig, message: PushMessage, now: float | None = None) -> Rendered:
    subject = ("政策更新：" if message.revised else "政策推送：") + _title(message)
    details, item_html = _item(config, message)
    foot, foot_html = _footer(config, config.unsubscribe_url(message.profile_id, now))
    revised = "该政策已修订，以下为最新版本。\n" if message.revised else ""
    text = f"您好！\n\n根据您的订阅，以下政策可能与您有关：\n\n{_heading(message)}\n{revised}{details}\n\n{foot}\n"
    markup = _page(f"<p>您好！</p><p>根据您的订阅，以下政策可能与您有关：</p>{item_html}{foot_html}")
    return Rendered(subject, text, markup)


def render_digest(config: RenderConfig, digest: Digest, now: float | None = None) -> Rendered:
    n, day = len(digest.messages), _day_label(digest.day)
    subject = f"政策推送日报（{day}，共 {n} 项）"
    parts, items_html = [], []
    for i, m in enumerate(digest.messages, 1):
        details, item_html = _item(config, m, indent="   ")
        parts.append(f"{i}. {_heading(m)}\n{details}")
        items_html.append(f"<li>{item_html}</li>")
    foot, foot_html = _footer(config, config.unsubscribe_url(digest.profile_id, now))
    intro = f"根据您的订阅，{day}共有 {n} 项政策可能与您有关："
    text = "您好！\n\n" + intro + "\n\n" + "\n\n".join(parts) + f"\n\n{foot}\n"
    markup = _page(f"<p>您好！</p><p>{html.escape(intro)}</p><ol>{''.join(items_html)}</ol>{foot_html}")
    return Rendered(subject, text, markup)


def render(config: RenderConfig, item: Sendable, now: float | None = None) -> Rendered:
    return render_digest(config, item, now) if isinstance(item, Digest) else render_policy(config, item, now)


# -- SMS -----------------------------------------------------------------------------------------
def sms_units(text: str) -> int:
    """Length as the carrier counts it for Chinese text: UCS-2 code units (an emoji takes two)."""
    return len(text.encode("utf-16-le")) // 2


def sms_capacity(segments: int) -> int:
    if segments < 1:
        raise ValueError(f"segments must be >= 1, got {segments}")
    return SMS_SINGLE_UNITS if segments == 1 else SMS_PART_UNITS * segments


def sms_segments(text: str) -> int:
    units = sms_units(text)
    return 1 if units <= SMS_SINGLE_UNITS else math.ceil(units / SMS_PART_UNITS)


def _cut(text: str, units: int) -> str:
    """The longest prefix of `text` within `units`, ending in "…" when shortened."""
    if sms_units(text) <= units:
        return text
    out = ""
    for ch in text:
        if sms_units(out + ch) > units - 1:
            break
        out += ch
    return out + "…"


def render_sms(
    config: RenderConfig, item: Sendable, *, signature: str = "", max_segments: int = 3, now: float | None = None
) -> str:
    """`signature` + the message, shortened to fit `max_segments`, always ending with the unsubscribe link."""
    tail = f" 退订：{config.short_unsubscribe_url(item.profile_id, now)}"
    if isinstance(item, Digest):
        titles = "".join(_title(m) for m in item.messages)
        body = f"{_day_label(item.day)}为您推送{len(item.messages)}项政策：{titles}，详见站内信。"
    else:
        body = f"为您推送政策{_title(item)}{'（已修订）' if item.revised else ''}，推送理由：{_reason(item)}。"
    room = _room(signature, tail, max_segments)
    return signature + _cut(body, room) + tail


def _room(signature: str, tail: str, max_segments: int) -> int:
    room = sms_capacity(max_segments) - sms_units(signature) - sms_units(tail)
    if room < MIN_SMS_TEXT:
        raise ValueError(
            f"an SMS of {max_segments} segments leaves {room} characters beside the signature and the"
            f" unsubscribe link, fewer than {MIN_SMS_TEXT}: allow more segments or shorten the base URL"
        )
    return room


def check_sms_room(config: RenderConfig, signature: str, max_segments: int) -> None:
    """Raises ValueError when an SMS of `max_segments` has too little room for a policy's text."""
    sample = "p-" + "0" * 16  # the length of `records.new_profile_id()`
    _room(signature, f" 退订：{config.short_unsubscribe_url(sample, 0.0)}", max_segments)
