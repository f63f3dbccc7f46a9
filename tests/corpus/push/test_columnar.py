"""The columnar matcher against the reference `match(profile, targeting)`, pair by pair and reason by reason.

Property-style with fixed seeds: thousands of generated profiles (kinds, Jinan streets, other
cities, municipalities, missing fields), the labelled push-dev documents and random Targetings
(every level, district lists, documents with and without groups, expired ones), then random
subscribe / edit / unsubscribe sequences.
"""

from __future__ import annotations

import csv
import json
import random

import numpy as np
import pytest

from corpus import regions
from corpus.push.columnar import ColumnarMatcher
from corpus.push.matching import match
from corpus.push.profiles import Profile
from corpus.push.targeting import Jurisdiction, JurisdictionLevel, Targeting
from corpus.push.taxonomy import BUSINESS_GROUPS, GROUPS, TOPICS, Audience

Place = tuple[str | None, str | None, str | None]

BASE_PLACES: list[Place] = [
    *(("山东省", "济南市", d) for d in regions.JINAN_DISTRICTS),
    ("山东省", "济南市", None),
    ("山东省", "青岛市", "市南区"),
    ("山东省", None, None),
    ("上海市", "上海市", "静安区"),
    ("北京市", "北京市", None),
    ("广东省", "深圳市", "南山区"),
    ("广东省", "中山市", None),
    (None, None, None),
    (None, "济南市", "历城区"),  # inconsistent, but a Profile allows it: the matcher must agree anyway
]


def gen_profiles(rng: random.Random, n: int, places: list[Place], prefix: str = "g") -> list[Profile]:
    out = []
    licheng = [p for p in places if p[2] == "历城区" and p[0] == "山东省"] or places
    for i in range(n):
        kind = Audience.ENTERPRISE if rng.random() < 0.15 else Audience.RESIDENT
        province, city, district = rng.choice(licheng) if rng.random() < 0.5 else rng.choice(places)
        pool = list(BUSINESS_GROUPS) * 4 + list(GROUPS) if kind is Audience.ENTERPRISE else list(GROUPS)
        groups = tuple(dict.fromkeys(rng.sample(pool, rng.choice((0, 1, 1, 2, 3)))))
        topics = tuple(rng.sample(TOPICS, rng.choice((0, 1, 2, 3, 5)) if groups else rng.randint(1, 4)))
        out.append(Profile(f"{prefix}{i:05d}", kind, province, city, district, None, groups, topics))
    return out


def gen_targeting(rng: random.Random, i: int, places: list[Place]) -> Targeting:
    province, city, district = rng.choice(places)
    level = rng.choice(list(JurisdictionLevel))
    if level is JurisdictionLevel.NATIONAL:
        j = Jurisdiction()
    elif level is JurisdictionLevel.PROVINCIAL:
        j = Jurisdiction(level, province)
    elif level is JurisdictionLevel.MUNICIPAL:
        j = Jurisdiction(level, province, city)
    else:
        extra = [p[2] for p in rng.sample(places, 2) if p[2]]
        j = Jurisdiction(level, province, city, tuple(d for d in (district, *extra) if d))
    groups = tuple(rng.choices(GROUPS, k=rng.choice((0, 0, 1, 2, 3))))  # duplicates allowed, as in Targeting
    evidence = {g: f"原文写明{g}可以申请" for g in groups if rng.random() < 0.7}
    audience = tuple(rng.sample(list(Audience), rng.choice((0, 1, 1, 2))))
    topics = tuple(rng.sample(TOPICS, rng.choice((0, 1, 2, 3))))
    return Targeting(f"t{i}", audience, j, groups, evidence, topics, expired=rng.random() < 0.05)


def reference(profiles: list[Profile], t: Targeting) -> dict[str, dict]:
    return {p.profile_id: r.to_dict() for p in profiles if (r := match(p, t)) is not None}


def columnar(m: ColumnarMatcher, t: Targeting) -> dict[str, dict]:
    reasons = m.match(t).reasons()
    out = {r.profile_id: r.to_dict() for r in reasons}
    assert len(out) == len(reasons)  # no profile twice
    assert m.count(t) == len(reasons)
    return out


def test_random_targetings_give_exactly_the_reference_pairs_and_reasons():
    rng = random.Random(11)
    profiles = gen_profiles(rng, 3000, BASE_PLACES)
    m = ColumnarMatcher.build(profiles)
    reached = 0
    for i in range(400):
        t = gen_targeting(rng, i, BASE_PLACES)
        want = reference(profiles, t)
        assert columnar(m, t) == want, t
        reached += bool(want)
    assert reached > 100  # the generator does produce matches, so the equality above means something


def _push_dev(shared_dir):
    base = shared_dir / "data" / "eval" / "push-dev"
    docs = [Targeting.from_dict(json.loads(ln)) for ln in (base / "doc_labels.jsonl").open(encoding="utf-8")]
    gold = [Profile.from_dict(json.loads(ln)) for ln in (base / "profiles.jsonl").open(encoding="utf-8")]
    with (shared_dir / "data" / "regions" / "jinan_streets.csv").open(encoding="utf-8") as f:
        streets = [(r["province"], r["city"], r["district"]) for r in csv.DictReader(f)]
    places = list(dict.fromkeys([*BASE_PLACES, *streets, *((p.province, p.city, p.district) for p in gold)]))
    return docs, gold, places


