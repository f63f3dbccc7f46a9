"""The push store's engine and transactions, shared by its table mixins (`qa_service.push.store`).

SQLAlchemy 2 Core over SQLite (a private file, WAL) or PostgreSQL; the schema comes from the Alembic
migrations run at open (`qa_service.push.db`). Writes go through `_tx` (one transaction each), reads
through `_read` (on SQLite a second, deferred-transaction engine, so reads never queue for the lock).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, text

from qa_service.push import db as dbm

Row = Mapping[str, Any]


class StoreBase:
    def __init__(self, path: str | Path | None = None, *, url: str | None = None) -> None:
        """`path`: a SQLite file (or ":memory:"); `url`: any SQLAlchemy URL (PostgreSQL: postgresql://...)."""
        if url is None and path is not None and "://" in str(path):
            url = str(path)
        if url is None:
            if path is None:
                raise ValueError("PushStore needs a SQLite path or a database URL")
            url = dbm.sqlite_url(path)
        self.url = url
        self.engine = dbm.open_engine(url)
        self.sqlite = dbm.is_sqlite(self.engine)
        # Reads in deferred transactions on SQLite, so they never queue for the write lock.
        memory = self.sqlite and self.engine.url.database in (None, "", ":memory:")
        self._reader = dbm.create(url, writer=False) if self.sqlite and not memory else self.engine
        # The SQLite file, for tools that open it directly; None on PostgreSQL.
        self.path = str(path) if self.sqlite and path is not None and "://" not in str(path) else None
        if self.sqlite and self.path is None:
            self.path = self.engine.url.database or ":memory:"
        self._share = "" if self.sqlite else " FOR KEY SHARE"  # a profile being planned cannot vanish mid-insert
        self.channels: frozenset[str] | None = None  # planned channels; None: every channel a subscription names

    def enable_channels(self, names: Iterable[str]) -> None:
        """Plan rows only for these channels (those the deployment can send through); the inbox always."""
        self.channels = frozenset(names) | {"inbox"}

    def close(self) -> None:
        self._reader.dispose()
        self.engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    def _read(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        with self._reader.connect() as conn:
            rows = [r._mapping for r in conn.execute(text(sql), dict(params or {}))]
            conn.rollback()
        return rows
