"""Hostile inputs to every endpoint: always a 4xx with the error envelope and a Chinese message, never 500."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest

from tests.qa_service.conftest import ADMIN_KEY

CJK = re.compile(r"[\u4e00-\u9fff]")
ADMIN = {"X-API-Key": ADMIN_KEY}
JSON = {"Content-Type": "application/json"}

HOSTILE_STRINGS = [
    "",
    "   ",
    "\n\t",
    "\x00",
    "居住证\x00材料",
    "a" * 100_000,
    "居" * 5_000,
    "'; DROP TABLE answers; --",
    "<script>alert(1)</script>",
    "\ud800",
    "abc\udfffdef",
]

# (method, path, json body builder) for every JSON endpoint; the hostile value goes in the text field.
BODY_ENDPOINTS = [
    ("POST", "/api/ask", lambda v: {"question": v}),
    ("POST", "/api/ask/stream", lambda v: {"question": v}),
    ("POST", "/api/feedback", lambda v: {"answer_id": v, "useful": True}),
    ("POST", "/api/admin/faq", lambda v: {"question": v, "answer": "答案"}),
    ("POST", "/api/admin/documents", lambda v: {"documents": [{"id": v, "title": "t", "text": "正文"}]}),
]
ALL_ENDPOINTS = [m_p for m_p in [(m, p) for m, p, _ in BODY_ENDPOINTS]] + [
    ("GET", "/api/search"),
    ("GET", "/api/documents/x"),
    ("GET", "/api/ask/stream"),
    ("PUT", "/api/admin/faq/1"),
    ("DELETE", "/api/admin/faq/1"),
    ("GET", "/api/admin/feedback/export"),
]


def assert_envelope(r, statuses=None):
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    if statuses:
        assert r.status_code in statuses, (r.status_code, r.text[:300])
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert re.fullmatch(r"[A-Z_]+", body["error"]["code"])
    assert CJK.search(body["error"]["message"]), body


def _send(client, method, path, **kw):
    headers = {**ADMIN, **kw.pop("headers", {})}
    return client.request(method, path, headers=headers, **kw)


@pytest.mark.parametrize("method,path,make", BODY_ENDPOINTS, ids=[p for _, p, _ in BODY_ENDPOINTS])
@pytest.mark.parametrize("value", HOSTILE_STRINGS, ids=range(len(HOSTILE_STRINGS)))
def test_hostile_strings_in_json_bodies(client, method, path, make, value):
    import json

    # ensure_ascii keeps lone surrogates as \\ud800 escapes: valid JSON text, invalid Unicode.
    r = _send(client, method, path, content=json.dumps(make(value)).encode(), headers=JSON)
    if r.status_code in (200, 201):
        # Only harmless text may succeed, and then as a normal answer (SQL/script strings are just text).
        assert value in ("'; DROP TABLE answers; --", "<script>alert(1)</script>"), (path, value, r.text[:200])
        if path == "/api/ask":
            assert "<script>" not in "".join(p["html"] for p in r.json()["passages"])
        return
    assert_envelope(r)


@pytest.mark.parametrize("method,path", [(m, p) for m, p, _ in BODY_ENDPOINTS])
@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{",
        b"not json",
        b"[]",
        b"null",
        b"123",
        b'{"question": 123}',
        b'{"question": null}',
        b'{"question": ["a"]}',
        b'{"question": {"x": 1}}',
        b'{"question": "ok", "unknown": 1}',
        b'{"question": "\xff\xfe\xfd"}',
        b"\xef\xbb\xbf{}",
        b'{"answer_id": 5, "useful": "maybe"}',
        b'{"question": "\\u0000"}',
    ],
    ids=range(15),
)
def test_malformed_and_wrongly_typed_bodies(client, method, path, raw):
    r = _send(client, method, path, content=raw, headers=JSON)
    assert_envelope(r)


@pytest.mark.parametrize("method,path", [(m, p) for m, p, _ in BODY_ENDPOINTS])
def test_ten_megabyte_body_is_rejected_before_parsing(client, method, path):
    r = _send(client, method, path, content=b'{"question": "' + b"a" * (10 * 1024 * 1024) + b'"}', headers=JSON)
    assert_envelope(r, {413})
    assert r.json()["error"]["code"] == "BODY_TOO_LARGE"


def test_admin_ingest_takes_a_long_regulation_while_public_bodies_stay_small(client):
    text = "第一条 为了规范居住证管理，制定本条例。" * 4000  # ~80k characters, ~240 KB as UTF-8 JSON
    doc = {"id": "long-reg", "title": "某市居住证管理条例", "text": text}
    r = client.post("/api/admin/documents", headers=ADMIN, json={"documents": [doc]})
    assert r.status_code == 200, r.text[:200]
    r = client.post("/api/ask", json={"question": "居住证" + "，" * 100_000})
    assert r.status_code == 413 and r.json()["error"]["code"] == "BODY_TOO_LARGE"


@pytest.mark.parametrize(
    "params",
    [
        {"q": "a" * 60_000},
        {"q": "居住证\x00"},
        {"q": "居住证", "page": "-1"},
        {"q": "居住证", "page": "0"},
        {"q": "居住证", "page": "99999999999999999999"},
        {"q": "居住证", "page": "abc"},
        {"q": "居住证", "page_size": "0"},
        {"q": "居住证", "page_size": "100000"},
        {"q": "居住证", "status": "valid"},
        {"q": "居住证", "status": "current,bogus"},
        {"q": "居住证", "sort": "random"},
        {"q": "居住证", "mode": "rrf"},
        {"q": "居住证", "date_from": "2020-13-45"},
        {"q": "居住证", "date_to": "yesterday"},
        {"q": "居住证", "date_from": "2024-01-01", "date_to": "2020-01-01"},
        {"q": "居住证", "issuer": "x" * 10_000},
        {"date_from": "2020/01/01"},
    ],
    ids=range(17),
)
def test_bad_search_parameters(client, params):
    # urlencode turns NUL into %00, which the HTTP client would refuse to send raw.
    assert_envelope(client.get("/api/search?" + urlencode(params)))


@pytest.mark.parametrize(
    "params",
    [
        {"q": "'; DROP TABLE answers; --"},
        {"q": "<script>alert(1)</script>"},
        {"q": "%00%ff"},
        {"q": "居住证", "issuer": "不存在的机关"},
        {"q": "？？？"},
        {"q": "居住证", "page": "200"},
    ],
)
def test_odd_but_valid_search_parameters_succeed(client, params):
    r = client.get("/api/search", params=params)
    assert r.status_code == 200
    assert all("<script>" not in x["html"] for x in r.json()["results"])


@pytest.mark.parametrize("doc_id", ["no-such-doc", "../../etc/passwd", "a" * 5000, "%00", "' OR 1=1 --", "文件"])
def test_bad_document_ids(client, doc_id):
    assert_envelope(client.get(f"/api/documents/{doc_id}"), {404, 422})


@pytest.mark.parametrize("method,path", ALL_ENDPOINTS)
def test_wrong_methods_and_unknown_paths(client, method, path):
    assert_envelope(_send(client, "PATCH", path), {404, 405})


def test_unknown_path_is_enveloped(client):
    assert_envelope(client.get("/api/nothing-here"), {404})


@pytest.mark.parametrize("faq_id", ["-1", "0", "abc", "99999999999999999999999", "1.5"])
def test_bad_faq_ids(client, faq_id):
    assert_envelope(_send(client, "PUT", f"/api/admin/faq/{faq_id}", json={"question": "问", "answer": "答"}))
    assert_envelope(_send(client, "DELETE", f"/api/admin/faq/{faq_id}"))


def test_bad_conversation_id_and_filters_on_ask(client):
    assert_envelope(client.post("/api/ask", json={"question": "居住证", "conversation_id": "../x"}))
    assert_envelope(client.post("/api/ask", json={"question": "居住证", "filters": {"status": ["nope"]}}))
    assert_envelope(client.post("/api/ask", json={"question": "居住证", "filters": {"date_from": "2020-02-30"}}))


@pytest.mark.parametrize(
    "doc",
    [
        {"id": "x"},
        {"id": "", "text": "正文"},
        {"id": "x", "text": ""},
        {"id": "x", "text": "正文", "status": "alive"},
        {"id": "x", "text": "正文", "topics": 5},
        {"id": "x", "text": "正文", "bogus_field": 1},
        {"id": "x", "text": 12},
        {"id": "x", "title": "\ud800", "text": "正文"},
    ],
    ids=range(8),
)
def test_bad_ingest_documents(client, doc):
    import json

    body = json.dumps({"documents": [doc]}).encode()
    assert_envelope(_send(client, "POST", "/api/admin/documents", content=body, headers=JSON))


def test_question_with_contact_details_is_masked_in_logs_and_store(client, state, caplog):
    caplog.set_level("INFO")
    d = client.post("/api/ask", json={"question": "我的电话13812345678，身份证370112199001011234，居住证怎么办"}).json()
    rec = state.store.get_answer(d["answer_id"])
    assert "13812345678" not in rec.question and "370112199001011234" not in rec.question
    assert "13812345678" not in caplog.text and "370112199001011234" not in caplog.text
