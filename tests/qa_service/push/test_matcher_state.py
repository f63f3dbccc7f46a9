"""The service's columnar matcher follows subscribe / edit / unsubscribe without reloading, and plans with it.

After each change made through the API, the matcher loaded before it gives, for every labelled
document of the library, exactly the profiles the reference `match()` gives over the store.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from corpus.push.matching import match
from corpus.push.targeting import Targeting
from qa_service.app import build_state, create_app
from tests.qa_service.conftest import make_settings
from tests.qa_service.push.library import LABELS, bearer, profile_body, run_plan


@pytest.fixture
def api(tmp_path, policy_index):
    st = build_state(make_settings(tmp_path, push_backfill=False), index=policy_index)
    st.push_labeller = lambda doc: LABELS.get(doc.id) or Targeting(doc.id)
    with TestClient(create_app(state=st)) as c:
        c.state_for_test = st
        yield c


def _agrees(st) -> int:
    people = st.push_store.profiles()
    pairs = 0
    for t in LABELS.values():
        want = {p.profile_id for p in people if match(p, t) is not None}
        assert set(st.push_matcher().match(t).profile_ids.tolist()) == want, t.doc_id
        pairs += len(want)
    return pairs


def test_the_matcher_follows_profile_changes_and_plans_the_reference_rows(api):
    st = api.state_for_test
    old = api.post("/api/profiles", json=profile_body(groups=["老年人"], topics=[])).json()
    matcher = st.push_matcher()  # loaded now; every later change must reach it in place
    tokens = [api.post("/api/profiles", json=profile_body()).json()["token"] for _ in range(2)]
    assert _agrees(st) > 0
    edited = profile_body(groups=[], topics=["就业创业"], district="历下区", street=None)
    assert api.put("/api/profiles/me", json=edited, headers=bearer(tokens[0])).status_code == 200
    _agrees(st)
    assert api.delete("/api/profiles/me", headers=bearer(old["token"])).status_code == 200
    _agrees(st)
    assert st.push_matcher() is matcher and len(matcher) == 2
    planned = run_plan(api, sorted(LABELS))
    rows = {(r["profile_id"], r["doc_id"]) for r in st.push_store.outbox_rows()}
    want = {(p.profile_id, t.doc_id) for p in st.push_store.profiles() for t in LABELS.values() if match(p, t)}
    assert rows == want and planned["enqueued"] > 0 and len(want) > 0
