"""A throw-away PostgreSQL server for the tests and the push benchmark: initdb + pg_ctl in a temp dir.

PostgreSQL comes from Debian's package (`make test` installs it when missing). It refuses to run
as root, and CI runs as root, so the server then runs as the `postgres` user (`runuser -u
postgres --`), on a Unix socket in a private temp dir (no TCP port to collide with). Stopped
and removed on exit. pytest-postgresql's `postgresql_proc` runs `pg_ctl` as the current user, so
it would need a wrapper around each binary; this is simpler.

    with TempPostgres(find_pg_bin()) as pg:
        url = pg.create_database("bench")   # postgresql+psycopg://postgres@/bench?host=<socket dir>
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

DEBIAN_PG_ROOT = Path("/usr/lib/postgresql")
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def find_pg_bin(root: Path = DEBIAN_PG_ROOT) -> Path | None:
    """The newest Debian PostgreSQL bin dir with pg_ctl and initdb, or None."""
    found = [d / "bin" for d in root.glob("*") if (d / "bin" / "pg_ctl").exists() and (d / "bin" / "initdb").exists()]
    return max(found, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0) if found else None


def unavailable(pg_bin: Path | None) -> str | None:
    """Why a temp server cannot start here (None: it can)."""
    if pg_bin is None or not (pg_bin / "pg_ctl").exists() or not (pg_bin / "initdb").exists():
        return f"PostgreSQL is not installed ({pg_bin or DEBIAN_PG_ROOT}); apt-get install postgresql"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser, and PostgreSQL refuses to run as root"
    try:
        import psycopg  # noqa: F401  (the admin connection)
    except ImportError:
        return "psycopg is not installed"
    return None


def _as_postgres(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


class TempPostgres:
    """A private PostgreSQL server; `socket_dir` while started. `fsync=False` for tests (speed),
    True for benchmarks (the durability a deployment runs with)."""

    def __init__(self, pg_bin: Path, *, fsync: bool = False, max_connections: int = 200) -> None:
        self.pg_bin = pg_bin
        self.fsync = fsync
        self.max_connections = max_connections
        self.root: Path | None = None
        self.socket_dir: str = ""

    def _run(self, *args: str) -> None:
        cmd = _as_postgres([str(self.pg_bin / args[0]), *args[1:]])
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)  # noqa: S603

    def start(self) -> TempPostgres:
        reason = unavailable(self.pg_bin)
        if reason:
            raise RuntimeError(reason)
        root = Path(tempfile.mkdtemp(prefix="push-pg-"))
        self.root = root
        data, sock = root / "data", root / "sock"
        sock.mkdir()
        if os.geteuid() == 0:
            shutil.chown(root, "postgres")
            shutil.chown(sock, "postgres")
        try:
            self._run("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")
            options = (f"-k {sock} -c listen_addresses='' -c fsync={'on' if self.fsync else 'off'}"
                       f" -c max_connections={self.max_connections}")  # fmt: skip
            self._run("pg_ctl", "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start")
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            self.root = None
            raise
        self.socket_dir = str(sock)
        return self

    def stop(self) -> None:
        if self.root is None:
            return
        try:
            self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
            self.socket_dir = ""

    def __enter__(self) -> TempPostgres:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    def url(self, dbname: str) -> str:
        return f"postgresql+psycopg://postgres@/{dbname}?host={self.socket_dir}"

    def admin(self, sql: str) -> None:
        """One statement on the `postgres` database, outside a transaction (CREATE / DROP DATABASE)."""
        import psycopg

        with psycopg.connect(host=self.socket_dir, user="postgres", dbname="postgres", autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]  (our own statements; names checked)

    def create_database(self, name: str) -> str:
        """A fresh, empty database; returns its SQLAlchemy URL."""
        if not _NAME.match(name):
            raise ValueError(f"database name must match {_NAME.pattern}, got {name!r}")
        self.admin(f"CREATE DATABASE {name}")
        return self.url(name)

    def drop_database(self, name: str) -> None:
        if not _NAME.match(name):
            raise ValueError(f"database name must match {_NAME.pattern}, got {name!r}")
        self.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
