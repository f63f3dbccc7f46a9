"""Alembic environment of the push store: run on the connection `qa_service.push.db.upgrade` hands in.

No logging configuration here (library code never configures logging), no offline mode.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run the push migrations through qa_service.push.db.upgrade (it passes the connection)")
# transactional_ddl: SQLite and PostgreSQL both roll DDL back, so a migration is all or nothing.
context.configure(connection=connection, transactional_ddl=True, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
