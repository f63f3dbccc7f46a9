"""The push taxonomy: the 15 target groups, the 20 topics and the two kinds of subscriber.

The push-dev one (`../shared/data/eval/push-dev/GUIDE.md`), in Chinese because residents pick
them on the portal. Shared by the labeller, the profiles and the subscription form.
"""

from __future__ import annotations

from corpus.models import ChoiceEnum

GROUPS: tuple[str, ...] = (
    "高校毕业生",
    "农民工",
    "退役军人",
    "老年人",
    "残疾人",
    "困难群众",
    "外来务工与新市民",
    "学生及家长",
    "育儿家庭",
    "失业人员",
    "灵活就业人员",
    "农民",
    "个体工商户",
    "中小微企业",
    "医护人员",
)

TOPICS: tuple[str, ...] = (
    "就业创业",
    "社会保险",
    "社会救助",
    "教育",
    "养老服务",
    "医疗卫生",
    "住房保障",
    "城市更新",
    "户籍与居住证",
    "消费促进",
    "交通出行",
    "惠企与营商环境",
    "疫情防控与应急",
    "生态环境",
    "文化体育",
    "农业农村",
    "市场监管",
    "规划与土地",
    "税费",
    "公共服务",
)

# Groups that are businesses: they reach `enterprise` profiles; all others reach residents.
BUSINESS_GROUPS = ("个体工商户", "中小微企业")


def check_taxonomy(groups: tuple[str, ...], topics: tuple[str, ...]) -> None:
    """Raise ValueError naming any group or topic outside the taxonomy, with the allowed values."""
    bad_groups = [g for g in groups if g not in GROUPS]
    if bad_groups:
        raise ValueError(f"unknown groups {bad_groups}; allowed: {', '.join(GROUPS)}")
    bad_topics = [t for t in topics if t not in TOPICS]
    if bad_topics:
        raise ValueError(f"unknown topics {bad_topics}; allowed: {', '.join(TOPICS)}")


class Audience(ChoiceEnum):
    """Who can apply, must comply, or directly benefit. 个体工商户 count as `enterprise`."""

    RESIDENT = "resident"
    ENTERPRISE = "enterprise"


# The kinds as the subscription form shows them.
KIND_LABELS = {Audience.RESIDENT.value: "居民个人", Audience.ENTERPRISE.value: "企业或个体工商户"}
