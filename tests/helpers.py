"""Helpers shared by the tests: the server under test, running `mempg`, schema fingerprints."""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from runner import embedded
from runner.operations import drop_database

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    user: str
    password: str | None

    def url(self, dbname: str) -> str:
        return make_conninfo(
            host=self.host, port=self.port, user=self.user, password=self.password, dbname=dbname
        )


def _server() -> Server:
    url = os.environ.get("DATABASE_URL")
    if url:
        params = conninfo_to_dict(url)
        return Server(
            str(params.get("host", "localhost")),
            int(params.get("port", 5432)),
            str(params.get("user", os.environ.get("USER", "postgres"))),
            params.get("password"),
        )  # type: ignore[arg-type]
    # pytest-xdist's workers import this at once: one of them starts (or initialises) the server
    pgdata = embedded.data_dir(ROOT)
    with open(pgdata.with_name(pgdata.name + ".start-lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        info = embedded.start(ROOT)
    return Server(str(info.socket_dir), int(info.port or 5432), "postgres", None)


SERVER = _server()
# One name per concurrent run (MEMPG_TEST_DB, default mempg_test): the migrated template and the
# clones pytest-postgresql makes from it are named after it (and after the pytest-xdist worker).
TEMPLATE_DB = os.environ.get("MEMPG_TEST_DB", "mempg_test")


def template_database() -> str:
    """The migrated template of this test process (pytest-postgresql's name for it)."""
    return f"{TEMPLATE_DB}{os.environ.get('PYTEST_XDIST_WORKER', '')}_tmpl"


def run_mempg(
    *args: str,
    url: str | None = None,
    project: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """The `mempg` command, as a user runs it: a separate process, exit code and output."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "MEMPG_DIR")}
    if url is not None:
        full_env["DATABASE_URL"] = url
    full_env["MEMPG_DIR"] = str(project or ROOT)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "runner", *args],
        env=full_env,
        text=True,
        capture_output=True,
        timeout=timeout,
        check=False,
    )


@dataclass(frozen=True)
class Database:
    name: str
    url: str

    def connect(self, **kwargs: object) -> psycopg.Connection:
        return psycopg.connect(self.url, **kwargs)  # type: ignore[arg-type]


def admin() -> psycopg.Connection:
    """An autocommit session on the maintenance database, for CREATE/DROP DATABASE."""
    return psycopg.connect(SERVER.url("postgres"), autocommit=True)


def write_migration(project: Path, migration_id: str, up: str, down: str = "SELECT 1;\n") -> None:
    (project / "migrations" / f"{migration_id}.sql").write_text(up)
    (project / "rollbacks" / f"{migration_id}.sql").write_text(down)


_DUMP_NOISE = re.compile(r"^(--.*|\\(un)?restrict .*|SET .*|SELECT pg_catalog.set_config.*)$")


def fingerprint(database: Database) -> str:
    """The schema as pg_dump --schema-only sees it, plus database settings and mempg's roles."""
    dump = subprocess.run(
        [str(embedded.bin_path("pg_dump")), "--schema-only", "--dbname", database.url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = [line for line in dump.splitlines() if line.strip() and not _DUMP_NOISE.match(line)]
    with database.connect() as conn:
        settings = conn.execute(
            "SELECT coalesce(array_to_string(setconfig, ' '), '') FROM pg_db_role_setting"
            " WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND setrole = 0"
        ).fetchall()
        roles = conn.execute(
            "SELECT rolname, rolbypassrls, rolcanlogin, rolinherit FROM pg_roles"
            " WHERE rolname IN ('anon', 'authenticated', 'service_role') ORDER BY 1"
        ).fetchall()
    return "\n".join([*lines, f"-- settings: {settings}", f"-- roles: {roles}"])


def ledger(database: Database) -> list[tuple[str, str]]:
    """(id, status) of the runner's ledger, [] when it does not exist."""
    with database.connect() as conn:
        exists = conn.execute("SELECT to_regclass('mempg.schema_migrations')").fetchone()
        if exists is None or exists[0] is None:
            return []
        return conn.execute("SELECT id, status FROM mempg.schema_migrations ORDER BY id").fetchall()


def yoyo_applied(database: Database) -> list[str]:
    with database.connect() as conn:
        exists = conn.execute("SELECT to_regclass('mempg._yoyo_migration')").fetchone()
        if exists is None or exists[0] is None:
            return []
        return [
            r[0] for r in conn.execute("SELECT migration_id FROM mempg._yoyo_migration ORDER BY 1")
        ]


# The project's own migrations, in order: what a migrated database has applied.
BASE_IDS = sorted(p.stem for p in (ROOT / "migrations").glob("*.sql"))
BASELINE = [(migration_id, "applied") for migration_id in BASE_IDS]


def wait_until_blocked_on_advisory_locks(
    admin: psycopg.Connection, pids: list[int], errors: list[BaseException], timeout: float = 60
) -> None:
    """Poll pg_locks until every session in `pids` waits for an advisory lock (the proof of an
    interleaving, instead of a sleep); fail on a worker's error or after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        row = admin.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND pid = ANY(%s)",
            (pids,),
        ).fetchone()
        if row is not None and row[0] == len(pids):
            return
        assert not errors, errors
        assert time.monotonic() < deadline, "the sessions never all reached the lock"
        time.sleep(0.02)


@contextmanager
def scratch_database(prefix: str, template: str | None = None) -> Iterator[Database]:
    """A new database (optionally a clone of `template`), dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with admin() as conn:
        create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (template,),
            )
            create += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        conn.execute(create)
    try:
        yield Database(name, SERVER.url(name))
    finally:
        drop_database(SERVER.url("postgres"), name)
