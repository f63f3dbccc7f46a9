"""The push store's tables, and the one migration (the outbox's `held` status, added for review).

Created with CREATE … IF NOT EXISTS at every start, like the Q&A store; see `qa_service.push.store`.
"""

from __future__ import annotations

import sqlite3

from qa_service.push.review_store import REVIEW_SCHEMA

_SCHEMA = """
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
CREATE TABLE IF NOT EXISTS {outbox} (
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
CREATE INDEX IF NOT EXISTS inbox_by_profile ON inbox (profile_id, delivered);
"""
_OUTBOX_TABLE = _SCHEMA[_SCHEMA.index("CREATE TABLE IF NOT EXISTS {outbox}") : _SCHEMA.index("CREATE INDEX")]


def _migrate_outbox(db: sqlite3.Connection) -> None:
    """Stores made before the review step have an outbox whose CHECK lacks `held`: rebuild it, rows kept."""
    row = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'outbox'").fetchone()
    if row is None or "'held'" in row[0]:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute(_OUTBOX_TABLE.format(outbox="outbox_v2"))
        db.execute("INSERT INTO outbox_v2 SELECT * FROM outbox")
        db.execute("DROP TABLE outbox")
        db.execute("ALTER TABLE outbox_v2 RENAME TO outbox")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def create_schema(db: sqlite3.Connection) -> None:
    """Bring a new or older push database to the current tables (the caller holds the store's lock)."""
    _migrate_outbox(db)
    db.executescript(_SCHEMA.format(outbox="outbox") + REVIEW_SCHEMA)
