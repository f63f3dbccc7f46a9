"""The admin ingest log is replayed at start-up, so ingested and repealed documents survive a restart."""

from __future__ import annotations

from corpus.models import Document, Status
from index.config import IndexConfig
from index.engine import PolicyIndex
from qa_service.loading import append_ingest_log, replay_ingest_log

from .conftest import DOCS, fake_encoder, make_settings


def test_replay_applies_upserts_and_repeals_in_order(tmp_path):
    settings = make_settings(tmp_path)
    index = PolicyIndex.build(DOCS, IndexConfig(), fake_encoder())
    new = Document(
        id="lc-car", title="历城区汽车以旧换新补贴实施细则", text="报废旧车并购买新能源汽车的，给予以旧换新补贴一万元。"
    )
    append_ingest_log(
        settings,
        [
            {"op": "upsert", "doc": new.to_dict()},
            {"op": "repeal", "id": "jn-jzz-2019"},
            {"op": "repeal", "id": "lc-car"},
            {"op": "upsert", "doc": {**new.to_dict(), "text": "购买新能源汽车给予以旧换新补贴八千元。"}},
        ],
    )
    with (settings.data_dir / "ingest.jsonl").open("a", encoding="utf-8") as f:
        f.write("{not json\n")  # a torn last line from a crash is skipped, not fatal
    assert replay_ingest_log(settings, index) == 4
    assert index.get_document("jn-jzz-2019").status is Status.EXPIRED
    car = index.get_document("lc-car")
    # The last operation wins: re-upserted after the repeal, with the new text.
    assert car.status is not Status.EXPIRED and "八千元" in car.text
    assert index.search("以旧换新补贴", top_k=1)[0].doc_id == "lc-car"
