"""Follow-up questions: offered for the sections of the cited document the answer did not draw on."""

from __future__ import annotations

from fastapi.testclient import TestClient

from corpus.models import Document, Status
from index.config import IndexConfig
from index.engine import PolicyIndex
from qa_service.app import build_state, create_app
from tests.qa_service.conftest import fake_encoder, make_settings

GUIDE = Document(
    id="lc-yyzf-2024",
    title="历城区独生子女父母奖励金办理指南",
    issuer="济南市历城区卫生健康局",
    publish_date="2024-05-01",
    status=Status.CURRENT,
    text=(
        "一、申请条件\n户籍在历城区、持有独生子女父母光荣证的夫妻，女方年满四十九周岁的，可以申请奖励金。\n"
        "二、申请材料\n申请人需提交户口簿、居民身份证和独生子女父母光荣证原件。\n"
        "三、办理地点\n申请人到户籍所在街道便民服务中心窗口提交申请。"
    ),
)


def test_follow_ups_name_the_sections_the_answer_did_not_cite(tmp_path):
    index = PolicyIndex.build([GUIDE], IndexConfig(chunk_max_chars=60), fake_encoder())
    assert len(index.passages_of(GUIDE.id)) == 3  # one passage per section
    st = build_state(make_settings(tmp_path), index=index)
    with TestClient(create_app(state=st)) as c:
        r = c.post("/api/ask", json={"question": "独生子女父母奖励金的申请条件是什么？"}).json()
        assert not r["abstained"]
        cited = {s["citation"]["heading_path"][0] for s in r["sentences"]}
        assert "一、申请条件" in cited
        offered = {"二、申请材料": "需要准备哪些材料？", "三、办理地点": "到哪里办理？"}
        assert r["follow_ups"] == [q for h, q in offered.items() if h not in cited]
        assert "申请条件是什么？" not in r["follow_ups"]  # the aspect just asked about
        # A follow-up is asked within the same policy: the conversation carries the topic into it.
        nxt = c.post("/api/ask", json={"question": r["follow_ups"][0], "conversation_id": r["conversation_id"]})
        assert "独生子女" in nxt.json()["resolved_question"]
        gone = c.post("/api/ask", json={"question": "今天天气怎么样"}).json()
        assert gone["abstained"] and gone["follow_ups"] == []
    st.store.close()
    st.push_store.close()
