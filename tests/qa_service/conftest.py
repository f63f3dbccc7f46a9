"""A small realistic policy library served by the real app, with a deterministic fake encoder.

The library holds a revision chain (居住证 2015 -> 2019), an interpretation of the
2019 version, an expired document and unrelated policies, so answers, citations,
revision chains and interpretations can be checked by hand.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence

import numpy as np
import pytest
from fastapi.testclient import TestClient

from corpus.models import Document, Status
from index.config import IndexConfig
from index.engine import PolicyIndex
from qa_service.app import build_state, create_app
from qa_service.ratelimit import RateLimiter
from qa_service.settings import Settings
from qa_service.store import Store

ADMIN_KEY = "test-admin-key"

DOCS = [
    Document(
        id="jn-jzz-2019",
        title="济南市居住证申领办法",
        doc_number="济政发〔2019〕3号",
        issuer="济南市人民政府",
        publish_date="2019-05-10",
        status=Status.CURRENT,
        region="济南市",
        doc_type="办法",
        topics=("户籍",),
        version_group="jn-jzz",
        supersedes="jn-jzz-2015",
        text=(
            "第一章 总则\n第一条 为了保障流动人口合法权益，规范居住证管理，制定本办法。\n"
            "第二章 申领\n第五条 申领居住证应当提交下列材料：居民身份证、近期一寸免冠照片、居住地住址证明。\n"
            "第六条 首次申领居住证，免收证件工本费。居住证每年签注一次，签注不收取费用。\n"
            "第七条 公安派出所应当自受理之日起十五日内制作发放居住证。"
        ),
    ),
    Document(
        id="jn-jzz-2015",
        title="济南市居住证申领办法",
        doc_number="济政发〔2015〕12号",
        issuer="济南市人民政府",
        publish_date="2015-08-01",
        status=Status.SUPERSEDED,
        region="济南市",
        doc_type="办法",
        topics=("户籍",),
        version_group="jn-jzz",
        text=(
            "第一条 为了规范居住证管理，制定本办法。\n"
            "第五条 申领居住证应当提交居民身份证、照片和房屋租赁合同。\n"
            "第六条 申领居住证收取工本费二十元。"
        ),
    ),
    Document(
        id="jn-jzz-jd",
        title="《济南市居住证申领办法》政策解读",
        issuer="济南市公安局",
        publish_date="2019-05-20",
        status=Status.CURRENT,
        region="济南市",
        doc_type="解读",
        interprets="jn-jzz-2019",
        text="一、出台背景\n新办法取消了居住证工本费，简化了申领材料，群众可以在居住地派出所就近办理。",
    ),
    Document(
        id="lc-cydb-2023",
        title="历城区创业担保贷款实施细则",
        doc_number="历人社发〔2023〕8号",
        issuer="济南市历城区人力资源和社会保障局",
        publish_date="2023-03-01",
        status=Status.CURRENT,
        region="历城区",
        doc_type="细则",
        topics=("就业创业",),
        text=(
            "第一条 符合条件的个人创业者可以申请创业担保贷款。\n"
            "第二条 个人创业担保贷款最高额度为30万元，贷款期限最长不超过3年，财政部门给予贴息。\n"
            "第三条 申请人应当向户籍所在地或创业地的人力资源社会保障部门提出申请。"
        ),
    ),
    Document(
        id="jn-laji-2018",
        title="济南市生活垃圾分类暂行办法",
        doc_number="济政办发〔2018〕20号",
        issuer="济南市人民政府办公厅",
        publish_date="2018-01-15",
        status=Status.EXPIRED,
        region="济南市",
        doc_type="办法",
        topics=("城市管理",),
        text="第三条 生活垃圾分为可回收物、有害垃圾、厨余垃圾和其他垃圾四类。\n第九条 本办法有效期三年。",
    ),
    Document(
        id="sd-gljt-2022",
        title="山东省高龄津贴发放办法",
        doc_number="鲁民〔2022〕15号",
        issuer="山东省民政厅",
        publish_date="2022-06-30",
        status=Status.CURRENT,
        region="山东省",
        doc_type="办法",
        topics=("养老",),
        text=(
            "第二条 具有本省户籍、年满80周岁的老年人，可以享受高龄津贴。\n"
            "第四条 80至89周岁老年人每人每月发放高龄津贴不低于100元，90周岁以上每人每月不低于200元。"
        ),
    ),
]

FAQ = [
    {"question": "居住证办理需要多长时间？", "answer": "自受理之日起十五日内制作发放居住证。", "doc_id": "jn-jzz-2019"},
]


class HashEncoder:
    """Deterministic bag-of-characters vectors: similar strings, similar vectors; no model needed."""

    name = "test-hash-64"
    dim = 64

    def _enc(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for ch in t:
                out[i, int(hashlib.md5(ch.encode()).hexdigest()[:6], 16) % self.dim] += 1.0
            out[i] /= max(np.linalg.norm(out[i]), 1e-6)
        return out

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._enc(texts)

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._enc(texts)


def fake_encoder():
    try:
        from index.encoders import FakeEncoder
    except ImportError:
        return HashEncoder()
    return FakeEncoder(dim=64)


@pytest.fixture(scope="session")
def policy_index() -> PolicyIndex:
    return PolicyIndex.build(DOCS, IndexConfig(), fake_encoder())


def make_settings(tmp_path, **overrides) -> Settings:
    base = dict(
        data_dir=tmp_path,
        faq_path=tmp_path / "faq.jsonl",
        index_dir=tmp_path / "index",
        sqlite_path=tmp_path / "qa.sqlite3",
        encoder="fake",
        abstain_dense_weight=0.0,  # the fake encoder's similarities are not e5's; calibration is for e5
        admin_api_key=ADMIN_KEY,
        rate_limit_per_minute=6000,
        rate_limit_burst=1000,
        push_backfill=False,  # push tests start from empty outboxes; push/test_backfill.py turns it on
        push_deliver_interval_seconds=0,  # tests deliver explicitly; push/test_delivery covers the scheduler
        push_review=False,  # push tests send what they plan; push/test_review.py turns the review step on
    )
    base.update(overrides)
    return Settings(**base)


@pytest.fixture
def settings(tmp_path) -> Settings:
    import json

    (tmp_path / "faq.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in FAQ), encoding="utf-8")
    return make_settings(tmp_path)


@pytest.fixture
def state(settings, policy_index):
    st = build_state(settings, index=policy_index, store=Store(settings.resolved_sqlite_path))
    yield st


@pytest.fixture
def client(state) -> Iterator[TestClient]:
    app = create_app(state=state)
    with TestClient(app) as c:
        yield c


@pytest.fixture
def limited_client(state) -> Iterator[TestClient]:
    """Burst of 3 requests, then 1 per minute; the clock stands still so nothing refills."""
    state.limiter = RateLimiter(per_minute=1, burst=3, clock=lambda: 1000.0)
    app = create_app(state=state)
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def browser():
    """One Chromium per browser-test module (Debian's, see tests/qa_service/browser.py); a module may override it."""
    from tests.qa_service.browser import chromium

    with chromium() as b:
        yield b
