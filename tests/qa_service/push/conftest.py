"""Fixtures of the push tests: a push store holding the tiny corpus's subscribers, and one planned;
`db_url` runs a test against SQLite and against a PostgreSQL server the session starts itself.

PostgreSQL comes from Debian's package (`make test` installs it when missing). It refuses to run
as root, and CI runs as root, so the server is started as the `postgres` user (`runuser`), on a
Unix socket in a private temp dir (no TCP port to collide with). pytest-postgresql's
`postgresql_proc` runs `pg_ctl` as the current user, so it would need a wrapper script around
each binary; these twenty lines are simpler than that.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from qa_service.push.planner import plan
from qa_service.push.records import Contact
from qa_service.push.store import PushStore
from tests.conftest import tiny_docs
from tests.qa_service.push.tiny import PEOPLE, labeller

PG_BIN = Path(os.environ.get("QA_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
_counter = itertools.count()


def _as_postgres(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server for the session; yields the socket directory."""
    if not (PG_BIN / "pg_ctl").exists():
        pytest.skip(f"PostgreSQL is not installed ({PG_BIN}); `make test` installs it (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="push-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sock, "postgres")
    run = lambda *a: subprocess.run(_as_postgres([str(PG_BIN / a[0]), *a[1:]]), check=True,  # noqa: E731
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)  # fmt: skip
    run("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")
    options = f"-k {sock} -c listen_addresses='' -c fsync=off -c max_connections=200"
    run("pg_ctl", "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start")
    try:
        yield str(sock)
    finally:
        run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


def _admin(sock: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(host=sock, user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture
def pg_url(postgres_server) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    name = f"push_{os.getpid()}_{next(_counter)}"
    _admin(postgres_server, f"CREATE DATABASE {name}")
    yield f"postgresql+psycopg://postgres@/{name}?host={postgres_server}"
    _admin(postgres_server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


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
