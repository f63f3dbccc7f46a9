"""`POST /api/push/profile/suggest`: groups and topics from a self-description, for the resident to confirm."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from qa_service.app import build_state, create_app
from tests.qa_service.conftest import make_settings

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def api(tmp_path, policy_index):
    st = build_state(make_settings(tmp_path), index=policy_index)
    with TestClient(create_app(state=st)) as c:
        yield c


def test_suggests_groups_and_topics_for_the_resident_to_confirm(api) -> None:
    body = {"description": "我今年七十岁，是退休人员，想了解老年人免费乘坐公交车的政策。"}
    r = api.post("/api/push/profile/suggest", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    groups = {g["name"]: g for g in out["groups"]}
    assert "老年人" in groups and groups["老年人"]["evidence"] in body["description"]
    assert 0.0 <= groups["老年人"]["probability"] <= 1.0
    assert "交通出行" in [t["name"] for t in out["topics"]]
    assert out["topic_source"] == "rules"  # the fake encoder is not the topic model's e5
    assert CJK.search(out["notice"]) and "不会自动添加" in out["notice"]


@pytest.mark.parametrize(
    "body",
    [{"description": ""}, {"description": "  "}, {"description": "长" * 501}, {"description": 42}, {}, {"x": "y"}],
)
def test_bad_descriptions_get_a_chinese_4xx(api, body) -> None:
    r = api.post("/api/push/profile/suggest", json=body)
    assert 400 <= r.status_code < 500, r.text
    assert CJK.search(r.json()["error"]["message"])
