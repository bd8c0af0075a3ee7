"""Sessions, whole-script execution with a precise error, and the runner's advisory lock."""

from __future__ import annotations

import getpass
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
from psycopg import errors, generators, pq, sql

from runner.config import SessionSettings
from runner.errors import RunnerError
from runner.sqltext import line_of_position, split_statements

# pg_try_advisory_lock(classid, objid): "mempg" as the class, 1 for migrations. Advisory locks are
# per database, so runners on different databases of one server never wait for each other.
LOCK_CLASS = 0x6D656D70  # 'memp'
LOCK_MIGRATIONS = 1
LOCK_POLL_SECONDS = 0.2


def client_identity() -> str:
    """Who runs this process, for the ledger's applied_by."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def connect(
    url: str, settings: SessionSettings, *, notices: Callable[[str], None]
) -> psycopg.Connection:
    """An autocommit session with the runner's timeouts; errors become one line."""
    try:
        conn = psycopg.connect(url, autocommit=True, application_name="mempg", connect_timeout=10)
    except psycopg.Error as exc:
        raise RunnerError(f"cannot connect to the database: {first_line(exc)}") from None
    conn.add_notice_handler(lambda diag: _forward_notice(diag, notices))
    conn.execute(
        "SELECT set_config('lock_timeout', %s, false), set_config('statement_timeout', %s, false),"
        " set_config('idle_in_transaction_session_timeout', '0', false)",
        (settings.lock_timeout, settings.statement_timeout),
    )
    # A killed runner's backend notices the dead client within a second, even mid-statement.
    conn.execute("SET client_connection_check_interval = '1s'")
    return conn


def _forward_notice(diag: psycopg.errors.Diagnostic, notices: Callable[[str], None]) -> None:
    """Pass on what a migration RAISEs; drop the "already exists, skipping" chatter of IF EXISTS."""
    message = diag.message_primary or ""
    if diag.severity == "NOTICE" and message.endswith(", skipping"):
        return
    notices(f"{diag.severity}: {message}")


def first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


class ScriptFailure(Exception):
    """A statement of a script failed; everything before it ran in the same transaction."""

    def __init__(
        self, error: psycopg.Error, statement_number: int, statement: str, line: int | None
    ) -> None:
        super().__init__(f"statement {statement_number} failed: {error}")
        self.error = error
        self.statement_number = statement_number  # 1-based, counting statements the server ran
        self.statement = statement
        self.line = line

    def describe(self, source: str) -> str:
        diag = self.error.diag
        where = f"{source}, statement {self.statement_number}"
        if self.line is not None:
            where += f" (line {self.line})"
        parts = [f"{where} failed: [{diag.sqlstate}] {diag.message_primary}"]
        if diag.message_detail:
            parts.append(f"DETAIL: {diag.message_detail}")
        if diag.message_hint:
            parts.append(f"HINT: {diag.message_hint}")
        if diag.context:
            parts.append(f"CONTEXT: {diag.context.strip()}")
        parts.append("statement: " + _abbreviate(self.statement))
        return "\n  ".join(parts)


def _abbreviate(statement: str, limit: int = 400) -> str:
    one_line = " ".join(statement.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 3] + "..."


def run_script(conn: psycopg.Connection, script: str) -> None:
    """Send `script` whole (simple query protocol: no client-side splitting) and wait for it.

    On failure raise ScriptFailure naming the statement, found by counting the results the
    server returned before the error.
    """
    pgconn = conn.pgconn
    with conn.lock:
        pgconn.send_query(script.encode())
        results = conn.wait(generators.execute(pgconn))
    failed = [r for r in results if r.status in (pq.ExecStatus.FATAL_ERROR,)]
    if not failed:
        return
    done = sum(1 for r in results if r.status != pq.ExecStatus.FATAL_ERROR)
    error = errors.error_from_result(failed[0], encoding=conn.info.encoding)
    statements = split_statements(script)
    position = error.diag.statement_position
    number = done + 1
    if position:
        # A syntax error stops the whole script before anything runs: locate it by position.
        line: int | None = line_of_position(script, int(position))
        before = [i for i, s in enumerate(statements) if s.line <= line]
        number = before[-1] + 1 if before else 1
        text = statements[number - 1].text if before else ""
    elif done < len(statements):
        line, text = statements[done].line, statements[done].text
    else:
        line, text = None, "(unknown)"
    raise ScriptFailure(error, number, text, line)


@contextmanager
def transaction(conn: psycopg.Connection, *, commit: bool) -> Iterator[None]:
    """BEGIN ... COMMIT (or ROLLBACK when commit is False, or on any error)."""
    conn.execute("BEGIN")
    try:
        yield
    except BaseException:
        if conn.info.transaction_status != pq.TransactionStatus.UNKNOWN:
            conn.execute("ROLLBACK")
        raise
    if conn.info.transaction_status == pq.TransactionStatus.IDLE:
        raise RunnerError(
            "the script ended the runner's transaction (COMMIT or ROLLBACK inside it)"
        )
    conn.execute("COMMIT" if commit else "ROLLBACK")


@contextmanager
def migration_lock(
    url: str, settings: SessionSettings, *, on_wait: Callable[[str], None]
) -> Iterator[psycopg.Connection]:
    """Hold the database's migration lock on a session of its own.

    pg_try_advisory_lock is polled until lock_wait_seconds have passed. The lock belongs to the
    session, so it goes away with the process that holds it: it cannot go stale.
    """
    conn = connect(url, settings, notices=lambda _msg: None)
    try:
        deadline = time.monotonic() + settings.lock_wait_seconds
        announced = False
        while True:
            row = conn.execute(
                "SELECT pg_try_advisory_lock(%s::int, %s::int)", (LOCK_CLASS, LOCK_MIGRATIONS)
            ).fetchone()
            if row and row[0]:
                break
            if time.monotonic() >= deadline:
                holder = _lock_holder(conn)
                raise RunnerError(
                    f"another mempg runner holds the migration lock on this database{holder};"
                    f" gave up after {settings.lock_wait_seconds:g}s (raise --lock-wait to wait longer)"
                )
            if not announced:
                on_wait(f"waiting for another mempg runner{_lock_holder(conn)} to finish...")
                announced = True
            time.sleep(LOCK_POLL_SECONDS)
        yield conn
    finally:
        conn.close()  # closing the session releases the lock


def _lock_holder(conn: psycopg.Connection) -> str:
    row = conn.execute(
        sql.SQL(
            "SELECT a.pid, a.usename, a.client_addr::text, a.application_name"
            " FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
            " WHERE l.locktype = 'advisory' AND l.classid = %s::oid AND l.objid = %s::oid AND l.granted"
            "   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ),
        (LOCK_CLASS, LOCK_MIGRATIONS),
    ).fetchone()
    if row is None:
        return ""
    pid, user, addr, app = row
    return f" (backend pid {pid}, role {user}, {app or 'no application name'}, {addr or 'local'})"


def project_schemas(conn: psycopg.Connection, fallback: list[str]) -> list[str]:
    """ops.project_schemas(), the one list of mempg's schemas, which SQL owns; `fallback` (the
    folders of sql/) before the migration that defines it has been applied."""
    row = conn.execute(
        "SELECT CASE WHEN to_regprocedure('ops.project_schemas()') IS NOT NULL"
        " THEN ops.project_schemas() END"
    ).fetchone()
    return list(row[0]) if row is not None and row[0] is not None else fallback
