"""Personal data never leaves a request unmasked, end to end: a real `python -m qa_service` process,
every route of its OpenAPI schema, then stdout, stderr, every file it wrote and every generator call.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from qa_service.privacy import fold
from tests.qa_service.servers import GeneratorStub
from tests.qa_service.service_process import ADMIN_KEY, ServiceProcess
from tests.qa_service.test_privacy import EMAILS, PERSONAL, _mode

RESIDENT = PERSONAL + EMAILS  # typed by residents: may rest nowhere, in no format
CONTACT = "139-0000-1111"  # registered for SMS pushes: may rest in push.sqlite3 only
FAQ_ANSWER = "请致电 0531-86661111 或发邮件至 faq-office@licheng.gov.cn 咨询。"  # published: qa.sqlite3 only
DOC_TEXT = "咨询电话：0531-86662222，邮箱 doc-office@licheng.gov.cn。"  # published: the index and push outbox
# Fields whose text is published to every resident as written: an office's phone number in an FAQ
# answer is the answer. They are kept verbatim (not masked) and get published text in the sweep.
PUBLISHED_FIELDS = {"/api/admin/faq": ("answer",), "/api/admin/faq/{faq_id}": ("answer",)}
CHUNKS = ["、".join(RESIDENT[i : i + 4]) for i in range(0, len(RESIDENT), 4)]


def needles(value: str) -> set[bytes]:
    """The byte strings that would betray `value`: as sent, folded, JSON-escaped, its bare digits."""
    folded = fold(value)
    out = {value.encode(), folded.encode(), folded.lower().encode(), json.dumps(value).strip('"').encode()}
    bare = re.sub(r"[^0-9]", "", folded)
    if len(bare) >= 7 and "@" not in folded:
        out.add(bare.encode())
    return out


@pytest.fixture
def generator() -> Iterator[GeneratorStub]:
    with GeneratorStub("无法改写").running() as stub:
        yield stub


def _resolve(schema: dict, components: dict) -> dict:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"]
            return _resolve(options[0], components) if options else {}
    return schema


def fill(schema: dict, components: dict, value: str, required_only: bool = False) -> object:
    """An instance of `schema` with `value` in every string (or only the required ones), numbers 1, true."""
    schema = _resolve(schema, components)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        if not props:
            return {"note": value}  # free-form objects (ingested documents): an unknown field
        wanted = set(schema.get("required", [])) if required_only else set(props)
        return {k: fill(sub, components, value, required_only) for k, sub in props.items() if k in wanted}
    if kind == "array":
        return [fill(schema.get("items") or {}, components, value, required_only)]
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return True
    return value


def _variants(op: dict) -> list[tuple[set[str] | None, bool]]:
    """Which parameters carry the value (None: all) and whether the body is required fields only."""
    optional = {p["name"] for p in op.get("parameters", []) if not p.get("required") and p["in"] == "query"}
    required = {p["name"] for p in op.get("parameters", []) if p.get("required")}
    has_body = "requestBody" in op
    variants: list[tuple[set[str] | None, bool]] = [(None, False)]
    if optional or has_body:
        variants.append((required, True))  # the least a valid request needs: gets furthest into the app
    variants += [(required | {name}, True) for name in sorted(optional)]
    return variants


def sweep(svc: ServiceProcess, headers: dict[str, str]) -> list[tuple[str, str, int]]:
    """Every operation of the OpenAPI schema, personal data in all its parameters and body strings,
    in only the required ones, and in each optional parameter alone (so new routes are covered too)."""
    spec = svc.http.get("/openapi.json").json()
    components = spec.get("components", {}).get("schemas", {})
    ops = [(method.upper(), path, op) for path, item in spec["paths"].items() for method, op in item.items()]
    ops.sort(key=lambda o: o[0] == "DELETE")  # deletions last, so the other routes find their objects
    seen = []
    for method, path, op in ops:
        carries = bool(op.get("parameters") or op.get("requestBody"))
        for chunk in CHUNKS if carries else CHUNKS[:1]:
            for names, required_only in _variants(op):
                url, params = path, {}
                for p in op.get("parameters", []):
                    if names is not None and p["name"] not in names:
                        continue
                    v = fill(p.get("schema") or {}, components, chunk)
                    if p["in"] == "path":
                        url = url.replace("{" + p["name"] + "}", quote(str(v), safe=""))
                    elif p["in"] == "query":
                        params[p["name"]] = v
                body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
                kw = {"json": fill(body, components, chunk, required_only)} if body else {}
                for name in PUBLISHED_FIELDS.get(path, ()) if body else ():
                    if name in kw["json"]:
                        kw["json"][name] = FAQ_ANSWER
                r = svc.http.request(method, url, params=params, headers=headers, **kw)
                assert r.status_code < 500, (method, path, r.text[:300])
                seen.append((method, path, r.status_code))
    return seen


def resident_journeys(svc: ServiceProcess) -> dict[str, str]:
    """The happy paths, so personal data gets as far as it can: answers, feedback, profiles, FAQ, ingest."""
    api, admin = svc.http, {"X-API-Key": ADMIN_KEY}
    for chunk in CHUNKS:
        q = f"创业担保贷款怎么申请？我的联系方式{chunk}"
        d = api.post("/api/ask", json={"question": q}).json()
        follow = api.post(
            "/api/ask", json={"question": f"那需要什么材料？{chunk}", "conversation_id": d["conversation_id"]}
        )
        assert follow.status_code == 200
        for r in (
            api.post("/api/ask/stream", json={"question": q, "conversation_id": "13312345678"}),
            api.get("/api/ask/stream", params={"question": q, "conversation_id": d["conversation_id"]}),
            api.get("/api/search", params={"q": f"居住证 {chunk}"}),
            api.get("/api/search", params={"q": chunk, "issuer": chunk, "region": chunk, "topic": chunk}),
            api.post("/api/feedback", json={"answer_id": d["answer_id"], "useful": False, "comment": f"请回电{chunk}"}),
        ):
            assert r.status_code == 200, r.text[:300]
    faq = api.post(
        "/api/admin/faq", headers=admin, json={"question": f"居住证怎么续签{CHUNKS[0]}", "answer": FAQ_ANSWER}
    )
    assert faq.status_code == 201, faq.text
    r = api.put(f"/api/admin/faq/{faq.json()['id']}", headers=admin, json={"question": CHUNKS[1], "answer": FAQ_ANSWER})
    assert r.status_code == 200, r.text
    body = {
        "kind": "resident",
        "province": "山东省",
        "city": "济南市",
        "district": "历城区",
        "groups": ["高校毕业生"],
        "topics": ["就业创业"],
        "description": f"应届毕业生，{CHUNKS[2]}",
        "contact": {"channel": "sms", "address": CONTACT},
    }
    created = api.post("/api/profiles", json=body)
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    r = api.put("/api/profiles/me", headers=bearer, json={**body, "description": f"退役军人，{CHUNKS[3]}"})
    assert r.status_code == 200, r.text
    doc = {
        "id": "lc-bmfw-2025",
        "title": "历城区高校毕业生就业服务指南",
        "issuer": "济南市历城区人力资源和社会保障局",
        "publish_date": "2025-01-01",
        "status": "current",
        "region": "历城区",
        "text": f"第一条 离校两年内未就业高校毕业生可以申请就业见习补贴。{DOC_TEXT}",
    }
    assert api.post("/api/admin/documents", headers=admin, json={"documents": [doc]}).status_code == 200
    assert api.get("/api/admin/push/jobs", params={"wait": 60}, headers=admin).json()["active"] == 0  # planned
    assert api.post("/api/admin/push/deliver", headers=admin, json={"limit": 1000}).status_code == 200
    export = api.get("/api/admin/feedback/export", headers=admin)
    assert export.status_code == 200 and len(export.text.splitlines()) == len(CHUNKS)
    for path in ("/", "/widget", "/console", "/subscribe", "/healthz", f"/api/nope/{RESIDENT[0]}"):
        api.get(path, params={"phone": RESIDENT[0], "mail": EMAILS[0]})
    return {"export": export.text, **admin, **bearer}


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _allowed(name: str) -> set[str]:
    """Which published or registered values may rest in the file called `name` (relative to data_dir)."""
    if name.startswith("push.sqlite3"):
        return {CONTACT, DOC_TEXT}
    if name.startswith("qa.sqlite3"):
        return {FAQ_ANSWER}
    if name.startswith("index/") or name == "ingest.jsonl":
        return {DOC_TEXT}
    return set()


def test_no_personal_data_reaches_logs_files_or_the_generator(tmp_path, generator):
    data_dir = tmp_path / "data"
    svc = ServiceProcess(
        data_dir, QA_GENERATOR_BASE_URL=generator.url, QA_GENERATOR_MODEL="test-model", QA_GENERATOR_TIMEOUT_S="5"
    )
    assert svc.wait_ready(), svc.stderr[-3000:]
    try:
        journeys = resident_journeys(svc)
        headers = {k: v for k, v in journeys.items() if k != "export"}
        seen = sweep(svc, headers)
        running = _files(data_dir)  # with the -wal and -shm files of the open databases
    finally:
        svc.stop()
    stopped = _files(data_dir)
    assert {p for _, p, _ in seen} >= {"/api/ask", "/api/ask/stream", "/api/search", "/api/feedback", "/api/profiles"}
    assert generator.bodies, "the generator was called, so outbound calls were checked"

    places = {
        "stdout": bytes(svc.out["stdout"]),
        "stderr": bytes(svc.out["stderr"]),
        "feedback export": journeys["export"].encode(),
        **{f"generator request {i}": b for i, b in enumerate(generator.bodies)},
        **{f"{name} (running)": b for name, b in running.items()},
        **{name: b for name, b in stopped.items()},
    }
    leaks = []
    for where, data in places.items():
        allowed = _allowed(where.removesuffix(" (running)"))
        for value in [*RESIDENT, CONTACT, FAQ_ANSWER, DOC_TEXT]:
            if value in allowed or (value in (FAQ_ANSWER, DOC_TEXT) and where.startswith("generator")):
                continue
            probe = [value] if value not in (FAQ_ANSWER, DOC_TEXT) else re.findall(r"[\w.-]+@[\w.]+|0531-\d+", value)
            hits = [n for v in probe for n in needles(v) if n in data]
            if hits:
                leaks.append(f"{where}: {value} as {hits[0]!r}")
    assert not leaks, f"{len(leaks)} leaks:\n" + "\n".join(leaks)

    databases = [p for p in data_dir.rglob("*.sqlite3*")]
    assert {p.name for p in databases} >= {"qa.sqlite3", "push.sqlite3"}
    assert {p.name: _mode(p) for p in databases} == {p.name: 0o600 for p in databases}
    log = places["stderr"].decode() + places["stdout"].decode()
    assert re.search(r"GET /api/ask/stream 200 \d+ms", log) and re.search(r"GET /api/search 200 \d+ms", log)
    requests = [line for line in log.splitlines() if re.search(r"\b(GET|POST|PUT|DELETE) /", line)]
    assert len(requests) >= len(seen) and [line for line in requests if "?" in line] == []
