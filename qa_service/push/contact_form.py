"""The subscription form's contact part, checked field by field: which channels, their addresses, and the
resident's preferences (immediate or daily digest, quiet hours, daily cap).

Two forms are accepted. The original `contact` names a single `channel` + `address` (the inbox
always comes with it); the newer `preferences.channels` lists channels with `email`, `phone` and
`webhook_url`. Only the
newer one is held to the channels this deployment can send through: the original one was accepted
before any channel but the inbox existed, and its rows are simply not planned for a channel that is
not configured. Values are never logged (contact details are personal data); errors are
`ApiError`s with a Chinese message that never echoes an address back.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from qa_service.errors import ApiError, ErrorCode
from qa_service.push.channels.webhook import WebhookConfig, validate_webhook_url
from qa_service.push.preferences import DeliveryMode, parse_clock
from qa_service.push.records import CHANNEL_LABELS, CHANNELS, Contact, ContactChannel
from qa_service.push.schemas import ContactIn, PreferencesIn

MAX_DAILY_CAP = 50
MAX_URL_CHARS = 2000
# Every channel a resident may pick, in the order the form shows them.
ALL_CHANNEL_LABELS = {**CHANNEL_LABELS, "webhook": "Webhook（对接自有系统）"}
MODE_LABELS = {"immediate": "即时推送", "digest": "每日汇总"}

_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}$")
_CHANNEL_ALIASES = {"站内信": "inbox", "短信": "sms", "手机": "sms", "邮件": "email", "电子邮件": "email"}
_MODE_ALIASES = {"即时": "immediate", "即时推送": "immediate", "每日汇总": "digest", "汇总": "digest"}
_ADDRESS_OF = {"email": "电子邮箱", "sms": "手机号", "webhook": "Webhook 地址"}


@dataclass(frozen=True)
class Offered:
    """What this deployment can send through: channel names (the inbox always) and the webhook's checks."""

    channels: frozenset[str] = frozenset({"inbox"})
    webhook: WebhookConfig | None = None

    def labels(self) -> dict[str, str]:
        return {k: v for k, v in ALL_CHANNEL_LABELS.items() if k == "inbox" or k in self.channels}


def _invalid(message: str) -> ApiError:
    return ApiError(ErrorCode.PROFILE_INVALID, message)


def _shown(value: str) -> str:
    """A rejected choice echoed back: printable and short (never used for addresses)."""
    clean = "".join(c for c in value if c.isprintable())
    return clean if len(clean) <= 20 else clean[:20] + "…"


def phone_number(raw: str) -> str:
    digits = re.sub(r"[\s-]", "", raw.strip())
    digits = digits[3:] if digits.startswith("+86") else digits
    if not _MOBILE.match(digits):
        raise _invalid("手机号格式不正确，请填写 11 位中国大陆手机号。")
    return digits


def email_address(raw: str) -> str:
    address = raw.strip()
    if len(address) > 254 or not _EMAIL.match(address):
        raise _invalid("电子邮箱格式不正确，例如 name@example.com。")
    return address


def webhook_url(raw: str, config: WebhookConfig | None) -> str:
    config = config or WebhookConfig()
    message = "Webhook 地址不正确，请填写以 https:// 开头、指向公网服务器的完整地址，例如 https://example.com/push。"
    if not raw.strip() or len(raw) > MAX_URL_CHARS or any(not c.isprintable() or c.isspace() for c in raw.strip()):
        raise _invalid(message)
    try:
        url = validate_webhook_url(raw, config)
    except ValueError:
        raise _invalid(message) from None
    try:
        ip = ipaddress.ip_address(urlsplit(url).hostname or "")
    except ValueError:
        return url  # a name: resolved, and checked again, when a message is sent
    # A literal address is checked now, so the resident learns at once rather than from a dead letter.
    allowed = (config.http.allow_loopback and ip.is_loopback) or ip.is_global or config.http.allow_private
    if not allowed:
        raise _invalid("Webhook 地址不能指向内网或保留地址，请填写公网服务器的地址。")
    return url


def _mode(raw: str | None) -> str:
    if raw is None:
        return DeliveryMode.IMMEDIATE.value
    value = _MODE_ALIASES.get(raw.strip(), raw.strip())
    if value not in MODE_LABELS:
        allowed = "、".join(f"{k}（{v}）" for k, v in MODE_LABELS.items())
        raise _invalid(f"推送方式“{_shown(raw)}”不正确，可选：{allowed}。")
    return value


def _clock(raw: str | None, what: str) -> int | None:
    if raw is None or not raw.strip():
        return None
    try:
        return parse_clock(raw)
    except ValueError:
        raise _invalid(f"{what}“{_shown(raw)}”格式不正确，请按“时:分”填写，例如 22:00。") from None


