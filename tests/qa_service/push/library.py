"""Hand-made push labels for the small library in tests/qa_service/conftest.py, and request helpers.

Labels (fake, by hand): 创业担保贷款 (lc-cydb-2023) is for Licheng residents on the topic 就业创业;
高龄津贴 (sd-gljt-2022) for Shandong's 老年人; 居住证 (jn-jzz-2019) for Jinan's 外来务工与新市民.
Any other (ingested) document is a Licheng employment policy.
"""

from __future__ import annotations

from corpus.models import Document
from corpus.push.targeting import Jurisdiction, JurisdictionLevel, Targeting
from corpus.push.taxonomy import Audience
from tests.qa_service.conftest import ADMIN_KEY

ADMIN = {"X-API-Key": ADMIN_KEY}
PHONE = "13912345678"
SECRET_STORY = "我在王舍人街道租房，孩子明年上小学。"

LICHENG = Jurisdiction(JurisdictionLevel.DISTRICT, "山东省", "济南市", ("历城区",))
LABELS = {
    "lc-cydb-2023": Targeting("lc-cydb-2023", (Audience.RESIDENT,), LICHENG, (), {}, ("就业创业",)),
    "sd-gljt-2022": Targeting(
        "sd-gljt-2022",
        (Audience.RESIDENT,),
        Jurisdiction(JurisdictionLevel.PROVINCIAL, "山东省"),
        ("老年人",),
        {"老年人": "年满80周岁的老年人"},
        ("养老服务",),
    ),
    "jn-jzz-2019": Targeting(
        "jn-jzz-2019",
        (Audience.RESIDENT,),
        Jurisdiction(JurisdictionLevel.MUNICIPAL, "山东省", "济南市"),
        ("外来务工与新市民",),
        {"外来务工与新市民": "保障流动人口合法权益"},
        ("户籍与居住证",),
    ),
}


def fake_labeller(doc: Document) -> Targeting:
    if doc.id in LABELS:
        return LABELS[doc.id]
    # Ingested documents in these tests are Licheng employment policies.
    return Targeting(doc.id, (Audience.RESIDENT,), LICHENG, (), {}, ("就业创业",))


def profile_body(**overrides) -> dict:
    body = {
        "kind": "resident",
        "province": "山东省",
        "city": "济南市",
        "district": "历城区",
        "street": "王舍人街道",
        "groups": ["外来务工与新市民", "学生及家长"],
        "topics": ["就业创业", "教育"],
        "description": SECRET_STORY,
        "contact": {"channel": "sms", "address": PHONE},
    }
    body.update(overrides)
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


_NO_BODY = object()


def run_plan(api, doc_ids: list[str] | None = None, body=_NO_BODY) -> dict:
    """`POST /api/admin/push/plan` (202: a job), then run the queued jobs here, deterministically (the
    lifespan's planner thread may have taken it: `run_pending` waits for that); the job as GET shows it."""
    if body is _NO_BODY:
        body = {"doc_ids": doc_ids} if doc_ids is not None else None
    r = api.post("/api/admin/push/plan", headers=ADMIN, json=body)
    assert r.status_code == 202, r.text
    assert r.json()["status"] in ("queued", "running", "done")
    api.app.state.qa.push_jobs.run_pending()
    job = api.get(r.json()["status_url"], headers=ADMIN)
    assert job.status_code == 200 and job.json()["status"] == "done", job.text
    return job.json()


def settle(api) -> None:
    """Run the planning jobs an ingest queued, here and now."""
    api.app.state.qa.push_jobs.run_pending()
