"""Planning jobs and description vectors: `push_jobs` (a plan requested by an operator or an ingest,
run in the background with its state and counts); each profile's self-description vector (int8 bytes
with its scale and the encoder that made it); each outbox row's match score, by which planning
orders a document's rows (delivery goes best-matching first) and the review queue lists its sample.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("profiles", recreate="never") as t:
        t.add_column(sa.Column("description_vector", sa.LargeBinary))
        t.add_column(sa.Column("description_scale", sa.Float))
        t.add_column(sa.Column("description_encoder", sa.Text))
    with op.batch_alter_table("outbox", recreate="never") as t:
        t.add_column(sa.Column("score", sa.Float))
    op.create_table(
        "push_jobs",
        sa.Column("id", RowId, primary_key=True, autoincrement=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("doc_ids", sa.Text),  # JSON list; NULL: every document noted and not planned yet
        sa.Column("status", sa.Text, nullable=False, server_default="queued"),
        sa.Column("documents", sa.Integer, nullable=False, server_default="0"),
        sa.Column("progress", sa.Integer, nullable=False, server_default="0"),
        sa.Column("enqueued", sa.Integer, nullable=False, server_default="0"),
        sa.Column("outcome", sa.Text, nullable=False, server_default="{}"),
        sa.Column("error", sa.Text),
        sa.Column("runs", sa.Integer, nullable=False, server_default="0"),
        sa.Column("lease_owner", sa.Text),
        sa.Column("lease_until", sa.Float),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("started", sa.Float),
        sa.Column("finished", sa.Float),
        sa.Column("updated", sa.Float, nullable=False),
        sa.CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name="push_jobs_status"),
        sqlite_autoincrement=True,
    )
    op.create_index("push_jobs_by_status", "push_jobs", ["status", "id"])


def downgrade() -> None:
    op.drop_index("push_jobs_by_status", "push_jobs")
    op.drop_table("push_jobs")
    with op.batch_alter_table("outbox", recreate="never") as t:
        t.drop_column("score")
    with op.batch_alter_table("profiles", recreate="never") as t:
        t.drop_column("description_encoder")
        t.drop_column("description_scale")
        t.drop_column("description_vector")
