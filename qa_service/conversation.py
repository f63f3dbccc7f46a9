"""Conversations: remember recent turns and expand elliptical follow-ups before retrieval.

"如何申请居住证？" then "那需要什么材料？": the second question names no topic, so it is
retrieved as "居住证 申请 需要什么材料". Turns live in memory with a bound and an idle
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from index.answer import GENERIC_TERMS

# Openers and pronouns that point back at the previous turn.
_ANAPHORA_START = re.compile(r"^(那么|那|这个|那个|这|它|其|该|还有|另外|然后|如果是|如果|要是|同样|也)")
_PRONOUN = re.compile(r"(它|它们|这个|那个|这项|该项|这种|那种|上述|此项|这些|那些)")
# Words that ask about an aspect of a topic without naming it.
ASPECT_TERMS = frozenset(
    """材料 资料 证件 条件 流程 程序 手续 步骤 时间 期限 时限 费用 收费 多少钱 钱 标准
    地点 地址 窗口 部门 电话 网上 线上
    办理 申请 申报 提交 准备 带 携带 补贴 补助 金额 额度 对象 范围 年龄 要求 资格 期间 有效期 多久 多长 办 交 领取
    去 哪 网址 渠道 方式 途径 名额 截止 开始 结束 依据 文件 发 谁 人 本人 代办 委托 不
    可不可以 行不行 长时间 多长时间 多少天
    最多 最多能 最少 最高 最低 最长 最短 上限 下限 几年 几天 几个 多大 多高 有效 效期 有效期 贷 能贷 借 报销 比例
    如果 要是 的话 呢 情况 外地 本地""".split()
)
MAX_TURNS = 5
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class Turn:
    question: str
    query: str  # the question as retrieved (expanded if it was a follow-up)


def topic_terms(tokens: Sequence[str]) -> list[str]:
    """Tokens that name what a question is about (not question words, not aspects)."""
    return [t for t in dict.fromkeys(tokens) if t not in GENERIC_TERMS and t not in ASPECT_TERMS and len(t) >= 2]


def is_follow_up(question: str, tokenize: Callable[[str], list[str]]) -> bool:
    """Elliptical: no topic noun of its own, or a short question opening with 那/这个/它."""
    q = question.strip()
    topics = topic_terms(tokenize(q))
    if not topics:
        return True
    short = len(re.sub(r"[\s\W]", "", q)) <= 12
    return short and bool(_ANAPHORA_START.match(q) or _PRONOUN.search(q)) and len(topics) <= 2


def resolve_follow_up(question: str, history: Sequence[Turn], tokenize: Callable[[str], list[str]]) -> str:
    """The query to retrieve with: `question` itself, or prefixed by the topic of the last turn."""
    if not history or not is_follow_up(question, tokenize):
        return question
    prev = history[-1]
    # The previous query already carries its own expansion, so chains of follow-ups keep the topic.
    carried = topic_terms(tokenize(prev.query))
    if not carried:
        return question
    own = set(tokenize(question))
    extra = [t for t in carried if t not in own]
    if not extra:
        return question
    return " ".join(extra[:6]) + " " + question.strip()


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
