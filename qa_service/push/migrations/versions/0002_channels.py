"""Channels and residents' preferences: per-subscription channels, addresses, digest mode, quiet hours
and daily cap on `profiles`; one outbox row per channel with a `dead` (dead-letter) status and the
digest key; read receipts on the inbox.

The outbox is rebuilt (its CHECK and UNIQUE change, which SQLite cannot ALTER): rows are copied as
the inbox channel's (the only one that delivered before), `failed` rows become `dead`.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_OLD_COLUMNS = (
    "id, key, profile_id, doc_id, doc_version, revised, title, doc_number, link, reason, evidence, status,"
    " attempts, last_error, not_before, lease_owner, lease_until, created, updated, sent"
)


def _new_outbox(name: str) -> None:
    op.create_table(
        name,
        sa.Column("id", RowId, primary_key=True, autoincrement=True),
        sa.Column("key", sa.Text, nullable=False, unique=True),
        sa.Column("profile_id", sa.Text, sa.ForeignKey("profiles.id", ondelete="CASCADE"), nullable=False),
        sa.Column("doc_id", sa.Text, nullable=False),
        sa.Column("doc_version", sa.Text, nullable=False),
        sa.Column("channel", sa.Text, nullable=False, server_default="inbox"),
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
        sa.Column("digest", sa.Text),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("updated", sa.Float, nullable=False),
        sa.Column("sent", sa.Float),
        sa.CheckConstraint("status IN ('held', 'pending', 'sent', 'dead')", name="outbox_status"),
        sa.UniqueConstraint("profile_id", "doc_id", "doc_version", "channel", name="outbox_once"),
        sqlite_autoincrement=True,
    )


def upgrade() -> None:
    with op.batch_alter_table("profiles", recreate="never") as t:
        t.add_column(sa.Column("channels", sa.Text, nullable=False, server_default='["inbox"]'))
        t.add_column(sa.Column("email", sa.Text))
        t.add_column(sa.Column("phone", sa.Text))
        t.add_column(sa.Column("webhook_url", sa.Text))
        t.add_column(sa.Column("webhook_secret", sa.Text))
        t.add_column(sa.Column("delivery_mode", sa.Text, nullable=False, server_default="immediate"))
        t.add_column(sa.Column("quiet_start", sa.Integer))
        t.add_column(sa.Column("quiet_end", sa.Integer))
        t.add_column(sa.Column("daily_cap", sa.Integer))
    op.execute("UPDATE profiles SET channels = '[\"inbox\", \"email\"]', email = address WHERE channel = 'email'")
    op.execute("UPDATE profiles SET channels = '[\"inbox\", \"sms\"]', phone = address WHERE channel = 'sms'")

    _new_outbox("outbox_v2")
    op.execute(
        f"INSERT INTO outbox_v2 ({_OLD_COLUMNS}, channel) SELECT "
        + _OLD_COLUMNS.replace(" status,", " CASE WHEN status = 'failed' THEN 'dead' ELSE status END,")
        + ", 'inbox' FROM outbox"
    )
    op.drop_table("outbox")
    op.rename_table("outbox_v2", "outbox")
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":  # carry the id sequence on past the copied rows
        op.execute(
            "SELECT setval(pg_get_serial_sequence('outbox', 'id'), COALESCE((SELECT MAX(id) FROM outbox), 0) + 1,"
            " false)"
        )
    op.create_index("outbox_by_status", "outbox", ["status", "id"])
    op.create_index("outbox_by_doc", "outbox", ["doc_id", "doc_version", "channel", "status"])
    op.create_index("outbox_by_digest", "outbox", ["digest"])
    op.create_index("outbox_sent_by_profile", "outbox", ["profile_id", "channel", "sent"])

    with op.batch_alter_table("inbox", recreate="never") as t:
        t.add_column(sa.Column("read_at", sa.Float))


def downgrade() -> None:
    raise NotImplementedError("the push store does not downgrade past 0002 (outbox rows are per channel)")
