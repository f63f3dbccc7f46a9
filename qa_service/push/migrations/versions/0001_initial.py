"""The push store as the hand-written schema left it (profiles, documents, outbox, inbox, review).

A database made by that schema has these tables and no `alembic_version`: each table is created
only when it is missing, so such a store is adopted as it is, rows kept, and carried forward by
the next revisions (which also cover the oldest stores, whose outbox predates `held`).

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _missing(name: str) -> bool:
    return not sa.inspect(op.get_bind()).has_table(name)


def upgrade() -> None:
    if _missing("profiles"):
        op.create_table(
            "profiles",
            sa.Column("id", sa.Text, primary_key=True),
            sa.Column("token_hash", sa.Text, nullable=False, unique=True),
            sa.Column("kind", sa.Text, nullable=False),
            sa.Column("province", sa.Text),
            sa.Column("city", sa.Text),
            sa.Column("district", sa.Text),
            sa.Column("street", sa.Text),
            sa.Column("groups", sa.Text, nullable=False),
            sa.Column("topics", sa.Text, nullable=False),
            sa.Column("description", sa.Text, nullable=False, server_default=""),
            sa.Column("channel", sa.Text, nullable=False),
            sa.Column("address", sa.Text),
            sa.Column("created", sa.Float, nullable=False),
            sa.Column("updated", sa.Float, nullable=False),
        )
    if _missing("push_documents"):
        op.create_table(
            "push_documents",
            sa.Column("doc_id", sa.Text, nullable=False),
            sa.Column("version", sa.Text, nullable=False),
            sa.Column("revised", sa.Integer, nullable=False, server_default="0"),
            sa.Column("noted", sa.Float, nullable=False),
            sa.Column("planned", sa.Float),
            sa.Column("enqueued", sa.Integer),
            sa.PrimaryKeyConstraint("doc_id", "version"),
        )
    if _missing("outbox"):
        op.create_table(
            "outbox",
            sa.Column("id", RowId, primary_key=True, autoincrement=True),
            sa.Column("key", sa.Text, nullable=False, unique=True),
            sa.Column("profile_id", sa.Text, sa.ForeignKey("profiles.id", ondelete="CASCADE"), nullable=False),
            sa.Column("doc_id", sa.Text, nullable=False),
            sa.Column("doc_version", sa.Text, nullable=False),
            sa.Column("revised", sa.Integer, nullable=False),
            sa.Column("title", sa.Text, nullable=False),
            sa.Column("doc_number", sa.Text),
            sa.Column("link", sa.Text, nullable=False),
            sa.Column("reason", sa.Text, nullable=False),
            sa.Column("evidence", sa.Text, nullable=False),
            sa.Column("status", sa.Text, nullable=False, server_default="pending"),
            sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
            sa.Column("last_error", sa.Text),
            sa.Column("not_before", sa.Float, nullable=False, server_default="0"),
            sa.Column("lease_owner", sa.Text),
            sa.Column("lease_until", sa.Float),
            sa.Column("created", sa.Float, nullable=False),
            sa.Column("updated", sa.Float, nullable=False),
            sa.Column("sent", sa.Float),
            sa.CheckConstraint("status IN ('held', 'pending', 'sent', 'failed')"),
            sa.UniqueConstraint("profile_id", "doc_id", "doc_version"),
            sqlite_autoincrement=True,
        )
        op.create_index("outbox_by_status", "outbox", ["status", "id"])
        op.create_index("outbox_by_doc", "outbox", ["doc_id", "doc_version", "status"])
    if _missing("inbox"):
        op.create_table(
            "inbox",
            sa.Column("key", sa.Text, primary_key=True),
            sa.Column("profile_id", sa.Text, sa.ForeignKey("profiles.id", ondelete="CASCADE"), nullable=False),
            sa.Column("doc_id", sa.Text, nullable=False),
            sa.Column("doc_version", sa.Text, nullable=False),
            sa.Column("revised", sa.Integer, nullable=False),
            sa.Column("title", sa.Text, nullable=False),
            sa.Column("doc_number", sa.Text),
            sa.Column("link", sa.Text, nullable=False),
            sa.Column("reason", sa.Text, nullable=False),
            sa.Column("evidence", sa.Text, nullable=False),
            sa.Column("delivered", sa.Float, nullable=False),
        )
        op.create_index("inbox_by_profile", "inbox", ["profile_id", "delivered"])
    if _missing("push_reviews"):
        op.create_table(
            "push_reviews",
            sa.Column("doc_id", sa.Text, nullable=False),
            sa.Column("version", sa.Text, nullable=False),
            sa.Column("labels", sa.Text, nullable=False),
            sa.Column("reasons", sa.Text, nullable=False),
            sa.Column("reach", sa.Integer, nullable=False),
            sa.Column("status", sa.Text, nullable=False, server_default="waiting"),
            sa.Column("corrected", sa.Integer, nullable=False, server_default="0"),
            sa.Column("created", sa.Float, nullable=False),
            sa.Column("decided", sa.Float),
            sa.PrimaryKeyConstraint("doc_id", "version"),
            sa.CheckConstraint(
                "status IN ('waiting', 'approved', 'dropped', 'superseded')", name="push_reviews_status"
            ),
        )
        op.create_index("push_reviews_by_status", "push_reviews", ["status", "created"])
    if _missing("push_label_corrections"):
        op.create_table(
            "push_label_corrections",
            sa.Column("id", RowId, primary_key=True, autoincrement=True),
            sa.Column("doc_id", sa.Text, nullable=False),
            sa.Column("version", sa.Text, nullable=False),
            sa.Column("labels", sa.Text, nullable=False),
            sa.Column("corrected", sa.Float, nullable=False),
            sqlite_autoincrement=True,
        )


def downgrade() -> None:
    for name in ("push_label_corrections", "push_reviews", "inbox", "outbox", "push_documents", "profiles"):
        op.drop_table(name)
