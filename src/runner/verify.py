"""`mempg verify`: every way the files, the ledger, yoyo's tables and the database can disagree."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import psycopg

from runner import ledger, schema
from runner.config import Project
from runner.database import ScriptFailure, project_schemas, run_script, transaction
from runner.migrate import changed_on_disk
from runner.project import MigrationFile, orphan_rollbacks
from runner.sqltext import transaction_control


@dataclass(frozen=True)
class Problem:
    kind: str  # changed | missing rollback | orphan rollback | pending | failed | yoyo mismatch | sql differs | sql fails | schema differs
    subject: str
    message: str


def verify(
    conn: psycopg.Connection,
    project: Project,
    migrations: list[MigrationFile],
    *,
    allow_pending: bool,
    url: str | None = None,
) -> list[Problem]:
    """Every problem found; with `url` (for pg_dump) also the tables, indexes, constraints and
    policies against schema.sql, once no migration is pending."""
    rows = ledger.read_ledger(conn)
    problems = [Problem("changed", i, msg) for i, msg in changed_on_disk(migrations, rows)]
    problems += [
        Problem(
            "missing rollback",
            m.id,
            f"migration {m.id} has no {m.rollback_path.name} in rollbacks/",
        )
        for m in migrations
        if not m.has_rollback
    ]
    problems += [
        Problem("orphan rollback", p.name, f"rollbacks/{p.name} belongs to no migration")
        for p in orphan_rollbacks(project, migrations)
    ]
    problems += [
        Problem("failed", r.id, f"migration {r.id} stopped half way (non-transactional)")
        for r in rows.values()
        if r.status == "failed"
    ]
    if not allow_pending:
        problems += [
            Problem("pending", m.id, f"migration {m.id} is not applied")
            for m in migrations
            if m.id not in rows
        ]
    problems += _yoyo_mismatch(conn, rows)
    problems += check_sql_folder(conn, project)
    if url is not None and all(m.id in rows for m in migrations):
        schemas = project_schemas(conn, project.sql_schemas())
        problems += [
            Problem("schema differs", project.schema_file.name, message)
            for message in schema.differences(conn, url, schemas, project.schema_file)
        ]
    return problems


def _yoyo_mismatch(conn: psycopg.Connection, rows: dict[str, ledger.LedgerRow]) -> list[Problem]:
    in_ledger = {r.id for r in rows.values() if r.status == "applied"}
    in_yoyo = ledger.yoyo_applied_ids(conn) or set()
    return [
        Problem(
            "yoyo mismatch", i, f"{i} is applied in the ledger but not in yoyo's _yoyo_migration"
        )
        for i in sorted(in_ledger - in_yoyo)
    ] + [
        Problem(
            "yoyo mismatch", i, f"{i} is applied in yoyo's _yoyo_migration but not in the ledger"
        )
        for i in sorted(in_yoyo - in_ledger)
    ]


def sql_files(project: Project) -> list[Path]:
    return sorted(project.sql.rglob("*.sql")) if project.sql.is_dir() else []


def check_sql_folder(conn: psycopg.Connection, project: Project) -> list[Problem]:
    """Run every sql/ file in one rolled-back transaction; report each file that changes a definition.

    sql/ holds re-runnable definitions (CREATE OR REPLACE, DROP IF EXISTS + CREATE). On a database
    that the migrations brought up to date, running them must change nothing.
    """
    files = sql_files(project)
    schemas = sorted(set(project_schemas(conn, project.sql_schemas())) | set(project.sql_schemas()))
    problems: list[Problem] = []
    with transaction(conn, commit=False):
        before = _definitions(conn, schemas)
        for path in files:
            name = str(path.relative_to(project.root))
            script = path.read_text(encoding="utf-8")
            control = transaction_control(script)
            if control is not None:
                problems.append(
                    Problem(
                        "sql fails",
                        name,
                        f"{name} line {control.line}: transaction"
                        " control is not allowed in sql/ files",
                    )
                )
                continue
            try:
                run_script(conn, script)
            except ScriptFailure as failure:
                problems.append(Problem("sql fails", name, failure.describe(name)))
                break
            after = _definitions(conn, schemas)
            changed = _differences(before, after)
            if changed:
                problems.append(
                    Problem(
                        "sql differs",
                        name,
                        f"{name} differs from the database: it changes " + "; ".join(changed),
                    )
                )
            before = after
    return problems


def _definitions(conn: psycopg.Connection, schemas: list[str]) -> dict[tuple[str, str], str]:
    query = (
        resources.files("runner").joinpath("queries/definitions.sql").read_text(encoding="utf-8")
    )
    saved = conn.execute("SELECT current_setting('search_path')").fetchone()
    conn.execute("SELECT set_config('search_path', 'pg_catalog', true)")
    try:
        rows = conn.execute(query, {"schemas": schemas}).fetchall()  # type: ignore[arg-type]
    finally:
        if (
            saved is not None
            and conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        ):
            conn.execute("SELECT set_config('search_path', %s, true)", (saved[0],))
    return {(kind, name): definition for kind, name, definition in rows}


def _differences(
    before: dict[tuple[str, str], str], after: dict[tuple[str, str], str]
) -> list[str]:
    out = []
    for key in sorted(before.keys() | after.keys()):
        kind, name = key
        if key not in before:
            out.append(f"{kind} {name} (not in the database)")
        elif key not in after:
            out.append(f"{kind} {name} (dropped, not recreated)")
        elif before[key] != after[key]:
            out.append(f"{kind} {name}")
    return out
