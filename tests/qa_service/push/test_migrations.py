"""The push store's migrations: a fresh database reaches the newest revision on both backends and matches
`qa_service.push.schema`; a SQLite store made by the old hand-written schema is adopted, rows kept.
"""

from __future__ import annotations

import sqlite3
import stat

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from qa_service.push import db as dbm
from qa_service.push.planner import plan
from qa_service.push.records import Contact, ContactChannel, OutboxEntry, outbox_key
from qa_service.push.schema import metadata
from qa_service.push.store import PushStore
from tests.conftest import tiny_docs
from tests.qa_service.push import tiny

# The tables exactly as the hand-written schema created them (qa_service/push/schema.py and
# review_store.py before the SQLAlchemy store), frozen here as an old store on disk has them.
OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS profiles (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    province TEXT,
    city TEXT,
    district TEXT,
    street TEXT,
    groups TEXT NOT NULL,
    topics TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    channel TEXT NOT NULL,
    address TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS push_documents (
    doc_id TEXT NOT NULL,
    version TEXT NOT NULL,
    revised INTEGER NOT NULL DEFAULT 0,
    noted REAL NOT NULL,
    planned REAL,
    enqueued INTEGER,
    PRIMARY KEY (doc_id, version)
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    profile_id TEXT NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
    doc_id TEXT NOT NULL,
    doc_version TEXT NOT NULL,
    revised INTEGER NOT NULL,
    title TEXT NOT NULL,
    doc_number TEXT,
    link TEXT NOT NULL,
    reason TEXT NOT NULL,
    evidence TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('held', 'pending', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    not_before REAL NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until REAL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    sent REAL,
    UNIQUE (profile_id, doc_id, doc_version)
);
CREATE INDEX IF NOT EXISTS outbox_by_status ON outbox (status, id);
CREATE INDEX IF NOT EXISTS outbox_by_doc ON outbox (doc_id, doc_version, status);
CREATE TABLE IF NOT EXISTS inbox (
    key TEXT PRIMARY KEY,
    profile_id TEXT NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
    doc_id TEXT NOT NULL,
    doc_version TEXT NOT NULL,
    revised INTEGER NOT NULL,
    title TEXT NOT NULL,
    doc_number TEXT,
    link TEXT NOT NULL,
    reason TEXT NOT NULL,
    evidence TEXT NOT NULL,
    delivered REAL NOT NULL
);

CREATE TABLE IF NOT EXISTS push_reviews (
    doc_id TEXT NOT NULL,
    version TEXT NOT NULL,
    labels TEXT NOT NULL,
    reasons TEXT NOT NULL,
    reach INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'waiting'
        CHECK (status IN ('waiting', 'approved', 'dropped', 'superseded')),
    corrected INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    decided REAL,
    PRIMARY KEY (doc_id, version)
);
CREATE INDEX IF NOT EXISTS push_reviews_by_status ON push_reviews (status, created);
CREATE TABLE IF NOT EXISTS push_label_corrections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id TEXT NOT NULL,
    version TEXT NOT NULL,
    labels TEXT NOT NULL,
    corrected REAL NOT NULL
);
"""
PHONE = "13812345678"


def old_store(path, *, with_review: bool = True) -> None:
    """A store as the old code left it: an SMS subscriber, an inbox one, rows in every old status."""
    schema = OLD_SCHEMA if with_review else OLD_SCHEMA.split("CREATE TABLE IF NOT EXISTS push_reviews")[0]
    if not with_review:  # the oldest stores: no review step, so no `held` in the outbox's CHECK
        schema = schema.replace("'held', ", "")
    db = sqlite3.connect(path)
    db.executescript(schema)
    db.executemany(
        "INSERT INTO profiles (id, token_hash, kind, province, city, district, street, groups, topics, description,"
        " channel, address, created, updated) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [
            ("p-sms", "h1", "resident", "山东省", "济南市", "历城区", None, '["高校毕业生"]', '["就业创业"]', "", "sms",
             PHONE, 1.0, 1.0),
            ("p-inbox", "h2", "resident", "山东省", "济南市", "历城区", None, '["学生及家长"]', '["教育"]', "", "inbox",
             None, 1.0, 1.0),
        ],
    )  # fmt: skip
    rows = [
        (outbox_key("p-sms", "emp", "v1"), "p-sms", "emp", "v1", "sent", 1, 5.0),
        (outbox_key("p-inbox", "edu", "v1"), "p-inbox", "edu", "v1", "failed", 5, None),
        (outbox_key("p-sms", "edu", "v1"), "p-sms", "edu", "v1", "pending", 0, None),
    ]
    db.executemany(
        "INSERT INTO outbox (key, profile_id, doc_id, doc_version, revised, title, link, reason, evidence, status,"
        " attempts, created, updated, sent) VALUES (?,?,?,?,0,'标题','/api/documents/x','理由','[]',?,?,1,1,?)",
        rows,
    )
    db.execute(
        "INSERT INTO inbox (key, profile_id, doc_id, doc_version, revised, title, link, reason, evidence, delivered)"
        " VALUES (?, 'p-sms', 'emp', 'v1', 0, '标题', '/api/documents/emp', '理由', '[]', 5.0)",
        (rows[0][0],),
    )
    db.commit()
    db.close()


@pytest.mark.parametrize("with_review", [True, False], ids=["review-era", "pre-review"])
def test_an_old_hand_written_store_is_adopted_with_its_rows(tmp_path, with_review):
    path = tmp_path / "push.sqlite3"
    old_store(path, with_review=with_review)
    store = PushStore(path)
    assert dbm.current_revision(store.engine) == "0003"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    sms = store.get_profile("p-sms")
    assert sms is not None and sms.contact == Contact(ContactChannel.SMS, PHONE)
    assert sms.contact.channels == ("inbox", "sms") and sms.contact.phone == PHONE
    assert store.get_profile("p-inbox").contact.channels == ("inbox",)

    rows = {(r["profile_id"], r["doc_id"]): r for r in store.outbox_rows()}
    assert len(rows) == 3 and {r["channel"] for r in rows.values()} == {"inbox"}
    assert rows["p-inbox", "edu"]["status"] == "dead" and rows["p-inbox", "edu"]["attempts"] == 5  # was `failed`
    assert rows["p-sms", "emp"]["status"] == "sent" and rows["p-sms", "emp"]["sent"] == 5.0
    assert store.status_counts() == {"held": 0, "pending": 1, "sent": 1, "failed": 0, "dead": 1}
    total, [item] = store.inbox("p-sms")
    assert total == 1 and item.read_at is None and item.key == outbox_key("p-sms", "emp", "v1")
    assert store.reviews(status=None) == []
    # The old keys are the inbox rows' keys: re-enqueueing an old row adds only its new SMS row.
    old_max = max(r["id"] for r in rows.values())
    again = OutboxEntry("p-sms", "emp", "v1", "标题", "/api/documents/emp", "理由")
    assert again.key == rows["p-sms", "emp"]["key"] and store.enqueue("emp", "v1", [again]) == 1
    assert [r["channel"] for r in store.outbox_rows() if r["id"] > old_max] == ["sms"]
    store.create_profile(tiny.PEOPLE[0], Contact())
    plan(store, tiny_docs(), tiny.labeller)  # new rows continue the old ids
    assert min(r["id"] for r in store.outbox_rows() if r["profile_id"] == tiny.PEOPLE[0].profile_id) > old_max
    n = len(store.outbox_rows())
    store.close()

    again = PushStore(path)  # opening again migrates nothing and changes nothing
    assert len(again.outbox_rows()) == n and dbm.current_revision(again.engine) == "0003"
    again.close()


def test_a_fresh_database_matches_the_schema_module(db_url):
    store = PushStore(url=db_url)
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
        names = set(inspect(conn).get_table_names())
    store.close()
    assert names == set(metadata.tables) | {"alembic_version"}
    assert diff == []


def test_migrating_twice_and_concurrent_openers_are_harmless(db_url):
    first, second = PushStore(url=db_url), PushStore(url=db_url)
    dbm.upgrade(second.engine)  # a third run: nothing to do
    assert dbm.current_revision(first.engine) == dbm.current_revision(second.engine) == "0003"
    first.close()
    second.close()


def test_a_0002_store_gains_jobs_vectors_and_scores_keeping_its_rows_and_can_go_back(db_url):
    from alembic import command
    from alembic.config import Config

    engine = dbm.create(db_url)
    dbm.upgrade(engine, "0002")
    with engine.begin() as db:
        db.execute(
            text(
                "INSERT INTO profiles (id, token_hash, kind, groups, topics, description, channel, created, updated)"
                " VALUES ('p-a', 'h', 'resident', '[]', '[\"就业创业\"]', '想申请创业担保贷款', 'inbox', 1, 1)"
            )
        )
        db.execute(
            text(
                "INSERT INTO outbox (key, profile_id, doc_id, doc_version, channel, revised, title, link, reason,"
                " evidence, status, created, updated) VALUES ('k1', 'p-a', 'emp', 'v1', 'inbox', 0, '标题', '/x',"
                " '理由', '[]', 'pending', 1, 1)"
            )
        )
    engine.dispose()
    store = PushStore(url=db_url)
    assert dbm.current_revision(store.engine) == "0003"
    [(profile, vector)] = store.profiles_with_vectors("any-encoder")
    assert profile.description == "想申请创业担保贷款" and vector is None  # encoded when the matcher loads
    [row] = store.outbox_rows()
    assert row["key"] == "k1" and row["score"] is None and row["status"] == "pending"
    assert store.get_job(store.create_job("admin")).status == "queued"

    cfg = Config()
    cfg.set_main_option("script_location", str(dbm.MIGRATIONS))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0002")
    with store.engine.connect() as conn:
        insp = inspect(conn)
        assert "push_jobs" not in insp.get_table_names()
        assert "score" not in {c["name"] for c in insp.get_columns("outbox")}
        assert "description_vector" not in {c["name"] for c in insp.get_columns("profiles")}
        assert conn.execute(text("SELECT key FROM outbox")).scalars().all() == ["k1"]
    store.close()
