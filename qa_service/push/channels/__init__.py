"""Push channels beyond the in-app inbox: webhook, e-mail (SMTP), SMS (gateway HTTP API).

Each is a `qa_service.push.delivery.Channel`: `name`, and `send(message)` that is idempotent on
`message.key` and raises `PermanentFailure` (dead-letter now) or `TransientFailure` (retry
later). `send` takes one claimed outbox row (`PushMessage`) or a daily `Digest` of several.
Channels take plain config dataclasses; `build_channels` makes them from the settings.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from qa_service.push.channels.errors import ChannelFailure, PermanentFailure, TransientFailure
from qa_service.push.channels.render import Digest, RenderConfig, Sendable

if TYPE_CHECKING:
    from qa_service.push.delivery import Channel
    from qa_service.push.store import PushStore
    from qa_service.settings import Settings

__all__ = [
    "ChannelFailure",
    "Digest",
    "PermanentFailure",
    "RenderConfig",
    "Sendable",
    "TransientFailure",
    "build_channels",
    "render_config",
]

logger = logging.getLogger(__name__)


def render_config(settings: Settings) -> RenderConfig | None:
    """Links for residents, or None when the public base URL or the unsubscribe secret is not set."""
    if not settings.push_public_base_url or settings.push_unsubscribe_secret is None:
        return None
    ttl = settings.push_unsubscribe_ttl_days * 86400.0 or None
    return RenderConfig(
        settings.push_public_base_url,
        settings.push_unsubscribe_secret.get_secret_value().encode("utf-8"),
        settings.push_sender_name,
        ttl,
    )


def build_channels(settings: Settings, store: PushStore) -> dict[str, Channel]:
    """name -> channel for every channel whose settings are complete; the inbox is always there."""
    # Imported here: delivery imports this package's errors, so a module-level import would be circular.
    from qa_service.push.channels._http import HttpConfig
    from qa_service.push.channels.email import EmailChannel, SmtpConfig
    from qa_service.push.channels.sms import SmsChannel, SmsConfig
    from qa_service.push.channels.webhook import WebhookChannel, WebhookConfig
    from qa_service.push.delivery import InboxChannel

    s = settings
    channels: dict[str, Channel] = {"inbox": InboxChannel(store)}
    links = render_config(s)
    http = HttpConfig(
        connect_timeout=s.push_http_connect_timeout_s,
        read_timeout=s.push_http_read_timeout_s,
        retries=s.push_http_retries,
        backoff_seconds=s.push_http_backoff_s,
        allow_loopback=s.push_channels_allow_loopback,
        allow_private=s.push_webhook_allow_private,
    )
    if s.push_webhook_enabled:
        channels["webhook"] = WebhookChannel(WebhookConfig(http), links)
    missing: list[str] = []
    if links is None:
        missing.append("email, sms: QA_PUSH_PUBLIC_BASE_URL and QA_PUSH_UNSUBSCRIBE_SECRET (for the unsubscribe link)")
    else:
        if s.push_smtp_host and s.push_smtp_from:
            smtp = SmtpConfig(
                host=s.push_smtp_host,
                sender=s.push_smtp_from,
                port=s.push_smtp_port,
                starttls=s.push_smtp_starttls,
                username=s.push_smtp_user,
                password=s.push_smtp_password.get_secret_value() if s.push_smtp_password else None,
                timeout=s.push_smtp_timeout_s,
            )
            channels["email"] = EmailChannel(smtp, links)
        else:
            missing.append("email: QA_PUSH_SMTP_HOST and QA_PUSH_SMTP_FROM")
        if s.push_sms_gateway_url and s.push_sms_gateway_key and s.push_sms_template_id:
            sms = SmsConfig(
                gateway_url=s.push_sms_gateway_url,
                api_key=s.push_sms_gateway_key.get_secret_value(),
                template_id=s.push_sms_template_id,
                signature=s.push_sms_signature,
                max_segments=s.push_sms_max_segments,
                http=http,
            )
            channels["sms"] = SmsChannel(sms, links)
        else:
            missing.append("sms: QA_PUSH_SMS_GATEWAY_URL, QA_PUSH_SMS_GATEWAY_KEY and QA_PUSH_SMS_TEMPLATE_ID")
    if missing:
        logger.info("push channels not configured: %s", "; ".join(missing))
    return channels
