"""Webhook channel: an HTTPS POST of a signed JSON payload to the subscription's URL.

What the receiver gets (documented for integrators in the README):

    POST <webhook_url>
    Content-Type: application/json; charset=utf-8
    Idempotency-Key: <message key>          same on every retry; dedupe on it
    X-Push-Event: policy | digest
    X-Push-Timestamp: <unix seconds>        also in the body as "timestamp"
    X-Push-Signature: sha256=<hex HMAC-SHA256 of the raw body with the subscription's secret>

The signature covers the raw body, which holds the key and the timestamp, so neither can be
changed or replayed as another message; a receiver should refuse timestamps far from its clock
(`verify_signature` does it with a 5-minute tolerance). Retries: see `_http.post_json`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from qa_service.push.channels._http import HttpConfig, check_url, post_json
from qa_service.push.channels.recipient import webhook_of
from qa_service.push.channels.render import Digest, RenderConfig, Sendable
from qa_service.push.records import PushMessage

SIGNATURE_HEADER = "X-Push-Signature"
TIMESTAMP_HEADER = "X-Push-Timestamp"
KEY_HEADER = "Idempotency-Key"
EVENT_HEADER = "X-Push-Event"
DEFAULT_TOLERANCE_SECONDS = 300.0


@dataclass(frozen=True)
class WebhookConfig:
    http: HttpConfig = field(default_factory=HttpConfig)
    user_agent: str = "licheng-policy-push/1"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str,
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    now: float,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """The receiver's check: the signature matches (constant time) and the timestamp is recent."""
    if not signature or not timestamp or not timestamp.isdigit():
        return False
    if abs(now - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(signature.encode("utf-8", "replace"), sign(secret, body).encode())


def validate_webhook_url(url: str, config: WebhookConfig | None = None) -> str:
    """For the subscription form: the URL if the channel would post to it, else ValueError saying why."""
    check_url(url, (config or WebhookConfig()).http)
    return url.strip()


def _item(m: PushMessage, render: RenderConfig | None) -> dict[str, Any]:
    link = render.absolute(m.link) if render is not None else m.link
    return {
        "key": m.key,
        "doc_id": m.doc_id,
        "doc_version": m.doc_version,
        "title": m.title,
        "doc_number": m.doc_number,
        "link": link,
        "reason": m.reason,
        "evidence": list(m.evidence),
        "revised": m.revised,
    }


def payload(item: Sendable, render: RenderConfig | None, timestamp: int) -> dict[str, Any]:
    messages = item.messages if isinstance(item, Digest) else (item,)
    body: dict[str, Any] = {
        "id": item.key,
        "event": "digest" if isinstance(item, Digest) else "policy",
        "timestamp": timestamp,
        "profile_id": item.profile_id,
        "items": [_item(m, render) for m in messages],
    }
    if isinstance(item, Digest):
        body["day"] = item.day.isoformat()
    if render is not None:
        body["unsubscribe_url"] = render.unsubscribe_url(item.profile_id, timestamp)
    return body


class WebhookChannel:
    """Idempotent through the receiver: every attempt of one message carries the same `Idempotency-Key`."""

    name = "webhook"

    def __init__(
        self,
        config: WebhookConfig,
        render: RenderConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.render = render
        self.clock = clock
        self.sleep = sleep

    def send(self, message: Sendable) -> None:
        url, secret = webhook_of(message)

        def request() -> tuple[bytes, dict[str, str]]:
            ts = int(self.clock())  # fresh per attempt, so a late retry is not refused as stale
            body = json.dumps(payload(message, self.render, ts), ensure_ascii=False, separators=(",", ":")).encode()
            return body, {
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": self.config.user_agent,
                KEY_HEADER: message.key,
                EVENT_HEADER: "digest" if isinstance(message, Digest) else "policy",
                TIMESTAMP_HEADER: str(ts),
                SIGNATURE_HEADER: sign(secret, body),
            }

        post_json(url, request, self.config.http, what="webhook", sleep=self.sleep)
