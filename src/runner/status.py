"""`mempg status`: every migration, applied or pending, with how its files compare to the ledger."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from runner import ledger
from runner.migrate import checksum_state
from runner.project import MigrationFile


@dataclass(frozen=True)
class StatusRow:
    id: str
    state: str  # applied | pending | failed
    applied_at: str | None
    applied_by: str | None
    duration_ms: int | None
    checksum: str  # ok | modified | file missing | - (pending)
    rollback: str  # ok | modified | file missing | present | missing (pending)


def status_rows(conn: psycopg.Connection, migrations: list[MigrationFile]) -> list[StatusRow]:
    rows = ledger.read_ledger(conn)
    out = []
    for migration in migrations:
        row = rows.get(migration.id)
        if row is None:
            rollback = "present" if migration.has_rollback else "missing"
            out.append(StatusRow(migration.id, "pending", None, None, None, "-", rollback))
        else:
            out.append(_applied(row, checksum_state(migration, row)))
    known = {m.id for m in migrations}
    for migration_id, row in rows.items():
        if migration_id not in known:
            out.append(_applied(row, checksum_state(None, row)))
    return out


def _applied(row: ledger.LedgerRow, state: object) -> StatusRow:
    return StatusRow(
        row.id,
        "applied" if row.status == "applied" else row.status,
        row.applied_at.isoformat(timespec="seconds"),
        row.applied_by,
        row.duration_ms,
        state.migration,  # type: ignore[attr-defined]
        state.rollback,  # type: ignore[attr-defined]
    )
