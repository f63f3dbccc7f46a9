"""Follow-up expansion, the conversation store, rate limiting and masking: pure units."""

from __future__ import annotations

import pytest

from index.tokenize import Tokenizer
from qa_service.conversation import ConversationStore, Turn, is_follow_up, resolve_follow_up
from qa_service.faq import FaqItem, FaqMatcher
from qa_service.privacy import mask_personal
from qa_service.ratelimit import RateLimiter

tok = Tokenizer().tokenize


@pytest.mark.parametrize(
    "q", ["那需要什么材料？", "那最多能贷多少？", "它的有效期多久", "要多长时间", "如果是外地户口呢"]
)
def test_elliptical_questions_are_follow_ups(q):
    assert is_follow_up(q, tok)


@pytest.mark.parametrize("q", ["如何申请居住证？", "创业担保贷款需要什么材料", "高龄津贴每月发多少"])
def test_questions_with_their_own_topic_are_not(q):
    assert not is_follow_up(q, tok)


def test_follow_up_is_expanded_with_previous_topic_and_chains():
    history = [Turn("如何申请居住证？", "如何申请居住证？")]
    q1 = resolve_follow_up("那需要什么材料？", history, tok)
    assert q1.endswith("那需要什么材料？") and "居住证" in q1
    history.append(Turn("那需要什么材料？", q1))
    q2 = resolve_follow_up("要多长时间", history, tok)
    assert "居住证" in q2, "the topic carries over a chain of follow-ups"
    assert resolve_follow_up("高龄津贴每月发多少", history, tok) == "高龄津贴每月发多少"
    assert resolve_follow_up("那需要什么材料？", [], tok) == "那需要什么材料？"


def test_conversation_store_is_bounded():
    store = ConversationStore(max_conversations=2)
    for cid in ("a", "b", "c"):
        for i in range(7):
            store.append(cid, Turn(f"q{i}", f"q{i}"))
    assert len(store) == 2 and store.history("a") == []
    assert [t.question for t in store.history("c")] == ["q2", "q3", "q4", "q5", "q6"]
    with pytest.raises(ValueError, match="max_conversations"):
        ConversationStore(0)


def test_token_bucket_refills_with_the_clock():
    now = [0.0]
    rl = RateLimiter(per_minute=60, burst=2, clock=lambda: now[0])
    assert [rl.acquire("x"), rl.acquire("x")] == [0.0, 0.0]
    assert rl.acquire("x") == pytest.approx(1.0)
    assert rl.acquire("y") == 0.0, "clients are limited separately"
    now[0] = 1.0
    assert rl.acquire("x") == 0.0
    with pytest.raises(ValueError, match="burst"):
        RateLimiter(per_minute=1, burst=0)


def test_faq_matcher_threshold():
    m = FaqMatcher([FaqItem(1, "毕业生租房补贴每月多少钱？", "每月800元。", "d1")], tok, threshold=0.6)
    assert m.match("毕业生租房补贴每个月多少钱").item.id == 1
    assert m.match("创业担保贷款额度") is None


def test_mask_personal_details():
    s = mask_personal("电话13812345678，身份证37011219900101123X，座机0531-88888888，邮箱a.b@x.cn")
    assert "13812345678" not in s and "37011219900101123X" not in s and "88888888" not in s and "a.b@x.cn" not in s
    assert "[手机号]" in s and "[身份证号]" in s
