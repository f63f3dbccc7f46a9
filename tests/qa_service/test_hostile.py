"""Hostile inputs to every route in the OpenAPI schema: never a 5xx, always the Chinese error envelope.

The cases are generated from `app.openapi()`, so a new route is covered without editing this file.
Per operation: every path and query parameter and every body field ($refs resolved, nested
objects and list items included) gets empty and blank text, wrong types, 60-100 KB values, NUL,
lone surrogates (JSON `\\ud800` escapes), SQL-like and markup strings, path traversal and 10,000
nested lists; the whole body gets malformed JSON, 100 KB and 10 MB bodies, GBK and UTF-16 with and
without a charset, and a wrong content type; the credentials get garbage. Requests carry the
admin key and a subscriber's token (made through POST /api/profiles). A 4xx must be
`{"error": {"code", "message"}}` with a stable code and a Chinese-only message; a 2xx is
allowed unless the input can only be an error (NUL, lone surrogates, broken JSON, 10 MB).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlencode

import pytest

from corpus.push.targeting import Jurisdiction, JurisdictionLevel, Targeting
from corpus.push.taxonomy import Audience
from qa_service.app import create_app
from qa_service.ratelimit import RateLimiter
from qa_service.settings import Settings
from tests.qa_service.conftest import ADMIN_KEY

CJK = re.compile(r"[\u4e00-\u9fff]")
ENGLISH = re.compile(r"[A-Za-z]{2,}[,.:;'\"]?(?: [A-Za-z]{2,}[,.:;'\"]?){2,}")  # three English words in a row
ADMIN = {"X-API-Key": ADMIN_KEY}
JSON = {"Content-Type": "application/json"}
SQL = "'; DROP TABLE answers; --"
SCRIPT = "<script>alert(1)</script>"
DEEP = "\x01deep\x01"  # replaced by 10,000 nested lists in the JSON text
DEPTH = 10_000

# (label, value, only an error is acceptable)
TEXT_VALUES: list[tuple[str, str, bool]] = [
    ("empty", "", False),
    ("blank", "   ", False),
    ("newline-tab", "\n\t", False),
    ("nul", "\x00", True),
    ("inner-nul", "居住证\x00材料", True),
    ("sql", SQL, False),
    ("markup", SCRIPT, False),
    ("traversal", "../../etc/passwd", False),
    ("encoded-traversal", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", False),
    ("long-chinese", "居" * 5_000, False),
]
JSON_ONLY: list[tuple[str, Any, bool]] = [
    ("surrogate", "\ud800", True),
    ("inner-surrogate", "abc\udfffdef", True),
    ("100kb", "a" * 100_000, False),
    ("number", 123, False),
    ("float", 1.5, False),
    ("negative", -1, False),
    ("huge-int", 10**30, False),
    ("bool", True, False),
    ("empty-list", [], False),
    ("list", ["x"], False),
    ("object", {"x": 1}, False),
    ("null", None, False),
    ("word", "abc", False),
    ("deep", DEEP, True),
]
URL_ONLY: list[tuple[str, str, bool]] = [
    ("60kb", "a" * 60_000, False),  # httpx refuses URLs over 64 KB
    ("word", "abc", False),
    ("negative", "-1", False),
    ("zero", "0", False),
    ("float", "1.5", False),
    ("inf", "1e309", False),
    ("huge-int", "9" * 30, False),
    ("bad-utf8", "%ED%A0%80%FF", False),  # the server sees U+FFFD: harmless text
]
# Values at known names so a base request gets past the first check and hostile fields reach theirs.
GOOD: dict[str, Any] = {
    "question": "居住证怎么办理",
    "answer": "自受理之日起十五日内制作发放居住证。",
    "kind": "resident",
    "groups": ["高校毕业生"],
    "channel": "inbox",
    "useful": True,
    "answer_id": "0" * 32,
    "doc_ids": ["jn-jzz-2019"],
    "documents": [{"id": "hostile-doc", "title": "测试文件", "text": "第一条 测试正文。"}],
}

LICHENG = Jurisdiction(JurisdictionLevel.DISTRICT, "山东省", "济南市", ("历城区",))
SPEC = create_app(Settings(encoder="fake", admin_api_key=ADMIN_KEY)).openapi()
OPERATIONS = [(m.upper(), p) for p, ops in SPEC["paths"].items() for m in ops]


@dataclass
class Case:
    label: str
    url: str
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    must_fail: bool = False


# -- schema walking ------------------------------------------------------------------------------
def resolve(schema: dict) -> dict:
    while "$ref" in schema:
        schema = SPEC["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    for key in ("anyOf", "oneOf", "allOf"):
        options = [s for s in schema.get(key, []) if s.get("type") != "null"]
        if options:
            return resolve(options[0])
    return schema


def example(schema: dict, name: str = "") -> Any:
    if name in GOOD:
        return GOOD[name]
    s = resolve(schema)
    kind = s.get("type")
    if kind == "object" or "properties" in s:
        required = set(s.get("required", ()))
        return {k: example(v, k) for k, v in s.get("properties", {}).items() if k in required or k in GOOD}
    if "default" in s and s["default"] is not None:
        return s["default"]
    return {"integer": max(1, s.get("minimum", 1)), "number": 1.0, "boolean": True, "array": []}.get(kind, "居住证")


def body_fields(schema: dict, prefix: tuple = ()) -> list[tuple]:
    """Paths to every field, `0` standing for "an item of this list"."""
    out = []
    for name, sub in resolve(schema).get("properties", {}).items():
        path = (*prefix, name)
        out.append(path)
        out += body_fields(sub, path)
        items = resolve(sub).get("items")
        if items:
            out.append((*path, 0))
            out += body_fields(items, (*path, 0))
    return out


def put(node: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    key, rest = path[0], path[1:]
    if key == 0:
        return [put(None, rest, value)]
    node = dict(node) if isinstance(node, dict) else {}
    node[key] = put(node.get(key), rest, value)
    return node


def dump(body: Any) -> bytes:
    # ensure_ascii keeps lone surrogates as \ud800 escapes: valid JSON text, invalid Unicode.
    text = json.dumps(body)
    return text.replace(json.dumps(DEEP), "[" * DEPTH + "]" * DEPTH).encode()


# -- cases ---------------------------------------------------------------------------------------
def cases_for(method: str, path: str) -> list[Case]:
    op = SPEC["paths"][path][method.lower()]
    params = op.get("parameters", [])
    path_args = {p["name"]: quote(str(example(p["schema"])), safe="") for p in params if p["in"] == "path"}
    query = {p["name"]: str(example(p["schema"], p["name"])) for p in params if p["in"] == "query" and p["required"]}
    body_schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    base = example(body_schema) if body_schema else None

    def url(args: dict[str, str] = path_args, q: dict[str, str] = query) -> str:
        u = path
        for k, v in args.items():
            u = u.replace("{" + k + "}", v)
        return u + ("?" + "&".join(f"{k}={v}" for k, v in q.items()) if q else "")

    def enc(v: str) -> str:
        return v if v.startswith("%") else quote(v.encode("utf-8", "surrogatepass"), safe="")

    base_body = dump(base) if body_schema else None
    out = [Case("base", url(), *_b(base_body))]
    for p in params:
        for label, value, fails in TEXT_VALUES + URL_ONLY:
            if p["in"] == "path" and value:
                args = {**path_args, p["name"]: enc(value)}
                out.append(Case(f"path {p['name']}={label}", url(args), *_b(base_body), must_fail=fails))
            elif p["in"] == "query":
                q = {**{k: quote(v) for k, v in query.items()}, p["name"]: enc(value)}
                out.append(Case(f"query {p['name']}={label}", url(path_args, q), *_b(base_body), must_fail=fails))
        if p["in"] == "path":
            out.append(Case(f"path {p['name']}=raw-traversal", url({**path_args, p["name"]: "../../etc/passwd"})))
        if p["in"] == "query":
            q = "&".join(urlencode({p["name"]: v}) for v in ("a", "b", "\x00"))
            out.append(Case(f"query {p['name']} repeated", url() + ("&" if query else "?") + q, *_b(base_body)))
    if body_schema:
        for fpath in body_fields(body_schema):
            for label, value, fails in TEXT_VALUES + JSON_ONLY:
                out.append(Case(f"body {'.'.join(map(str, fpath))}={label}", url(), dump(put(base, fpath, value)),
                                dict(JSON), fails))  # fmt: skip
        out += whole_body_cases(url(), base)
    for label, headers in (
        ("no credentials", {"X-API-Key": "", "Authorization": ""}),
        ("wrong key", {"X-API-Key": "wrong"}),
        ("wrong bearer", {"X-API-Key": "", "Authorization": "Bearer ../../etc/passwd"}),
        ("long bearer", {"X-API-Key": "", "Authorization": "Bearer " + "x" * 8000}),
        ("basic auth", {"X-API-Key": "", "Authorization": "Basic YWRtaW46YWRtaW4="}),
    ):
        out.append(Case(label, url(), base_body, {**(JSON if base_body else {}), **headers}))
    return out


def _b(body: bytes | None) -> tuple[bytes | None, dict[str, str]]:
    return body, dict(JSON) if body else {}


def whole_body_cases(url: str, base: Any) -> list[Case]:
    text = json.dumps(base, ensure_ascii=False)
    raw: list[tuple[str, bytes, dict[str, str], bool]] = [
        ("empty body", b"", JSON, False),
        ("blank body", b"  \n ", JSON, True),
        ("truncated", text[:-1].encode(), JSON, True),
        ("not json", b"not json", JSON, True),
        ("array", b"[]", JSON, False),
        ("null", b"null", JSON, False),
        ("number", b"123", JSON, False),
        ("string", b'"text"', JSON, False),
        ("utf-8 bom", b"\xef\xbb\xbf" + text.encode(), JSON, False),
        ("unknown field", json.dumps({**base, "unknown": 1} if isinstance(base, dict) else 1).encode(), JSON, False),
        ("100kb padding", text.encode() + b" " * 100_000, JSON, False),
        ("10mb", json.dumps({"x": "a" * (10 * 1024 * 1024)}).encode(), JSON, True),
        ("deep lists", b"[" * DEPTH + b"]" * DEPTH, JSON, True),
        ("deep objects", b'{"a":' * DEPTH + b"1" + b"}" * DEPTH, JSON, True),
        ("raw invalid utf-8", b'{"question": "\xff\xfe\xfd"}', JSON, True),
        ("text/plain", text.encode(), {"Content-Type": "text/plain"}, False),
        ("form", b"question=abc", {"Content-Type": "application/x-www-form-urlencoded"}, False),
        ("no content type", text.encode(), {"Content-Type": ""}, False),
    ]
    for codec in ("gbk", "utf-16", "utf-16-le"):
        encoded = text.encode(codec)
        raw.append((codec, encoded, JSON, False))
        raw.append((f"{codec} declared", encoded, {"Content-Type": f"application/json; charset={codec}"}, False))
    return [Case(label, url, body, headers, fails) for label, body, headers, fails in raw]


# -- checks --------------------------------------------------------------------------------------
def problem(case: Case, r) -> str | None:
    """What is wrong with the answer to `case`, or None."""
    where = f"{case.label}: {r.status_code} {r.text[:160]!r}"
    if r.status_code >= 500:
        return where
    if r.status_code < 300:
        return f"{where} (accepted input that can only be an error)" if case.must_fail else None
    try:
        body = r.json()
    except ValueError:
        return f"{where} (not JSON)"
    if not (isinstance(body, dict) and set(body) == {"error"} and set(body["error"]) == {"code", "message"}):
        return f"{where} (not the envelope)"
    code, message = body["error"]["code"], body["error"]["message"]
    sent = unquote(case.url).encode("utf-8", "surrogatepass") + (case.body or b"")
    english = [m for m in ENGLISH.findall(message) if m.encode() not in sent]  # echoed input is fine
    if not re.fullmatch(r"[A-Z_]+", code) or not CJK.search(message) or english:
        return f"{where} (code or message not stable Chinese)"
    return None


def assert_envelope(r, statuses=None):
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    if statuses:
        assert r.status_code in statuses, (r.status_code, r.text[:300])
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert re.fullmatch(r"[A-Z_]+", body["error"]["code"])
    assert CJK.search(body["error"]["message"]) and not ENGLISH.search(body["error"]["message"]), body


@pytest.fixture
def api(client, state):
    # Thousands of requests from one client: lift both rate limits (test_http_hardening tests them).
    state.limiter = RateLimiter(per_minute=10**6, burst=10**6)
    client.app.state.admin_limiter = RateLimiter(per_minute=10**6, burst=10**6)
    state.push_labeller = lambda doc: Targeting(doc.id, (Audience.RESIDENT,), LICHENG, (), {}, ("就业创业",))
    return client


def subscriber_token(client) -> str:
    r = client.post("/api/profiles", json={"kind": "resident", "groups": ["高校毕业生"]})
    assert r.status_code == 201, r.text
    return r.json()["token"]


@pytest.mark.parametrize("method,path", OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_hostile_inputs_to_every_operation(api, method, path):
    token = subscriber_token(api)
    failures = []
    for case in cases_for(method, path):
        headers = {**ADMIN, "Authorization": f"Bearer {token}", **case.headers}
        r = api.request(method, case.url, content=case.body, headers={k: v for k, v in headers.items() if v})
        if (found := problem(case, r)) is not None:
            failures.append(found)
        if method == "DELETE" and r.status_code < 300:
            token = subscriber_token(api)  # e.g. the profile was erased: the next case needs a live one
    assert not failures, f"{len(failures)} bad answers:\n" + "\n".join(failures[:30])


def test_every_operation_has_cases():
    assert {("POST", "/api/ask"), ("POST", "/api/profiles"), ("POST", "/api/admin/push/plan")} <= set(OPERATIONS)
    assert len(cases_for("PUT", "/api/profiles/me")) > 300  # every field of the profile and its contact


@pytest.mark.parametrize("path", list(SPEC["paths"]))
def test_methods_a_route_lacks_are_405_with_the_envelope(api, path):
    url = re.sub(r"\{[^}]+\}", "x", path)
    for method in sorted({"GET", "POST", "PUT", "DELETE", "PATCH"} - {m.upper() for m in SPEC["paths"][path]}):
        r = api.request(method, url, headers=ADMIN)
        assert_envelope(r, {404, 405})


def test_unknown_path_is_enveloped(client):
    assert_envelope(client.get("/api/nothing-here"), {404})


# -- specific cases the generator cannot know ------------------------------------------------------
def test_markup_in_a_question_comes_back_escaped(client):
    r = client.post("/api/ask", json={"question": "居住证 " + SCRIPT})
    assert r.status_code == 200
    assert "<script>" not in "".join(p["html"] for p in r.json()["passages"])


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
        {"q": "居住证", "page": "0"},
        {"q": "居住证", "page_size": "100000"},
        {"q": "居住证", "status": "current,bogus"},
        {"q": "居住证", "sort": "random"},
        {"q": "居住证", "mode": "rrf"},
        {"q": "居住证", "date_from": "2020-13-45"},
        {"q": "居住证", "date_to": "yesterday"},
        {"q": "居住证", "date_from": "2024-01-01", "date_to": "2020-01-01"},
        {"q": "居住证", "issuer": "x" * 10_000},
        {"date_from": "2020/01/01"},
    ],
    ids=range(10),
)
def test_bad_search_parameters(client, params):
    assert_envelope(client.get("/api/search?" + urlencode(params)))


@pytest.mark.parametrize(
    "params",
    [
        {"q": SQL},
        {"q": SCRIPT},
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
    body = json.dumps({"documents": [doc]}).encode()
    assert_envelope(client.post("/api/admin/documents", content=body, headers={**ADMIN, **JSON}))


def test_question_with_contact_details_is_masked_in_logs_and_store(client, state, caplog):
    caplog.set_level("INFO")
    d = client.post("/api/ask", json={"question": "我的电话13812345678，身份证370112199001011234，居住证怎么办"}).json()
    rec = state.store.get_answer(d["answer_id"])
    assert "13812345678" not in rec.question and "370112199001011234" not in rec.question
    assert "13812345678" not in caplog.text and "370112199001011234" not in caplog.text
