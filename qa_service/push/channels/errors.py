"""How a channel says a send failed, so the delivery loop knows whether to try again.

A channel raises `PermanentFailure` when sending the same message again cannot succeed (the
receiver refused it with a 4xx, the address is invalid or not allowed): the row should go to
the dead-letter state at once. `TransientFailure` means the receiver may take it later (5xx,
timeout, connection refused, SMTP 4xx); `retry_after` is the receiver's hint in seconds, if any.
Messages never hold the recipient's address or the webhook URL's query (they are logged).
"""

from __future__ import annotations


class ChannelFailure(Exception):
    """Base of both kinds; `status` is the receiver's HTTP status or SMTP code when there was one."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class PermanentFailure(ChannelFailure):
    """Sending this message again will fail the same way: dead-letter it."""


class TransientFailure(ChannelFailure):
    """The receiver may accept it later: retry with back-off."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after
