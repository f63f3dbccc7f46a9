"""Where a message goes: the subscription's address for a channel, as the claimed row carries it
(`PushMessage.email`, `.phone`, `.webhook_url`, `.webhook_secret`, joined from the profile).

A missing address is a `PermanentFailure`: sending again cannot help until the resident edits
the subscription (and then the row is planned again). Addresses never appear in messages.
"""

from __future__ import annotations

from qa_service.push.channels.errors import PermanentFailure
from qa_service.push.channels.render import Digest, Sendable
from qa_service.push.records import PushMessage


def _first(item: Sendable) -> PushMessage:
    # A digest's rows are all of one profile (Digest checks it), so they share its addresses.
    return item.messages[0] if isinstance(item, Digest) else item


def email_of(item: Sendable) -> str:
    address = _first(item).email
    if not address:
        raise PermanentFailure("the subscription has no e-mail address")
    return address


def phone_of(item: Sendable) -> str:
    phone = _first(item).phone
    if not phone:
        raise PermanentFailure("the subscription has no mobile number")
    return phone


def webhook_of(item: Sendable) -> tuple[str, str]:
    """(URL, signing secret) of the subscription's webhook."""
    m = _first(item)
    if not m.webhook_url or not m.webhook_secret:
        raise PermanentFailure("the subscription has no webhook URL or secret")
    return m.webhook_url, m.webhook_secret