def test_push_dev_documents_match_as_the_reference_on_generated_and_gold_profiles(shared_dir):
    docs, gold, places = _push_dev(shared_dir)
    profiles = gold + gen_profiles(random.Random(7), 4000, places)
    m = ColumnarMatcher.build(profiles)
    pairs = 0
    for t in docs:
        want = reference(profiles, t)
        assert columnar(m, t) == want, t.doc_id
        pairs += len(want)
    assert pairs > 1000
    # the 48 gold profiles alone give the gold match list of the dev documents
    gold_ids = {p.profile_id for p in gold}
    tsv = (shared_dir / "data" / "eval" / "push-dev" / "matches.tsv").read_text(encoding="utf-8").splitlines()[1:]
    expected = {(r.split("\t")[0], r.split("\t")[1]) for r in tsv}
    got = {(pid, t.doc_id) for t in docs for pid in m.match(t).profile_ids.tolist() if pid in gold_ids}
    assert got == expected


def test_incremental_subscribe_edit_unsubscribe_keeps_the_reference_pairs():
    rng = random.Random(23)
    live = {p.profile_id: p for p in gen_profiles(rng, 1500, BASE_PLACES)}
    m = ColumnarMatcher.build(live.values())
    fresh = iter(gen_profiles(rng, 3000, BASE_PLACES, prefix="n"))
    targetings = [gen_targeting(rng, i, BASE_PLACES) for i in range(60)]
    for step in range(2000):
        op = rng.random()
        if op < 0.4:
            p = next(fresh)
            live[p.profile_id] = p
            m.add(p)
        elif op < 0.7 and live:
            pid = rng.choice(list(live))
            edited = gen_profiles(rng, 1, BASE_PLACES, prefix=pid)[0]
            live[pid] = Profile(pid, edited.kind, edited.province, edited.city, edited.district, None, edited.groups,
                                edited.topics)  # fmt: skip
            m.add(live[pid])
        elif live:
            pid = rng.choice(list(live))
            assert m.remove(pid)
            del live[pid]
            assert not m.remove(pid)
        if step % 200 == 0:
            for t in targetings[:10]:
                assert columnar(m, t) == reference(list(live.values()), t)
    assert len(m) == len(live) and set(m.profile_ids()) == set(live)
    rebuilt = ColumnarMatcher.build(live.values())
    for t in targetings:
        want = reference(list(live.values()), t)
        assert columnar(m, t) == want == columnar(rebuilt, t)


@pytest.mark.parametrize("dtype", ["int8", "float16"])
def test_scores_are_the_description_dot_products_and_rank_the_matches(dtype):
    rng = random.Random(5)
    profiles = gen_profiles(rng, 2000, BASE_PLACES)
    vecs = np.random.default_rng(5).standard_normal((len(profiles), 32)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    m = ColumnarMatcher.build(profiles, vecs, vector_dtype=dtype)
    row = {p.profile_id: i for i, p in enumerate(profiles)}
    q = vecs[0]
    t = Targeting("nat", (Audience.RESIDENT, Audience.ENTERPRISE), Jurisdiction(), topics=TOPICS)
    got = m.match(t, q)
    assert len(got) > 1000
    exact = vecs[[row[i] for i in got.profile_ids.tolist()]] @ q
    np.testing.assert_allclose(got.scores, exact, atol=0.02)
    ranked = [r.profile_id for r in got.reasons()]
    assert sorted(ranked) == sorted(got.profile_ids.tolist())
    assert np.all(np.diff(got.scores[got.order()]) <= 0)
    # a profile added later with its vector, and one edited without, are scored too
    m.add(Profile("late", Audience.RESIDENT, topics=("教育",)), vecs[0] * 3)
    m.add(Profile(profiles[1].profile_id, Audience.RESIDENT, topics=("教育",)))
    again = m.match(t, q)
    scores = dict(zip(again.profile_ids.tolist(), again.scores.tolist(), strict=True))
    assert scores["late"] == pytest.approx(3.0, abs=0.05) and scores[profiles[1].profile_id] == 0.0
    assert again.reasons()[0].profile_id == "late"


def test_a_result_is_not_changed_by_later_edits():
    p = Profile("a", Audience.RESIDENT, "山东省", "济南市", "历城区", groups=("农民",))
    m = ColumnarMatcher.build([p])
    t = Targeting("d", (Audience.RESIDENT,), Jurisdiction(JurisdictionLevel.PROVINCIAL, "山东省"), ("农民",))
    got = m.match(t)
    m.remove("a")
    m.add(Profile("b", Audience.RESIDENT, "山东省", groups=("农民",)))  # reuses the freed slot
    assert [r.profile_id for r in got.reasons()] == ["a"]
    assert [r.profile_id for r in m.match(t).reasons()] == ["b"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"dim": -1}, "dim must be >= 0"), ({"vector_dtype": "float64"}, "vector_dtype must be one of int8, float16")],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ColumnarMatcher(**kwargs)


def test_bad_inputs_are_refused():
    p = Profile("a", Audience.RESIDENT, groups=("农民",))
    with pytest.raises(ValueError, match="given twice"):
        ColumnarMatcher.build([p, p])
    with pytest.raises(ValueError, match="2 vectors for 1 profiles"):
        ColumnarMatcher.build([p], np.zeros((2, 4)))
    m = ColumnarMatcher.build([p], np.zeros((1, 4)))
    with pytest.raises(ValueError, match="query must have 4 dimensions"):
        m.match(Targeting("d", (Audience.RESIDENT,), groups=("农民",)), np.zeros(3))
    with pytest.raises(ValueError, match="no description vectors"):
        ColumnarMatcher.build([p]).scores(np.zeros(1, dtype=np.uint32), np.zeros(4))
