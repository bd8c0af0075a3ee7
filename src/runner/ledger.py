"""The ledger (mempg.schema_migrations) and yoyo's own bookkeeping tables, kept in step.

Both are written inside the transaction that applies or rolls back a migration. yoyo's tables
(_yoyo_migration, _yoyo_log, _yoyo_version, yoyo_lock) live in schema mempg and are written by
yoyo's own code, so `yoyo list` and `yoyo apply` keep working on a mempg database.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from importlib import resources

import psycopg
from yoyo import internalmigrations
from yoyo.backends.core.postgresql import PostgresqlPsycopgBackend
from yoyo.connections import parse_uri
from yoyo.migrations import Migration

from runner.database import client_identity

LEDGER_TABLE = "mempg.schema_migrations"
YOYO_SCHEMA = "mempg"


@dataclass(frozen=True)
class LedgerRow:
    id: str
    migration_sha256: str
    rollback_sha256: str | None
    applied_at: datetime
    applied_by: str
    duration_ms: int
    status: str


def bootstrap_sql() -> str:
    return resources.files("runner").joinpath("queries/ledger.sql").read_text(encoding="utf-8")


def ledger_exists(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (LEDGER_TABLE,)).fetchone()
    return bool(row and row[0])


def read_ledger(conn: psycopg.Connection) -> dict[str, LedgerRow]:
    if not ledger_exists(conn):
        return {}
    rows = conn.execute(
        "SELECT id, migration_sha256, rollback_sha256, applied_at, applied_by, duration_ms, status"
        f" FROM {LEDGER_TABLE} ORDER BY applied_at, id"
    ).fetchall()
    return {row[0]: LedgerRow(*row) for row in rows}


def record_applied(
    conn: psycopg.Connection,
    migration_id: str,
    migration_sha256: str,
    rollback_sha256: str | None,
    duration_ms: int,
    status: str = "applied",
) -> None:
    conn.execute(
        f"INSERT INTO {LEDGER_TABLE}"
        " (id, migration_sha256, rollback_sha256, applied_by, duration_ms, status)"
        " VALUES (%s, %s, %s, session_user || ' (' || %s || ')', %s, %s)"
        " ON CONFLICT (id) DO UPDATE SET migration_sha256 = EXCLUDED.migration_sha256,"
        "  rollback_sha256 = EXCLUDED.rollback_sha256, applied_at = now(),"
        "  applied_by = EXCLUDED.applied_by, duration_ms = EXCLUDED.duration_ms,"
        "  status = EXCLUDED.status",
        (migration_id, migration_sha256, rollback_sha256, client_identity(), duration_ms, status),
    )


def record_rolled_back(conn: psycopg.Connection, migration_id: str) -> None:
    conn.execute(f"DELETE FROM {LEDGER_TABLE} WHERE id = %s", (migration_id,))


def yoyo_applied_ids(conn: psycopg.Connection) -> set[str] | None:
    """Ids in yoyo's _yoyo_migration table; None when yoyo's tables do not exist."""
    exists = conn.execute("SELECT to_regclass('mempg._yoyo_migration') IS NOT NULL").fetchone()
    if not (exists and exists[0]):
        return None
    return {row[0] for row in conn.execute("SELECT migration_id FROM mempg._yoyo_migration")}


class _SharedConnectionBackend(PostgresqlPsycopgBackend):
    """yoyo's PostgreSQL backend on the runner's own session, so its writes join our transaction."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self._shared = conn
        super().__init__(parse_uri("postgresql+psycopg:///mempg"), "_yoyo_migration")

    def connect(self, dburi: object) -> psycopg.Connection:
        return self._shared

    def init_connection(self, connection: object) -> None:
        """yoyo would SET search_path for the whole session; the runner scopes it instead."""

    def list_tables(self, **kwargs: object) -> list[str]:
        rows = self.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = :schema",
            {"schema": YOYO_SCHEMA},
        ).fetchall()
        return [row[0] for row in rows]


class YoyoBooks:
    """Marks and unmarks migrations in yoyo's tables, on the runner's session."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        self.backend = _SharedConnectionBackend(conn)

    @contextmanager
    def _in_schema(self, *, local: bool) -> Iterator[None]:
        """yoyo names its tables unqualified: point search_path at schema mempg meanwhile."""
        saved = self.conn.execute("SELECT current_setting('search_path')").fetchone()
        self.conn.execute("SELECT set_config('search_path', %s, %s)", (YOYO_SCHEMA, local))
        try:
            yield
        finally:
            if saved is not None and self.conn.info.transaction_status in (
                psycopg.pq.TransactionStatus.IDLE,
                psycopg.pq.TransactionStatus.INTRANS,
            ):
                self.conn.execute("SELECT set_config('search_path', %s, %s)", (saved[0], local))

    def ensure_tables(self) -> None:
        """Create yoyo's tables if missing, inside the caller's transaction.

        yoyo's own ensure_internal_schema_updated() refuses to run in a transaction and takes
        yoyo's lock row; the runner already holds its advisory lock, so it calls yoyo's internal
        schema upgrade directly, and yoyo uses savepoints because it is told it is in one.
        """
        with self._in_schema(local=True):
            self.backend._in_transaction = True
            try:
                if internalmigrations.needs_upgrading(self.backend):
                    internalmigrations.upgrade(self.backend)
                if self.backend.lock_table not in self.backend.list_tables():
                    self.backend.execute(
                        self.backend.format_sql(self.backend.create_lock_table_sql)
                    )
            finally:
                self.backend._in_transaction = False

    def mark(self, migration: Migration) -> None:
        with self._in_schema(local=True):
            self.backend.mark_one(migration, log=False)
            self.backend.log_migration(migration, "apply")

    def unmark(self, migration: Migration) -> None:
        with self._in_schema(local=True):
            self.backend.unmark_one(migration, log=False)
            self.backend.log_migration(migration, "rollback")
