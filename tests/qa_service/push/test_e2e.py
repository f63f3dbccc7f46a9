"""Push end to end on real data: push-dev's documents ingested through the admin API, its 48
profiles subscribed through the public API, the real labeller, one delivery, every inbox read.

The pairs that reach inboxes are scored against push-dev's gold matches; every reason must be
Chinese and every evidence quote must be a verbatim part of the policy it came from.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from corpus.loaders import load_jsonl
from qa_service.app import build_state, create_app
from tests.qa_service.conftest import ADMIN_KEY, make_settings

ADMIN = {"X-API-Key": ADMIN_KEY}


@pytest.fixture(scope="module")
def push_dev(shared_dir):
    root = shared_dir / "data" / "eval" / "push-dev"
    wanted = {json.loads(line)["_id"] for line in (root / "doc_labels.jsonl").open(encoding="utf-8")}
    docs = [d for d in load_jsonl(shared_dir / "data" / "corpus" / "policies.jsonl") if d.id in wanted]
    assert len(docs) == len(wanted), "every labelled document is in policies.jsonl"
    profiles = [json.loads(line) for line in (root / "profiles.jsonl").open(encoding="utf-8")]
    rows = (root / "matches.tsv").read_text(encoding="utf-8").splitlines()[1:]
    gold = {tuple(r.split("\t")[:2]) for r in rows}
    return docs, profiles, gold


def test_push_dev_through_the_api_reaches_the_right_inboxes_with_verbatim_reasons(tmp_path, policy_index, push_dev):
    docs, profiles, gold = push_dev
    assert len(docs) >= 276  # push-dev grew from 116; the test follows the data
    state = build_state(make_settings(tmp_path), index=policy_index)
    with TestClient(create_app(state=state)) as api:
        tokens = {}
        for p in profiles:
            body = {k: p[k] for k in ("kind", "province", "city", "district", "street", "groups", "topics")}
            r = api.post("/api/profiles", json={**body, "description": p["description"]})
            assert r.status_code == 201, r.text
            tokens[p["profile_id"]] = r.json()["token"]

        for start in range(0, len(docs), 8):  # in batches: one request body is bounded
            batch = [d.to_dict() for d in docs[start : start + 8]]
            r = api.post("/api/admin/documents", headers=ADMIN, json={"documents": batch})
            assert r.status_code == 200, r.text[:300]
        state.push_jobs.run_pending()  # the planning jobs the ingests queued, here and now
        planned = api.get("/api/admin/push/status", headers=ADMIN).json()
        sent = api.post("/api/admin/push/deliver", headers=ADMIN, json={"limit": 5000}).json()
        assert planned["unplanned_documents"] == 0 and planned["profiles"] == 48
        assert sent["sent"] == planned["outbox"]["pending"] > 0
        # A second delivery finds nothing left: nothing is sent twice.
        assert api.post("/api/admin/push/deliver", headers=ADMIN).json()["sent"] == 0

        texts = {d.id: d.text for d in docs}
        got = set()
        for pid, token in tokens.items():
            items = api.get("/api/profiles/me/inbox", headers={"Authorization": f"Bearer {token}"}).json()["items"]
            for item in items:
                got.add((pid, item["doc_id"]))
                assert item["reason"].startswith("适用于"), item["reason"]
                assert all(q in texts[item["doc_id"]] for q in item["evidence"])

    tp = len(got & gold)
    precision, recall = tp / len(got), tp / len(gold)
    # python -m eval.push on the labels alone measured 0.564 / 0.674 on the 276 documents
    assert precision >= 0.54, (precision, recall)
    assert recall >= 0.65, (precision, recall)
