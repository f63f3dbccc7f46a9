"""The push store's tables as SQLAlchemy Core metadata (the newest revision of the migrations).

The migrations in `qa_service/push/migrations/versions` create and change the tables; this
module describes the result, for the store's bulk inserts and for the test that checks the two
agree. Timestamps are Unix seconds (float); JSON lists are stored as text.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()
# SQLite: INTEGER PRIMARY KEY is the rowid (AUTOINCREMENT: ids never reused); PostgreSQL: bigint identity.
RowId = BigInteger().with_variant(Integer(), "sqlite")

profiles = Table(
    "profiles",
    metadata,
    Column("id", Text, primary_key=True),
    Column("token_hash", Text, nullable=False, unique=True),
    Column("kind", Text, nullable=False),
    Column("province", Text),
    Column("city", Text),
    Column("district", Text),
    Column("street", Text),
    Column("groups", Text, nullable=False),
    Column("topics", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("channel", Text, nullable=False),  # the form's original single contact channel
    Column("address", Text),
    Column("channels", Text, nullable=False, server_default='["inbox"]'),
    Column("email", Text),
    Column("phone", Text),
    Column("webhook_url", Text),
    Column("webhook_secret", Text),
    Column("delivery_mode", Text, nullable=False, server_default="immediate"),
    Column("quiet_start", Integer),
    Column("quiet_end", Integer),
    Column("daily_cap", Integer),
    Column("description_vector", LargeBinary),  # int8, the encoder's dimension (0003)
    Column("description_scale", Float),
    Column("description_encoder", Text),  # a vector of another encoder is stale
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
)

push_documents = Table(
    "push_documents",
    metadata,
    Column("doc_id", Text, nullable=False),
    Column("version", Text, nullable=False),
    Column("revised", Integer, nullable=False, server_default="0"),
    Column("noted", Float, nullable=False),
    Column("planned", Float),
    Column("enqueued", Integer),
    PrimaryKeyConstraint("doc_id", "version"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("key", Text, nullable=False, unique=True),
    Column("profile_id", Text, ForeignKey("profiles.id", ondelete="CASCADE"), nullable=False),
    Column("doc_id", Text, nullable=False),
    Column("doc_version", Text, nullable=False),
    Column("channel", Text, nullable=False, server_default="inbox"),
    Column("revised", Integer, nullable=False),
    Column("title", Text, nullable=False),
    Column("doc_number", Text),
    Column("link", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("evidence", Text, nullable=False),
    Column("status", Text, nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text),
    Column("not_before", Float, nullable=False, server_default="0"),
    Column("lease_owner", Text),
    Column("lease_until", Float),
    Column("digest", Text),  # the daily digest key the row was put into (delivery_mode digest)
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
    Column("sent", Float),
    Column("score", Float),  # document vector · description vector (None: no description)
    CheckConstraint("status IN ('held', 'pending', 'sent', 'dead')", name="outbox_status"),
    UniqueConstraint("profile_id", "doc_id", "doc_version", "channel", name="outbox_once"),
    sqlite_autoincrement=True,
)
Index("outbox_by_status", outbox.c.status, outbox.c.id)
Index("outbox_by_doc", outbox.c.doc_id, outbox.c.doc_version, outbox.c.channel, outbox.c.status)
Index("outbox_by_digest", outbox.c.digest)
Index("outbox_sent_by_profile", outbox.c.profile_id, outbox.c.channel, outbox.c.sent)

inbox = Table(
    "inbox",
    metadata,
    Column("key", Text, primary_key=True),
    Column("profile_id", Text, ForeignKey("profiles.id", ondelete="CASCADE"), nullable=False),
    Column("doc_id", Text, nullable=False),
    Column("doc_version", Text, nullable=False),
    Column("revised", Integer, nullable=False),
    Column("title", Text, nullable=False),
    Column("doc_number", Text),
    Column("link", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("evidence", Text, nullable=False),
    Column("delivered", Float, nullable=False),
    Column("read_at", Float),
)
Index("inbox_by_profile", inbox.c.profile_id, inbox.c.delivered)

push_reviews = Table(
    "push_reviews",
    metadata,
    Column("doc_id", Text, nullable=False),
    Column("version", Text, nullable=False),
    Column("labels", Text, nullable=False),
    Column("reasons", Text, nullable=False),
    Column("reach", Integer, nullable=False),
    Column("status", Text, nullable=False, server_default="waiting"),
    Column("corrected", Integer, nullable=False, server_default="0"),
    Column("created", Float, nullable=False),
    Column("decided", Float),
    PrimaryKeyConstraint("doc_id", "version"),
    CheckConstraint("status IN ('waiting', 'approved', 'dropped', 'superseded')", name="push_reviews_status"),
)
Index("push_reviews_by_status", push_reviews.c.status, push_reviews.c.created)

push_label_corrections = Table(
    "push_label_corrections",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("doc_id", Text, nullable=False),
    Column("version", Text, nullable=False),
    Column("labels", Text, nullable=False),
    Column("corrected", Float, nullable=False),
    sqlite_autoincrement=True,
)

push_jobs = Table(
    "push_jobs",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("source", Text, nullable=False),
    Column("doc_ids", Text),  # JSON list; NULL: every document noted and not planned yet
    Column("status", Text, nullable=False, server_default="queued"),
    Column("documents", Integer, nullable=False, server_default="0"),
    Column("progress", Integer, nullable=False, server_default="0"),
    Column("enqueued", Integer, nullable=False, server_default="0"),
    Column("outcome", Text, nullable=False, server_default="{}"),
    Column("error", Text),
    Column("runs", Integer, nullable=False, server_default="0"),
    Column("lease_owner", Text),
    Column("lease_until", Float),
    Column("created", Float, nullable=False),
    Column("started", Float),
    Column("finished", Float),
    Column("updated", Float, nullable=False),
    CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name="push_jobs_status"),
    sqlite_autoincrement=True,
)
Index("push_jobs_by_status", push_jobs.c.status, push_jobs.c.id)
