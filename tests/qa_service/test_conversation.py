"""Follow-up expansion, the conversation store, rate limiting and masking: pure units."""

from __future__ import annotations

import base64
import json
import sqlite3
import uuid

import pytest

from index.tokenize import Tokenizer
from qa_service.conversation import (
    ConversationStore,
    Turn,
    conversation_ref,
    is_follow_up,
    resolve_follow_up,
    valid_conversation_id,
)
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
    ids = []
    for _ in range(3):
        ids.append(store.start())
        for i in range(7):
            store.append(ids[-1], Turn(f"q{i}", f"q{i}"))
    a, c = ids[0], ids[2]
    assert len(store) == 2 and store.history(a) == [] and not store.known(a)
    assert [t.question for t in store.history(c)] == ["q2", "q3", "q4", "q5", "q6"]
    with pytest.raises(ValueError, match="max_conversations"):
        ConversationStore(0)
    with pytest.raises(ValueError, match="ttl_seconds"):
        ConversationStore(ttl_seconds=0)


def test_the_server_issues_unguessable_ids():
    store = ConversationStore()
    ids = [store.start() for _ in range(1000)]
    assert len(set(ids)) == 1000
    for cid in ids[:50]:
        assert valid_conversation_id(cid) and len(base64.urlsafe_b64decode(cid + "==")) >= 16, "128 random bits"


def test_ids_the_server_did_not_issue_have_no_history_and_cannot_be_written():
    store = ConversationStore()
    for guess in ("1", "abc", uuid.uuid4().hex):
        assert not store.known(guess) and store.history(guess) == []
        with pytest.raises(KeyError):
            store.append(guess, Turn("如何申请居住证？", "如何申请居住证？"))
        cid, history = store.open(guess)
        assert cid != guess and store.known(cid) and history == []
    mine = store.start()
    store.append(mine, Turn("如何申请居住证？", "如何申请居住证？"))
    assert store.open(mine) == (mine, [Turn("如何申请居住证？", "如何申请居住证？")])


def test_conversations_expire_when_idle():
    now = [0.0]
    store = ConversationStore(ttl_seconds=600, clock=lambda: now[0])
    cid = store.start()
    store.append(cid, Turn("如何申请居住证？", "如何申请居住证？"))
    now[0] = 599.0
    assert store.history(cid), "still within ten minutes of its last turn"
    now[0] = 599.0 + 601.0
    assert store.history(cid) == [] and store.open(cid)[0] != cid


def test_answers_table_keeps_a_pseudonym_not_the_conversation_id():
    ref = conversation_ref("Abc123")
    assert ref == conversation_ref("Abc123") and ref != conversation_ref("Abc124") and "Abc123" not in ref


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


# -- over HTTP: two clients, one conversation id -------------------------------------------------
def _ask(client, question, conversation_id=None):
    r = client.post("/api/ask", json={"question": question, "conversation_id": conversation_id})
    assert r.status_code == 200, r.text
    return r.json()


def test_a_client_chosen_id_does_not_share_a_conversation(client):
    a = _ask(client, "创业担保贷款怎么申请", conversation_id="1")
    assert a["conversation_id"] != "1", "the server does not take the client's id"
    b = _ask(client, "那最多能贷多少？", conversation_id="1")
    assert b["resolved_question"] == "那最多能贷多少？", "the second client's question is not read in the first's topic"
    assert b["conversation_id"] not in ("1", a["conversation_id"])
    again = _ask(client, "那最多能贷多少？", conversation_id=a["conversation_id"])
    assert "创业" in again["resolved_question"] and again["conversation_id"] == a["conversation_id"]


def test_an_id_the_server_never_issued_starts_a_fresh_conversation(client):
    _ask(client, "创业担保贷款怎么申请")
    guessed = uuid.uuid4().hex  # the old ids' shape
    d = _ask(client, "那最多能贷多少？", conversation_id=guessed)
    assert d["resolved_question"] == "那最多能贷多少？" and d["conversation_id"] != guessed


def _meta(client, method, **kw):
    with client.stream(method, "/api/ask/stream", **kw) as r:
        assert r.status_code == 200
        lines = r.iter_lines()
        first = next(lines, ""), next(lines, "")
    assert first[0] == "event: meta"
    return json.loads(first[1][len("data: ") :])


def test_the_widget_flow_keeps_its_conversation_through_the_stream(client, state):
    """What widget.html does: send null, keep `conversation_id` from the meta event, send it back."""
    meta = _meta(client, "POST", json={"question": "创业担保贷款怎么申请", "conversation_id": None})
    cid = meta["conversation_id"]
    follow = _meta(client, "POST", json={"question": "那最多能贷多少？", "conversation_id": cid})
    assert follow["conversation_id"] == cid and "创业" in follow["resolved_question"]
    by_get = _meta(client, "GET", params={"question": "要多长时间", "conversation_id": cid})
    assert by_get["conversation_id"] == cid and "创业" in by_get["resolved_question"]
    with sqlite3.connect(state.settings.resolved_sqlite_path) as db:
        stored = {r[0] for r in db.execute("SELECT conversation_id FROM answers")}
    assert stored == {conversation_ref(cid)}, "the id is a capability: it is not kept at rest"
