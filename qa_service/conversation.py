"""Conversations: remember recent turns (follow-up expansion itself is `index.followup`).

Turns live in memory with a bound and an idle
expiry (they are personal and short-lived); nothing here is written to disk.

Conversation ids are issued by the server: 128 random bits, so holding one is what makes
a client the party to that conversation (a bearer capability, like a session cookie). An
id the server did not issue, or has forgotten, has no history and cannot be written to:
`open` answers with a fresh id instead. Stores keep `conversation_ref(id)`, a one-way
pseudonym, never the id itself.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from index.followup import ASPECT_TERMS, MAX_TURNS, Turn, is_follow_up, resolve_follow_up, topic_terms

__all__ = [
    "ASPECT_TERMS",
    "MAX_TURNS",
    "ConversationStore",
    "Turn",
    "conversation_ref",
    "is_follow_up",
    "resolve_follow_up",
    "topic_terms",
    "valid_conversation_id",
]

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def valid_conversation_id(value: str) -> bool:
    return bool(_ID.match(value))


def conversation_ref(conversation_id: str) -> str:
    """A stable pseudonym for grouping stored answers by conversation; it cannot resume one."""
    return "c-" + hashlib.sha256(conversation_id.encode("utf-8")).hexdigest()[:16]


@dataclass
class _Conversation:
    turns: list[Turn]
    last_used: float


class ConversationStore:
    """Last `MAX_TURNS` turns per issued conversation, at most `max_conversations` kept (LRU),
    each forgotten `ttl_seconds` after its last use."""

    def __init__(
        self,
        max_conversations: int = 10_000,
        ttl_seconds: float = 1800.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_conversations < 1:
            raise ValueError(f"max_conversations must be >= 1, got {max_conversations}")
        if not ttl_seconds > 0:
            raise ValueError(f"ttl_seconds must be > 0, got {ttl_seconds}")
        self.max_conversations = max_conversations
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._conversations: OrderedDict[str, _Conversation] = OrderedDict()
        self._lock = threading.Lock()

    def _live(self, conversation_id: str) -> _Conversation | None:
        """The conversation if issued and not idle too long (caller holds the lock); touches it."""
        now = self._clock()
        conv = self._conversations.get(conversation_id)
        if conv is not None and now - conv.last_used > self.ttl_seconds:
            del self._conversations[conversation_id]
            conv = None
        if conv is not None:
            conv.last_used = now
            self._conversations.move_to_end(conversation_id)
        return conv

    def start(self) -> str:
        """Issue a new conversation id (22 URL-safe characters, 128 random bits)."""
        conversation_id = secrets.token_urlsafe(16)
        with self._lock:
            self._conversations[conversation_id] = _Conversation([], self._clock())
            while len(self._conversations) > self.max_conversations:
                self._conversations.popitem(last=False)
        return conversation_id

    def open(self, conversation_id: str | None) -> tuple[str, list[Turn]]:
        """The id to continue and its history: `conversation_id` if this server issued it and
        still remembers it, else a freshly issued id with no history."""
        if conversation_id is not None:
            with self._lock:
                conv = self._live(conversation_id)
                if conv is not None:
                    return conversation_id, list(conv.turns)
        return self.start(), []

    def known(self, conversation_id: str) -> bool:
        with self._lock:
            return self._live(conversation_id) is not None

    def history(self, conversation_id: str) -> list[Turn]:
        with self._lock:
            conv = self._live(conversation_id)
            return list(conv.turns) if conv is not None else []

    def append(self, conversation_id: str, turn: Turn) -> None:
        """Add a turn to an issued conversation; KeyError for an id this store did not issue."""
        with self._lock:
            conv = self._live(conversation_id)
            if conv is None:
                raise KeyError("conversation not issued by this server, or expired")
            conv.turns.append(turn)
            del conv.turns[:-MAX_TURNS]

    def __len__(self) -> int:
        return len(self._conversations)
