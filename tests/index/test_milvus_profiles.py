"""Push matching on Milvus Lite against the reference rule and the columnar matcher, on generated profiles.

Same generators and seeds style as tests/corpus/push/test_columnar.py: every jurisdiction level,
district lists, documents with and without groups, expired ones, missing area parts; then edits and
unsubscribes. Ranking: the filtered vector search must order the reference's matches as an exact
inner product does (FLAT index, so the order is exact).
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from corpus.push.columnar import ColumnarMatcher
from corpus.push.matching import match
from corpus.push.profiles import Profile
from corpus.push.targeting import Jurisdiction, JurisdictionLevel, Targeting
from corpus.push.taxonomy import Audience
from index.milvus_profiles import MilvusProfiles, rule_expression

from ..corpus.push.test_columnar import BASE_PLACES, gen_profiles, gen_targeting

DIM = 16


def _reference(profiles, t):
    return {p.profile_id: r.to_dict() for p in profiles if (r := match(p, t)) is not None}


@pytest.fixture()
def store(tmp_path):
    s = MilvusProfiles(str(tmp_path / "push.db"), DIM, index_type="FLAT")
    yield s
    s.close()


def test_same_pairs_and_reasons_as_the_reference_and_columnar(store):
    rng = random.Random(14)
    profiles = gen_profiles(rng, 600, BASE_PLACES)
    store.add(profiles)
    col = ColumnarMatcher.build(profiles)
    reached = 0
    for i in range(120):
        t = gen_targeting(rng, i, BASE_PLACES)
        ref = _reference(profiles, t)
        got = {r.profile_id: r.to_dict() for r in store.match(t)}
        assert got == ref, (t, rule_expression(t))
        assert got == {r.profile_id: r.to_dict() for r in col.match(t).reasons()}
        assert store.count(t) == len(ref)
        reached += bool(ref)
    assert reached > 40  # the generated targetings do reach people, so the equality says something


def test_edits_and_unsubscribes_are_followed(store):
    rng = random.Random(15)
    profiles = {p.profile_id: p for p in gen_profiles(rng, 300, BASE_PLACES)}
    store.add(profiles.values())
    edited = gen_profiles(rng, 60, BASE_PLACES)  # same ids g00000..g00059, new answers
    for p in edited:
        profiles[p.profile_id] = p
    store.add(edited)
    gone = [f"g{i:05d}" for i in range(100, 160)]
    store.remove(gone)
    for g in gone:
        del profiles[g]
    for i in range(60):
        t = gen_targeting(rng, i, BASE_PLACES)
        assert {r.profile_id: r.to_dict() for r in store.match(t)} == _reference(profiles.values(), t)


def test_ranking_is_a_vector_search_over_the_matches(store):
    rng = random.Random(16)
    profiles = gen_profiles(rng, 400, BASE_PLACES)
    vecs = np.random.default_rng(16).normal(size=(len(profiles), DIM)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    store.add(profiles, vecs)
    q = vecs[7] + 0.1
    row = {p.profile_id: i for i, p in enumerate(profiles)}
    t = Targeting("t", (Audience.RESIDENT, Audience.ENTERPRISE), Jurisdiction(), (), {}, ("就业创业", "社会保险"))
    ref = _reference(profiles, t)
    assert len(ref) > 20
    exact = sorted(ref, key=lambda pid: (-float(vecs[row[pid]] @ q), row[pid]))[:10]
    got = store.match(t, query=q, top_k=10)
    assert [r.profile_id for r in got] == exact
    assert [r.to_dict() for r in got] == [ref[pid] for pid in exact]


def test_rule_expression_reaches_nobody_when_the_rule_cannot():
    j = Jurisdiction(JurisdictionLevel.PROVINCIAL, "山东省")
    assert rule_expression(Targeting("a", (Audience.RESIDENT,), j, (), {}, (), expired=False)) is None  # no interest
    assert rule_expression(Targeting("b", (), j, (), {}, ("就业创业",))) is None  # no audience
    assert rule_expression(Targeting("c", (Audience.RESIDENT,), j, (), {}, ("就业创业",), expired=True)) is None
    expr = rule_expression(Targeting("d", (Audience.RESIDENT,), j, (), {}, ("就业创业",)))
    assert expr is not None and 'province == "山东省"' in expr and "ARRAY_CONTAINS_ANY(topics" in expr


def test_reopen_keeps_profiles(tmp_path):
    path = str(tmp_path / "keep.db")
    profiles = [Profile("p1", Audience.RESIDENT, "山东省", "济南市", "历城区", None, ("高校毕业生",), ())]
    first = MilvusProfiles(path, DIM)
    first.add(profiles)
    first.close()
    again = MilvusProfiles(path, DIM)
    try:
        t = Targeting(
            "t", (Audience.RESIDENT,), Jurisdiction(JurisdictionLevel.MUNICIPAL, "山东省", "济南市"), ("高校毕业生",)
        )
        assert [r.profile_id for r in again.match(t)] == ["p1"]
        assert again._next_seq == 1
    finally:
        again.close()


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="dim must be"):
        MilvusProfiles(str(tmp_path / "x.db"), 0)
    with pytest.raises(ValueError, match="index_type must be one of"):
        MilvusProfiles(str(tmp_path / "x.db"), 4, index_type="DISKANN")
