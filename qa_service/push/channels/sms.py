"""SMS channel: the gateway's HTTP API, with the message key as the gateway's client message id.

    POST <gateway_url>
    Authorization: Bearer <api key>
    Idempotency-Key: <message key>
    {"message_id": <message key>, "phone": "138…", "template_id": "...", "text": "...", "params": {"text": "..."}}

Gateways dedupe on `message_id`, so a message re-sent after a crash is delivered once. The text
is cut to `max_segments` UCS-2 segments (70 characters alone, 67 each when concatenated) and
always ends with the unsubscribe short link. Retries: see `_http.post_json`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from qa_service.push.channels._http import HttpConfig, check_url, post_json
from qa_service.push.channels.errors import PermanentFailure
from qa_service.push.channels.recipient import phone_of
from qa_service.push.channels.render import RenderConfig, Sendable, check_sms_room, render_sms

_MOBILE = re.compile(r"^1[3-9]\d{9}$")


@dataclass(frozen=True)
class SmsConfig:
    gateway_url: str
    api_key: str = field(repr=False)
    template_id: str
    signature: str = ""  # e.g. 【历城区政务】 when the gateway does not add the registered signature itself
    max_segments: int = 3
    http: HttpConfig = field(default_factory=HttpConfig)

    def __post_init__(self) -> None:
        check_url(self.gateway_url, self.http)
        if not self.api_key or not self.template_id:
            raise ValueError("the SMS gateway needs an API key and a template id")
        if not 1 <= self.max_segments <= 10:
            raise ValueError(f"max_segments must be 1..10, got {self.max_segments}")


class SmsChannel:
    name = "sms"

    def __init__(
        self,
        config: SmsConfig,
        render: RenderConfig,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.render = render
        self.clock = clock
        self.sleep = sleep
        check_sms_room(render, config.signature, config.max_segments)  # fail at start-up, not per message

    def text(self, message: Sendable) -> str:
        c = self.config
        return render_sms(self.render, message, signature=c.signature, max_segments=c.max_segments, now=self.clock())

    def send(self, message: Sendable) -> None:
        phone = phone_of(message)
        if not _MOBILE.match(phone):
            raise PermanentFailure("the subscription's mobile number is not an 11-digit mainland number")
        text = self.text(message)
        body = json.dumps(
            {
                "message_id": message.key,
                "phone": phone,
                "template_id": self.config.template_id,
                "text": text,
                "params": {"text": text},
            },
            ensure_ascii=False,
        ).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Authorization": f"Bearer {self.config.api_key}",
            "Idempotency-Key": message.key,
        }
        post_json(
            self.config.gateway_url, lambda: (body, headers), self.config.http, what="SMS gateway", sleep=self.sleep
        )
