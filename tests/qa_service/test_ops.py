"""Operators' view: Prometheus metrics behind the admin key, and API docs that work with no network."""

from __future__ import annotations

import re

from prometheus_client.parser import text_string_to_metric_families

from tests.qa_service.conftest import ADMIN_KEY

ADMIN = {"X-API-Key": ADMIN_KEY}


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def test_metrics_count_routes_by_template_answers_by_source_and_report_the_index(client, state):
    for q in ("居住证办理需要多长时间？", "居住证需要什么材料", "今天天气怎么样"):
        assert client.post("/api/ask", json={"question": q}).status_code == 200
    assert client.get("/api/documents/jn-jzz-2019").status_code == 200
    assert client.get("/api/documents/no-such-doc").status_code == 404
    r = client.get("/metrics", headers=ADMIN)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    got = _samples(r.text)
    ask = ("qa_http_requests_total", (("method", "POST"), ("route", "/api/ask"), ("status", "200")))
    assert got[ask] == 3
    # Ids never become labels: both document requests count under the route template.
    doc = ("/api/documents/{doc_id:path}",)
    assert got[("qa_http_requests_total", (("method", "GET"), ("route", doc[0]), ("status", "200")))] == 1
    assert got[("qa_http_requests_total", (("method", "GET"), ("route", doc[0]), ("status", "404")))] == 1
    assert "no-such-doc" not in r.text and "居住证" not in r.text
    answers = {k[1]: v for k, v in got.items() if k[0] == "qa_answers_total"}
    assert answers[(("abstained", "false"), ("source", "faq"))] == 1  # the FAQ entry of the fixture
    assert sum(answers.values()) == 3
    assert answers[(("abstained", "true"), ("source", "extractive"))] == 1  # the weather question
    assert got[("qa_index_documents", ())] == len(state.snapshot().index.documents)
    assert got[("qa_index_passages", ())] == len(state.snapshot().index)
    assert got[("qa_index_age_seconds", ())] >= 0
    assert ("qa_push_outbox_messages", (("status", "pending"),)) in got
    latency = [k for k in got if k[0] == "qa_http_request_duration_seconds_count"]
    assert latency


def test_metrics_need_the_admin_key(client):
    r = client.get("/metrics")
    assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHORIZED"
    assert client.get("/metrics", headers={"Authorization": f"Bearer {ADMIN_KEY}"}).status_code == 200


def test_docs_and_redoc_load_their_assets_from_the_service_itself(client):
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html) + re.findall(r"url: ?'([^']+)'", html)
        assert urls, html[:500]
        assert all(u.startswith("/") and not u.startswith("//") for u in urls), urls  # nothing from a CDN
        for u in urls:
            assert client.get(u).status_code == 200, u
