"""Description vectors rank a document's matches: encoded at subscribe / edit (e5 query side; the fake
encoder here), stored, loaded into the service's columnar matcher; planning scores each match by
document vector · description vector and writes the rows best first, so delivery (ids in order) and
the review queue's sample go best-matching first. The pairs stay exactly `match()`'s.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from corpus.models import Document
from corpus.push.columnar import ColumnarMatcher
from corpus.push.matching import match
from qa_service import state as state_module
from qa_service.app import build_state, create_app
from qa_service.push.planner import match_entries, plan
from qa_service.push.store import PushStore
from qa_service.push.vectors import document_text, quantize
from tests.corpus.push.test_columnar import BASE_PLACES, gen_profiles, gen_targeting
from tests.qa_service.conftest import make_settings
from tests.qa_service.push.library import ADMIN, LABELS, bearer, fake_labeller, profile_body, run_plan

DOC = "lc-cydb-2023"  # 创业担保贷款: every profile below matches it by its topic 就业创业
DESCRIPTIONS = {
    "loan": "我想申请个人创业担保贷款，想了解贷款额度、贷款期限和财政贴息。",
    "far": "家里老人行动不便，需要上门的居家养老服务。",
    "none": None,
}


def make_state(tmp_path, policy_index, **settings):
    st = build_state(make_settings(tmp_path, **settings), index=policy_index)
    st.push_labeller = fake_labeller
    return st


def subscribe_all(api) -> dict[str, dict]:
    out = {}
    for name in ("none", "far", "loan"):  # ids in the opposite order of the ranking
        r = api.post("/api/profiles", json=profile_body(description=DESCRIPTIONS[name], contact={"channel": "inbox"}))
        assert r.status_code == 201, r.text
        out[name] = r.json()
    return out


def vectors_of(store: PushStore, encoder: str) -> dict:
    return {p.profile_id: v for p, v in store.profiles_with_vectors(encoder)}


def by_name(people: dict[str, dict]) -> dict[str, str]:
    return {p["profile_id"]: name for name, p in people.items()}


def test_planned_rows_carry_the_score_and_go_out_best_first(tmp_path, policy_index):
    st = make_state(tmp_path, policy_index)
    with TestClient(create_app(state=st)) as api:
        people = subscribe_all(api)
        encoder = st.push_encoder()
        stored = vectors_of(st.push_store, encoder.name)
        assert sum(v is not None for v in stored.values()) == 2  # no description, no vector

        job = run_plan(api, [DOC])
        rows = [r for r in st.push_store.outbox_rows() if r["doc_id"] == DOC]  # in id order: delivery's
        want = {p.profile_id for p in st.push_store.profiles() if match(p, LABELS[DOC]) is not None}
        assert {r["profile_id"] for r in rows} == want and len(rows) == 3 == job["enqueued"]
        names = by_name(people)
        assert [names[r["profile_id"]] for r in rows] == ["loan", "far", "none"]
        assert rows[0]["score"] > rows[1]["score"] and rows[2]["score"] is None
        doc = st.snapshot().index.get_document(DOC)
        exact = encoder.encode_passages([document_text(doc)])[0] @ encoder.encode_queries([DESCRIPTIONS["loan"]])[0]
        assert rows[0]["score"] == pytest.approx(float(exact), abs=0.02)  # int8 on the description side

        assert api.post("/api/admin/push/deliver", headers=ADMIN, json={"limit": 1}).json()["sent"] == 1
        inbox = {n: api.get("/api/profiles/me/inbox", headers=bearer(p["token"])).json()["total"]
                 for n, p in people.items()}  # fmt: skip
        assert inbox == {"loan": 1, "far": 0, "none": 0}


def test_the_review_queue_samples_the_best_matching_first(tmp_path, policy_index):
    st = make_state(tmp_path, policy_index, push_review=True)
    with TestClient(create_app(state=st)) as api:
        people = subscribe_all(api)
        assert DOC in run_plan(api, [DOC])["held"]
        [item] = [i for i in api.get("/api/admin/push/review", headers=ADMIN).json()["items"] if i["doc_id"] == DOC]
        names = by_name(people)
        assert [names[p] for p in item["reach"]["sample"]] == ["loan", "far", "none"]


def test_vectors_persist_follow_edits_and_are_re_encoded_for_another_encoder(tmp_path, policy_index, monkeypatch):
    st = make_state(tmp_path, policy_index)
    with TestClient(create_app(state=st)) as api:
        people = subscribe_all(api)
        loaded = st.push_matcher()
        encoder = st.push_encoder()
        pid = people["far"]["profile_id"]
        before = vectors_of(st.push_store, encoder.name)[pid]
        edited = profile_body(description=DESCRIPTIONS["loan"], contact={"channel": "inbox"})
        assert api.put("/api/profiles/me", json=edited, headers=bearer(people["far"]["token"])).status_code == 200
        after = vectors_of(st.push_store, encoder.name)[pid]
        assert after is not None and after.data != before.data
        assert after == quantize(encoder.encode_queries([DESCRIPTIONS["loan"]])[0], encoder.name)
        assert st.push_matcher() is loaded  # edited in place
        query = encoder.encode_passages([document_text(st.snapshot().index.get_document(DOC))])[0]
        in_place = loaded.match(LABELS[DOC], query)

    calls = []
    real = state_module.encode_descriptions
    monkeypatch.setattr(state_module, "encode_descriptions", lambda enc, texts: calls.append(texts) or real(enc, texts))
    restarted = make_state(tmp_path, policy_index)  # the same push database: vectors come from it
    fresh = restarted.push_matcher().match(LABELS[DOC], query)
    assert calls == []
    assert dict(zip(fresh.profile_ids, fresh.scores, strict=True)) == pytest.approx(
        dict(zip(in_place.profile_ids, in_place.scores, strict=True))
    )
    with restarted.push_store.engine.begin() as db:  # as if another encoder had made them
        db.execute(text("UPDATE profiles SET description_encoder = 'another-model'"))
    again = make_state(tmp_path, policy_index).push_matcher()
    assert [len(t) for t in calls] == [2]  # the two descriptions, once
    assert {v.encoder for _, v in restarted.push_store.profiles_with_vectors(encoder.name) if v} == {encoder.name}
    reloaded = again.match(LABELS[DOC], query)
    assert dict(zip(reloaded.profile_ids, reloaded.scores, strict=True)) == pytest.approx(
        dict(zip(fresh.profile_ids, fresh.scores, strict=True))
    )


def test_ranked_entries_are_exactly_the_reference_pairs_best_first_on_generated_profiles():
    rng = random.Random(5)
    profiles = gen_profiles(rng, 2000, BASE_PLACES)
    vectors = np.random.default_rng(5).standard_normal((len(profiles), 32)).astype(np.float32)
    vectors[::7] = 0  # profiles without a description
    m = ColumnarMatcher.build(profiles, vectors)
    doc = Document(id="t", title="政策", text="正文")
    reached = 0
    for i in range(150):
        t = gen_targeting(rng, i, BASE_PLACES)
        query = np.random.default_rng(i).standard_normal(32).astype(np.float32)
        entries = match_entries(doc, "v1", t, m, query=query)
        want = {p.profile_id: match(p, t) for p in profiles if match(p, t) is not None}
        assert {e.profile_id for e in entries} == set(want) and len(entries) == len(want)
        assert all(e.reason == want[e.profile_id].text + "。" for e in entries)
        scores = [e.score for e in entries]
        scored = [s for s in scores if s is not None]
        assert scored == sorted(scored, reverse=True) and scores == scored + [None] * (len(scores) - len(scored))
        assert {e.profile_id for e in entries if e.score is None} == {
            profiles[j].profile_id for j in range(0, len(profiles), 7) if profiles[j].profile_id in want
        }
        reached += bool(want)
    assert reached > 40


def test_bulk_rows_are_written_in_rank_order_on_both_backends(db_url):
    """More rows than PostgreSQL's COPY threshold: ids still follow the scores (delivery claims by id)."""
    store = PushStore(url=db_url)
    n = 1500
    with store.engine.begin() as db:
        db.execute(
            text(
                "INSERT INTO profiles (id, token_hash, kind, province, city, district, groups, topics, channel,"
                " created, updated) VALUES (:id, :h, 'resident', '山东省', '济南市', '历城区', '[]', '[\"就业创业\"]',"
                " 'inbox', 0, 0)"
            ),
            [{"id": f"p-{i:05d}", "h": f"h{i}"} for i in range(n)],
        )
    vectors = np.random.default_rng(3).standard_normal((n, 16)).astype(np.float32)
    matcher = ColumnarMatcher.build(store.profiles(), vectors)
    doc = Document(id=DOC, title="历城区创业担保贷款实施细则", text="创业担保贷款")
    query = np.random.default_rng(4).standard_normal(16).astype(np.float32)
    result = plan(store, [doc], lambda d: LABELS[DOC], matcher=matcher, doc_vector=lambda d: query)
    rows = store.outbox_rows()
    assert result.enqueued == n == len(rows)
    scores = [r["score"] for r in rows]
    assert scores == sorted(scores, reverse=True)
    store.close()
