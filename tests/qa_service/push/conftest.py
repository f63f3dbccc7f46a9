"""Fixtures of the push tests: a push store holding the tiny corpus's subscribers, and one planned;
`db_url` runs a test against SQLite and against a PostgreSQL server the session starts itself
(`qa_service.push.pg_temp.TempPostgres`: Debian's package, run as `postgres` when root, on a Unix socket).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from qa_service.push.pg_temp import TempPostgres, find_pg_bin, unavailable
from qa_service.push.planner import plan
from qa_service.push.records import Contact
from qa_service.push.store import PushStore
from tests.conftest import tiny_docs
from tests.qa_service.push.tiny import PEOPLE, labeller

PG_BIN = Path(os.environ["QA_TEST_PG_BIN"]) if os.environ.get("QA_TEST_PG_BIN") else find_pg_bin()
_counter = itertools.count()


@pytest.fixture(scope="session")
def temp_postgres() -> Iterator[TempPostgres]:
    """A PostgreSQL server for the session (`qa_service.push.pg_temp`: as `postgres`, Unix socket, fsync off)."""
    reason = unavailable(PG_BIN)
    if reason:
        pytest.skip(f"{reason}; `make test` installs it")
    with TempPostgres(PG_BIN) as pg:
        yield pg


@pytest.fixture(scope="session")
def postgres_server(temp_postgres) -> str:
    """The session's PostgreSQL socket directory."""
    return temp_postgres.socket_dir


@pytest.fixture
def pg_url(temp_postgres) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    name = f"push_{os.getpid()}_{next(_counter)}"
    yield temp_postgres.create_database(name)
    temp_postgres.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    """The push store's URL on each backend: a SQLite file in tmp_path, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'push.sqlite3'}"
    return request.getfixturevalue("pg_url")


def filled_store(url: str) -> PushStore:
    s = PushStore(url=url)
    for p in PEOPLE:
        s.create_profile(p, Contact())
    return s


@pytest.fixture
def store(tmp_path):
    """On SQLite; test_store.py and test_delivery.py override it to run on both backends."""
    s = PushStore(tmp_path / "push.sqlite3")
    for p in PEOPLE:
        s.create_profile(p, Contact())
    yield s
    s.close()


@pytest.fixture
def planned(store):
    result = plan(store, tiny_docs(), labeller)
    assert result.enqueued == 6
    return store