def _quiet(start: str | None, end: str | None) -> tuple[int | None, int | None]:
    s, e = _clock(start, "免打扰开始时间"), _clock(end, "免打扰结束时间")
    if (s is None) != (e is None):
        raise _invalid("免打扰时段请同时填写开始和结束时间，或都不填。")
    if s is not None and s == e:
        raise _invalid("免打扰时段的开始和结束时间不能相同。")
    return s, e


def _cap(value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DAILY_CAP:
        raise _invalid(f"每日最多推送条数应为 1 到 {MAX_DAILY_CAP} 之间的整数，不限制请留空。")
    return value


def _channel_name(raw: object) -> str:
    text = raw.strip() if isinstance(raw, str) else str(raw)
    name = _CHANNEL_ALIASES.get(text, text).lower()
    if name not in CHANNELS:
        allowed = "、".join(f"{k}（{v}）" for k, v in ALL_CHANNEL_LABELS.items())
        raise _invalid(f"接收渠道“{_shown(text)}”不正确，可选：{allowed}。")
    return name


def _legacy(body: ContactIn | None) -> tuple[ContactChannel, str | None]:
    """The original form: one channel and its address."""
    if body is None:
        return ContactChannel.INBOX, None
    raw = body.channel.strip()
    try:
        channel = ContactChannel.from_str(_CHANNEL_ALIASES.get(raw, raw))
    except ValueError:
        allowed = "、".join(f"{k}（{v}）" for k, v in CHANNEL_LABELS.items())
        raise _invalid(f"接收渠道“{_shown(raw)}”不正确，可选：{allowed}。") from None
    address = (body.address or "").strip()
    if channel is ContactChannel.INBOX:
        if address:
            raise _invalid("站内信无需填写联系地址。")
        return channel, None
    if channel is ContactChannel.SMS:
        return channel, phone_number(address)
    return channel, email_address(address)


def _chosen(body: PreferencesIn, offered: Offered) -> tuple[tuple[str, ...], str | None, str | None, str | None]:
    """The newer form: (channels, email, phone, webhook URL), each address required by its channel."""
    names = tuple(dict.fromkeys(["inbox", *(_channel_name(c) for c in body.channels or [])]))
    missing = [n for n in names if n not in offered.channels and n != "inbox"]
    if missing:
        here = "、".join(offered.labels().values())
        raise _invalid(f"本服务暂未开通“{ALL_CHANNEL_LABELS[missing[0]]}”推送，请选择其他接收渠道。可选：{here}。")
    given = {"email": body.email, "sms": body.phone, "webhook": body.webhook_url}
    for name, value in given.items():
        filled = value is not None and bool(value.strip())
        if name in names and not filled:
            raise _invalid(f"选择“{ALL_CHANNEL_LABELS[name]}”接收时，请填写{_ADDRESS_OF[name]}。")
        if name not in names and filled:
            raise _invalid(f"填写了{_ADDRESS_OF[name]}，但未选择“{ALL_CHANNEL_LABELS[name]}”接收渠道。")
    email = email_address(body.email) if "email" in names and body.email else None
    phone = phone_number(body.phone) if "sms" in names and body.phone else None
    url = webhook_url(body.webhook_url, offered.webhook) if "webhook" in names and body.webhook_url else None
    return names, email, phone, url


def contact_from_form(
    contact: ContactIn | None, preferences: PreferencesIn | None, offered: Offered | None = None
) -> Contact:
    """The checked `Contact` of a form's contact and preferences; raises ApiError with a Chinese message."""
    p = preferences or PreferencesIn()
    quiet_start, quiet_end = _quiet(p.quiet_start, p.quiet_end)
    prefs = {
        "delivery_mode": _mode(p.delivery_mode),
        "quiet_start": quiet_start,
        "quiet_end": quiet_end,
        "daily_cap": _cap(p.daily_cap),
    }
    if p.channels is None:
        if p.email or p.phone or p.webhook_url:
            raise _invalid("填写电子邮箱、手机号或 Webhook 地址时，请在 channels 中选择对应的接收渠道。")
        channel, address = _legacy(contact)
        return Contact(channel, address, **prefs)
    if contact is not None and (contact.channel.strip() not in ("inbox", "站内信") or contact.address):
        raise _invalid("请只用一种方式选择接收渠道：已在 preferences.channels 中选择时，请不要再填写 contact。")
    names, email, phone, url = _chosen(p, (offered or Offered()))
    # The original columns keep one channel for older readers: SMS first, then e-mail.
    channel, address = ContactChannel.INBOX, None
    if phone or email:
        channel, address = (ContactChannel.SMS, phone) if phone else (ContactChannel.EMAIL, email)
    return Contact(channel, address, names, email, phone, url, **prefs)
