"""A new or changed subscriber also receives the policies in force that already concern them.

Over the small library in conftest with the hand-made labels of `library.py`: a resident of
历城区 who is 外来务工与新市民 and follows 就业创业 matches 创业担保贷款 (topic, no groups) and the
2019 居住证 rules (group); the superseded 2015 rules and the 老年人 allowance do not reach them.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from corpus.push.targeting import Targeting
from qa_service.app import build_state, create_app
from tests.qa_service.conftest import make_settings
from tests.qa_service.push.library import ADMIN, LABELS, bearer, profile_body, run_plan


@pytest.fixture
def calls():
    return []


@pytest.fixture
def api(tmp_path, policy_index, calls):
    def counting_labeller(doc):
        calls.append(doc.id)
        return LABELS.get(doc.id) or Targeting(doc.id)  # the rest of the library is for nobody

    st = build_state(make_settings(tmp_path, push_backfill=True), index=policy_index)
    st.push_labeller = counting_labeller
    with TestClient(create_app(state=st)) as c:
        c.state_for_test = st
        yield c


def _inbox(api, token):
    return api.get("/api/profiles/me/inbox", headers=bearer(token)).json()["items"]


def test_a_new_subscriber_gets_the_policies_in_force_that_match(api):
    created = api.post("/api/profiles", json=profile_body()).json()
    assert api.post("/api/admin/push/deliver", headers=ADMIN).json()["sent"] == 2
    items = {i["doc_id"]: i for i in _inbox(api, created["token"])}
    assert set(items) == {"lc-cydb-2023", "jn-jzz-2019"}  # not the superseded jn-jzz-2015, not 老年人
    assert items["lc-cydb-2023"]["reason"] == "适用于济南市历城区，您关注就业创业。"
    assert items["jn-jzz-2019"]["evidence"] == ["保障流动人口合法权益"]


def test_each_document_is_labelled_once_however_many_subscribe(api, calls):
    for _ in range(3):
        api.post("/api/profiles", json=profile_body())
    assert sorted(calls) == sorted(set(calls)) and "jn-jzz-2019" in calls
    assert "jn-jzz-2015" not in calls  # not in force: not even labelled


def test_changing_interests_adds_only_what_is_new_and_never_twice(api):
    token = api.post("/api/profiles", json=profile_body(groups=["外来务工与新市民"], topics=[])).json()["token"]
    api.post("/api/admin/push/deliver", headers=ADMIN)
    assert [i["doc_id"] for i in _inbox(api, token)] == ["jn-jzz-2019"]
    # Same interests again, then wider ones: only 创业担保贷款 is new.
    api.put("/api/profiles/me", headers=bearer(token), json=profile_body(groups=["外来务工与新市民"], topics=[]))
    api.put("/api/profiles/me", headers=bearer(token), json=profile_body(topics=["就业创业"]))
    assert api.post("/api/admin/push/deliver", headers=ADMIN).json()["sent"] == 1
    # A later plan of the same versions adds nothing for this subscriber.
    assert run_plan(api, ["lc-cydb-2023", "jn-jzz-2019"])["enqueued"] == 0
    assert sorted(i["doc_id"] for i in _inbox(api, token)) == ["jn-jzz-2019", "lc-cydb-2023"]


def test_a_broken_labeller_does_not_fail_the_subscription(api):
    def broken(doc):
        raise RuntimeError("labeller crashed")

    api.state_for_test.push_labeller = broken
    r = api.post("/api/profiles", json=profile_body())
    assert r.status_code == 201 and r.json()["token"]
    assert api.post("/api/admin/push/deliver", headers=ADMIN).json()["sent"] == 0
