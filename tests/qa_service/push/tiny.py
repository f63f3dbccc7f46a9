"""The tiny Licheng corpus (`tests.conftest.tiny_docs`) with hand-made push labels and profiles.

Who gets what, by hand (`labeller` below, profiles in `PEOPLE`):
- emp (就业补贴, 历城区, groups 高校毕业生 + 中小微企业): the 3 Licheng graduates and the firm -> 4;
  the Shanghai graduate is outside the district.
- edu (招生入学, 历城区, 学生及家长): the parent -> 1.
- new (老旧小区改造 2024, 历城区, no group, topic 城市更新): the pensioner, via the topic -> 1.
- old (superseded) and tax (expired): not planned.
Total 6 messages.
"""

from __future__ import annotations

from dataclasses import replace

from corpus.models import Document
from corpus.push.profiles import Profile
from corpus.push.targeting import Jurisdiction, JurisdictionLevel, Targeting
from corpus.push.taxonomy import Audience
from qa_service.push.store import PushStore

LICHENG = Jurisdiction(JurisdictionLevel.DISTRICT, "山东省", "济南市", ("历城区",))
RES, ENT = Audience.RESIDENT, Audience.ENTERPRISE

LABELS = {
    "emp": Targeting(
        "emp",
        (RES, ENT),
        LICHENG,
        ("高校毕业生", "中小微企业"),
        {"高校毕业生": "为促进高校毕业生就业", "中小微企业": "吸纳高校毕业生就业的小微企业"},
        ("就业创业",),
    ),
    "edu": Targeting("edu", (RES,), LICHENG, ("学生及家长",), {"学生及家长": "适龄儿童按学区划分入学"}, ("教育",)),
    "new": Targeting("new", (RES,), LICHENG, (), {}, ("城市更新",)),
    "old": Targeting("old", (RES,), LICHENG, (), {}, ("城市更新",)),
    "tax": Targeting("tax", (ENT,), Jurisdiction(), (), {}, ("税费",), expired=True),
}


def licheng(pid: str, kind: Audience = RES, groups=(), topics=()) -> Profile:
    return Profile(pid, kind, "山东省", "济南市", "历城区", "洪家楼街道", tuple(groups), tuple(topics))


PEOPLE = [
    licheng("p-grad-1", groups=["高校毕业生"], topics=["就业创业"]),
    licheng("p-grad-2", groups=["高校毕业生"]),
    licheng("p-grad-3", groups=["高校毕业生", "灵活就业人员"]),
    licheng("p-firm", ENT, groups=["中小微企业"], topics=["惠企与营商环境"]),
    licheng("p-parent", groups=["学生及家长"], topics=["教育"]),
    licheng("p-elder", groups=["老年人"], topics=["城市更新", "养老服务"]),
    Profile("p-shanghai", RES, "上海市", "上海市", "静安区", None, ("高校毕业生",), ("就业创业",)),
]


def labeller(doc: Document) -> Targeting:
    return replace(LABELS[doc.id], doc_id=doc.id)


def all_keys(store: PushStore) -> set[str]:
    return {r["key"] for r in store.outbox_rows()}
