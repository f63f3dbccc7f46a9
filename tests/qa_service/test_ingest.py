"""Admin ingest and its log: a batch is accepted or refused whole, nothing mistyped is kept, a torn or
long log never stops a start, and what was acknowledged survives restarts."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient

from corpus.models import Document
from qa_service import loading
from qa_service.app import build_state, create_app
from qa_service.loading import append_ingest_log, ingest_log_path, open_index, read_ingest_log

from .conftest import ADMIN_KEY, make_settings

ADMIN = {"X-API-Key": ADMIN_KEY}
NEW = {
    "id": "lc-car",
    "title": "历城区汽车以旧换新补贴实施细则",
    "text": "报废旧车并购买新能源汽车的，给予补贴一万元。",
}


@pytest.fixture
def live(tmp_path):
    """The real app over the demo corpus (fake encoder), restartable on the same data directory."""
    settings = make_settings(tmp_path)
    opened: list[TestClient] = []

    def start() -> TestClient:
        for c in opened:
            c.__exit__(None, None, None)
        c = TestClient(create_app(settings=settings, state=build_state(settings)))
        c.__enter__()
        opened.append(c)
        return c

    yield settings, start
    for c in opened:
        c.__exit__(None, None, None)


def _ingest(client, *docs):
    # ensure_ascii keeps a lone surrogate as a \\ud800 escape: valid JSON text, invalid Unicode.
    body = json.dumps({"documents": list(docs)}).encode()
    return client.post("/api/admin/documents", headers={**ADMIN, "Content-Type": "application/json"}, content=body)


def _assert_chinese_422(r):
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "INVALID_REQUEST" and "第 " in err["message"], err


@pytest.mark.parametrize(
    "bad",
    [
        {"id": 12345, "title": "t", "text": "x"},
        {"id": "p1", "title": None, "text": "x"},
        {"id": "p1", "title": 7, "text": "x"},
        {"id": "p1", "title": "t", "text": "x", "doc_number": 5},
        {"id": "p1", "title": "t", "text": "x", "interprets": 5},
        {"id": "p1", "title": "t", "text": "x", "supersedes": ["a", "b"]},
        {"id": "p1", "title": "t", "text": "x", "supersedes": {"id": "a"}},
        {"id": "p1", "title": "t", "text": "居住证", "publish_date": 20250101, "issuer": 12345},
        {"id": "p1", "title": "t", "text": "x", "metadata": {"note": "\ud800"}},
    ],
)
def test_mistyped_documents_are_refused_with_a_chinese_message_and_not_logged(live, bad):
    settings, start = live
    client = start()
    r = _ingest(client, bad)
    _assert_chinese_422(r)
    assert not ingest_log_path(settings).exists() or not ingest_log_path(settings).read_bytes()


def test_a_batch_with_one_bad_document_is_refused_whole_and_stays_refused_after_restart(live):
    settings, start = live
    client = start()
    r = _ingest(client, NEW, {**NEW, "id": "lc-car-2", "publish_date": 20250101})
    _assert_chinese_422(r)
    assert "第 2 个" in r.json()["error"]["message"]
    assert client.get("/api/documents/lc-car").status_code == 404
    client = start()
    assert client.get("/api/documents/lc-car").status_code == 404


def test_a_batch_whose_log_write_fails_midway_leaves_no_trace(live, monkeypatch):
    settings, start = live
    client = start()
    assert _ingest(client, {**NEW, "id": "first"}).status_code == 200
    before = ingest_log_path(settings).read_bytes()

    def disk_full(_fd):  # the batch was written but cannot be made durable
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(loading.os, "fsync", disk_full)
    r = _ingest(client, {**NEW, "id": "b1"}, {**NEW, "id": "b2"})
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "STORAGE_UNAVAILABLE"
    assert ingest_log_path(settings).read_bytes() == before
    assert client.get("/api/documents/b1").status_code == 404


def test_mistyped_rows_already_in_an_old_log_are_skipped_and_public_routes_keep_working(live, caplog):
    settings, start = live
    # What the service before this fix wrote for `publish_date: 20250101, issuer: 12345`.
    bad = {"op": "upsert", "doc": {"id": "p1", "title": "t", "text": "居住证", "publish_date": 20250101, "issuer": 1}}
    good = {"op": "upsert", "doc": NEW}
    path = ingest_log_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(bad) + "\n" + json.dumps(good, ensure_ascii=False) + "\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        client = start()
    assert any(str(path) in r.getMessage() and "line 1" in r.getMessage() for r in caplog.records)
    assert client.get("/api/documents/lc-car").status_code == 200
    assert client.get("/api/documents/p1").status_code == 404
    for url in ("/api/search", "/api/search?q=居住证&issuer=历城", "/api/search?date_from=2020-01-01"):
        assert client.get(url).status_code == 200, (url, client.get(url).text)
    r = client.post("/api/ask", json={"question": "居住证怎么办", "filters": {"issuer": "历城"}})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    "tail",
    [
        "居住证".encode()[:-1],  # a SIGKILL inside a UTF-8 character
        b'{"op": "upsert", "doc": {"id": "x", "title": "',  # inside a JSON line
        b"\xff\xfe\x00garbage\x80",
        b"\x00" * 64,
    ],
)
def test_a_torn_log_tail_is_skipped_with_a_warning_naming_file_and_line(tmp_path, caplog, tail):
    settings = make_settings(tmp_path)
    append_ingest_log(settings, [{"op": "upsert", "doc": NEW}])
    append_ingest_log(settings, [{"op": "repeal", "id": "demo-001"}])
    path = ingest_log_path(settings)
    with path.open("ab") as f:
        f.write(tail)
    with caplog.at_level(logging.WARNING):
        index = open_index(settings)
    assert index.get_document("lc-car") is not None
    assert index.get_document("demo-001").status.value == "expired"
    assert any(str(path) in r.getMessage() and "line 3" in r.getMessage() for r in caplog.records), [
        r.getMessage() for r in caplog.records
    ]
    # The next append starts on a line of its own: the torn tail never swallows it.
    append_ingest_log(settings, [{"op": "upsert", "doc": {**NEW, "id": "after"}}])
    assert open_index(settings).get_document("after") is not None


def test_a_batch_cut_at_any_byte_is_replayed_whole_or_not_at_all(tmp_path):
    # What a crash (or power loss) can leave: the log cut anywhere inside the second batch.
    settings = make_settings(tmp_path)
    path = ingest_log_path(settings)
    append_ingest_log(settings, [{"op": "upsert", "doc": {**NEW, "id": "a1"}}])
    first = path.read_bytes()
    append_ingest_log(settings, [{"op": "upsert", "doc": {**NEW, "id": f"b{i}"}} for i in range(3)])
    whole = path.read_bytes()
    for cut in range(len(first), len(whole) + 1, 7):
        path.write_bytes(whole[:cut])
        got = {op["doc"].id for op in read_ingest_log(path)}
        assert got in ({"a1"}, {"a1", "b0", "b1", "b2"}), (cut, got)


def test_the_log_is_compacted_to_one_operation_per_document(tmp_path):
    settings = make_settings(tmp_path)
    doc = Document.from_dict(NEW)
    for n in range(30):  # an operator re-ingesting the same policy, and repealing one, many times
        append_ingest_log(settings, [{"op": "upsert", "doc": {**doc.to_dict(), "text": f"第{n}版：补贴一万元。"}}])
        append_ingest_log(settings, [{"op": "repeal", "id": "demo-002"}])
    append_ingest_log(settings, [{"op": "upsert", "doc": {**NEW, "id": "other"}}])
    first = open_index(settings)
    ops = list(read_ingest_log(ingest_log_path(settings)))
    assert len(ops) == 3, ops  # lc-car (last text), the repeal of demo-002, other
    again = open_index(settings)
    for d in ("lc-car", "other", "demo-002"):
        assert again.get_document(d) == first.get_document(d)
    assert "第29版" in again.get_document("lc-car").text
    assert again.get_document("demo-002").status.value == "expired"


def test_a_start_after_ingest_loads_the_checkpoint_instead_of_replaying(live, monkeypatch):
    settings, start = live
    client = start()
    assert _ingest(client, NEW).status_code == 200
    assert client.delete("/api/admin/documents/demo-002", headers=ADMIN).status_code == 200

    def no_replay(*_a, **_k):
        raise AssertionError("the ingest log was replayed although the checkpoint is current")

    monkeypatch.setattr(loading, "replay_ingest_log", no_replay)
    client = start()
    assert client.get("/api/documents/lc-car").status_code == 200
    assert client.get("/api/documents/demo-002").json()["status"] == "expired"
    hits = client.get("/api/search", params={"q": "报废旧车"}).json()["results"]
    assert hits and hits[0]["doc_id"] == "lc-car"  # searchable, not only listed


def test_a_stale_or_damaged_checkpoint_is_ignored_and_the_log_replayed(live):
    settings, start = live
    client = start()
    assert _ingest(client, NEW).status_code == 200
    # The log moved on without the checkpoint (a crash between the two writes).
    append_ingest_log(settings, [{"op": "upsert", "doc": {**NEW, "id": "later"}}])
    client = start()
    assert client.get("/api/documents/later").status_code == 200
    # The checkpoint's documents torn in half: detected, the log replayed instead.
    docs = settings.resolved_index_dir / "live" / "documents.jsonl"
    docs.write_bytes(docs.read_bytes()[: len(docs.read_bytes()) // 2])
    client = start()
    for doc_id in ("lc-car", "later", "demo-001", "demo-022"):
        assert client.get(f"/api/documents/{doc_id}").status_code == 200, doc_id
