"""The push database's engine: SQLite by default (a private file in WAL mode), PostgreSQL by URL.

`open_engine(url)` makes the engine and brings the schema to the newest Alembic revision
(`qa_service/push/migrations`), so every process that opens the store (the service, each worker)
can be the first: migrations run inside one transaction that holds the database's write lock
(SQLite `BEGIN IMMEDIATE`, a PostgreSQL advisory lock), and the others wait, then find nothing
to do. A store made by the old hand-written schema is adopted the same way (see revision 0001).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DatabaseError, OperationalError
from sqlalchemy.pool import StaticPool

from qa_service.store import StoreError

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_ADVISORY_LOCK = 0x70757368  # "push": one migrator at a time across processes on PostgreSQL


def make_private(path: Path) -> None:
    """Create the SQLite file 0600 (so its -wal and -shm are too) and tighten existing ones.

    An existing file is never opened here: closing any descriptor of a database file drops every
    POSIX lock this process holds on it, SQLite's included (a second store on the same file in one
    process would then corrupt the first one's locking).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        try:
            os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            pass
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if p.exists():
            os.chmod(p, 0o600)


def sqlite_url(path: str | Path) -> str:
    return "sqlite://" if str(path) == ":memory:" else f"sqlite:///{Path(path)}"


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def create(url: str, *, writer: bool = True) -> Engine:
    """An engine for `url` (no migration); SQLite files are created 0600 first, so -wal/-shm are too.

    On SQLite a `writer` engine opens every transaction with BEGIN IMMEDIATE; a reader's are deferred
    (WAL readers never wait for the writer).
    """
    u = make_url(url)
    if u.get_backend_name() != "sqlite":
        if u.get_backend_name() == "postgresql" and u.drivername == "postgresql":
            u = u.set(drivername="postgresql+psycopg")  # psycopg 3 is the driver installed
        return create_engine(u, pool_pre_ping=True, pool_size=10, max_overflow=20)
    memory = u.database in (None, "", ":memory:")
    if memory:
        engine = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        if writer:
            make_private(Path(u.database))
        engine = create_engine(u, connect_args={"timeout": 30.0, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi: Any, _record: Any) -> None:
        dbapi.isolation_level = None  # SQLAlchemy's `begin` below opens transactions, not pysqlite
        if not memory:
            dbapi.execute("PRAGMA journal_mode=WAL")
            # NORMAL is safe in WAL mode against a killed process; on power loss the last commits go in
            # order, so at worst a "sent" mark is lost and that message is re-sent with the same key.
            dbapi.execute("PRAGMA synchronous=NORMAL")
        dbapi.execute("PRAGMA foreign_keys=ON")
        dbapi.execute("PRAGMA busy_timeout=30000")

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front, so two processes never deadlock upgrading a read.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")

    return engine


def upgrade(engine: Engine, revision: str = "head") -> None:
    """`alembic upgrade head`, programmatically, serialised across processes."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        if not is_sqlite(engine):
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def open_engine(url: str) -> Engine:
    """The engine with the schema up to date; a database that cannot be used is refused naming it
    (`StoreError`, one line for the operator), never deleted or rewritten."""
    engine = create(url)
    try:
        upgrade(engine)
    except (OperationalError, DatabaseError) as exc:
        engine.dispose()
        where = make_url(url).database if engine.dialect.name == "sqlite" else make_url(url).render_as_string()
        kind = "SQLite database" if engine.dialect.name == "sqlite" else "push database"
        reason = " ".join(str(getattr(exc, "orig", exc)).split())[:300]
        raise StoreError(
            f"{where} is not a usable {kind} ({reason}); move it aside or restore it from a backup, "
            "or check the server and QA_PUSH_DATABASE_URL, then start again"
        ) from None
    return engine
