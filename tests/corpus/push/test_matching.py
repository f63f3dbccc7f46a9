"""Push labels and the matching rule: hand-made cases, validation, and the push-dev gold matches."""

from __future__ import annotations

import json

import pytest

from corpus.push.matching import match
from corpus.push.profiles import Profile
from corpus.push.targeting import Jurisdiction, JurisdictionLevel, Targeting
from corpus.push.taxonomy import Audience

LICHENG = Jurisdiction(JurisdictionLevel.DISTRICT, "山东省", "济南市", ("历城区",))


def _profile(**kw) -> Profile:
    base = dict(
        profile_id="p1",
        kind=Audience.RESIDENT,
        province="山东省",
        city="济南市",
        district="历城区",
        street="洪家楼街道",
        groups=("高校毕业生",),
        topics=("就业创业", "户籍与居住证"),
    )
    return Profile(**{**base, **kw})


def _policy(**kw) -> Targeting:
    base = dict(
        doc_id="d1",
        audience=(Audience.RESIDENT,),
        jurisdiction=Jurisdiction(JurisdictionLevel.MUNICIPAL, "山东省", "济南市"),
        groups=("高校毕业生",),
        evidence={"高校毕业生": "对留济就业的高校毕业生给予一次性补贴"},
        topics=("就业创业",),
    )
    return Targeting(**{**base, **kw})


def test_a_shared_group_matches_and_the_reason_names_area_group_and_evidence():
    reason = match(_profile(), _policy())
    assert reason is not None and reason.via == "group"
    assert reason.text == "适用于济南市，您属于高校毕业生"
    assert reason.evidence == ("对留济就业的高校毕业生给予一次性补贴",)


def test_groups_decide_when_the_policy_names_any_so_a_shared_topic_alone_is_not_enough():
    assert match(_profile(groups=("老年人",)), _policy()) is None


def test_without_groups_a_shared_topic_matches():
    reason = match(_profile(groups=("老年人",)), _policy(groups=(), evidence={}))
    assert reason is not None and reason.via == "topic" and reason.text == "适用于济南市，您关注就业创业"


@pytest.mark.parametrize(
    "policy",
    [
        _policy(expired=True),
        _policy(audience=(Audience.ENTERPRISE,)),
        _policy(audience=()),
        _policy(jurisdiction=Jurisdiction(JurisdictionLevel.MUNICIPAL, "山东省", "青岛市")),
        _policy(jurisdiction=Jurisdiction(JurisdictionLevel.DISTRICT, "山东省", "济南市", ("莱芜区", "钢城区"))),
        _policy(jurisdiction=Jurisdiction(JurisdictionLevel.PROVINCIAL, "广东省")),
    ],
)
def test_expired_wrong_audience_or_outside_the_area_never_matches(policy):
    assert match(_profile(), policy) is None


@pytest.mark.parametrize(
    ("where", "covered"),
    [
        (Jurisdiction(), True),
        (Jurisdiction(JurisdictionLevel.PROVINCIAL, "山东省"), True),
        (Jurisdiction(JurisdictionLevel.MUNICIPAL, "山东省", "济南市"), True),
        (LICHENG, True),
        (Jurisdiction(JurisdictionLevel.DISTRICT, "山东省", "济南市", ("历下区", "历城区")), True),
        (Jurisdiction(JurisdictionLevel.DISTRICT, "山东省", "济南市", ("历下区",)), False),
        (Jurisdiction(JurisdictionLevel.MUNICIPAL, "山东省", "淄博市"), False),
    ],
)
def test_jurisdiction_covers_by_level(where, covered):
    assert where.covers("山东省", "济南市", "历城区") is covered


def test_a_profile_without_district_is_not_inside_a_district_policy():
    assert not LICHENG.covers("山东省", "济南市", None)


def test_labels_round_trip_through_dicts():
    t = _policy(jurisdiction=LICHENG, expired=True, expired_reason="有效期至2020年12月31日")
    assert Targeting.from_dict(json.loads(json.dumps(t.to_dict(), ensure_ascii=False))) == t
    p = _profile(description="我是应届毕业生")
    assert Profile.from_dict(json.loads(json.dumps(p.to_dict(), ensure_ascii=False))) == p
    assert LICHENG.label() == "济南市历城区"


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"groups": ("大学生",)}, "unknown groups"),
        ({"topics": ("旅游",)}, "unknown topics"),
        ({"groups": (), "topics": ()}, "at least one group or topic"),
    ],
)
def test_profiles_reject_values_outside_the_taxonomy(kw, message):
    with pytest.raises(ValueError, match=message):
        _profile(**kw)


def test_unknown_kind_lists_the_allowed_values():
    with pytest.raises(ValueError, match="audience must be one of resident, enterprise"):
        Profile.from_dict({"profile_id": "x", "kind": "government", "topics": ["教育"]})


def test_gold_labels_reproduce_every_push_dev_match(shared_dir):
    """The rule is the GUIDE's: on gold labels it gives exactly the gold pairs (322 on 276 documents)."""
    root = shared_dir / "data" / "eval" / "push-dev"
    labels = [Targeting.from_dict(json.loads(line)) for line in (root / "doc_labels.jsonl").open(encoding="utf-8")]
    profiles = [Profile.from_dict(json.loads(line)) for line in (root / "profiles.jsonl").open(encoding="utf-8")]
    rows = (root / "matches.tsv").read_text(encoding="utf-8").splitlines()[1:]
    gold = {tuple(r.split("\t")[:2]) for r in rows}
    got = {(p.profile_id, t.doc_id) for p in profiles for t in labels if match(p, t)}
    assert len(gold) == len(rows) >= 322  # push-dev grows; the rule must reproduce all of it
    assert got == gold
