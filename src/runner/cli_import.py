"""`mempg import` and `mempg export`: thin shells around runner.importing (the logic is in
sql/memory/import_batch.sql and export_lines.sql)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import psycopg

from runner.database import connect
from runner.errors import EXIT_FAILURE, EXIT_OK, RunnerError
from runner.output import emit_json

IMPORT_EXIT_CODES = """\b
Exit codes:
  0  imported (or, with --dry-run, would import) every row
  1  rows were rejected (see the report; --allow-rejects makes this 0), or
     the database failed
  2  usage error: a bad option, or embeddings of another dimension than the
     installed one without --pad-embeddings or --no-embeddings
  4  the source cannot be read: no such file, not that format, a missing table
"""


def as_service_role(conn: psycopg.Connection) -> None:
    """Imports and exports are administrative: they run as service_role (BYPASSRLS)."""
    try:
        conn.execute("SET ROLE service_role")
    except psycopg.Error as exc:
        raise RunnerError(
            "import and export run as service_role: the connecting role must be a member of it"
            f" ({str(exc).splitlines()[0]})"
        ) from None


def register(cli: click.Group, common_options: Callable[..., Any]) -> None:
    from runner.importing.sources import KINDS

    @cli.command(name="import", epilog=IMPORT_EXIT_CODES)
    @click.argument("source")
    @click.option(
        "--from", "kind", type=click.Choice(KINDS), help="What SOURCE is (default: from its name)."
    )
    @click.option("--user", "user", metavar="ID", help="Import every row for this user.")
    @click.option(
        "--user-from", metavar="FIELD", help="Take each row's user from this metadata field."
    )
    @click.option(
        "--table", help="mem0-pg: the collection table (default mem0); langchain: a v2 table."
    )
    @click.option("--collection", help="langchain (v1 tables): import this collection only.")
    @click.option("--dry-run", is_flag=True, help="Report what would happen; change nothing.")
    @click.option(
        "--batch-size",
        type=click.IntRange(1, 100_000),
        default=1000,
        show_default=True,
        help="Rows per COPY and transaction (bounds the importer's memory).",
    )
    @click.option(
        "--pad-embeddings", is_flag=True, help="Zero-pad shorter embeddings (keeps cosine)."
    )
    @click.option("--no-embeddings", is_flag=True, help="Import text only, as pending memories.")
    @click.option("--allow-rejects", is_flag=True, help="Exit 0 even when rows were rejected.")
    @click.option(
        "--jobs",
        type=click.IntRange(1, 64),
        default=1,
        show_default=True,
        help="Sessions applying batches at once (users split between them; a dry run uses one).",
    )
    @common_options()
    def import_command(
        ctx: Any,
        source: str,
        kind: str | None,
        user: str | None,
        user_from: str | None,
        table: str | None,
        collection: str | None,
        dry_run: bool,
        batch_size: int,
        pad_embeddings: bool,
        no_embeddings: bool,
        allow_rejects: bool,
        jobs: int,
    ) -> int:
        """Import memories (and entities, relations, history) from SOURCE: a Mem0 or LangChain
        database URL, a Mem0 history or seed-003 SQLite file, a Session-Buddy DuckDB file, or JSON
        lines (mempg export, Mem0 get_all, the MCP memory server). Idempotent: re-running adds
        nothing; an interrupted import resumes."""
        from runner.importing.loader import ImportOptions, plain_progress, print_report, run_import
        from runner.importing.sources import guess_kind, open_source

        if user is not None and user_from is not None:
            raise click.UsageError("give --user or --user-from, not both")
        if pad_embeddings and no_embeddings:
            raise click.UsageError("give --pad-embeddings or --no-embeddings, not both")
        reader = open_source(kind or guess_kind(source), source, table=table, collection=collection)
        options = ImportOptions(
            user, user_from, dry_run, batch_size, pad_embeddings, no_embeddings, jobs
        )

        def open_worker() -> psycopg.Connection:
            worker = connect(ctx.url, ctx.settings, notices=ctx.echo)
            worker.execute("SET statement_timeout = 0")
            worker.execute("SET lock_timeout = 0")
            as_service_role(worker)
            return worker

        with connect(ctx.url, ctx.settings, notices=ctx.echo) as conn:
            conn.execute("SET statement_timeout = 0")  # batches take as long as they take, and wait
            conn.execute("SET lock_timeout = 0")  # for the application's writers of the same user
            as_service_role(conn)
            progress = _progress() if sys.stderr.isatty() and not ctx.as_json else plain_progress
            report = run_import(conn, reader, options, progress, open_worker)
        if ctx.as_json:
            emit_json(report.as_dict())
        else:
            print_report(report, click.echo)
        return EXIT_FAILURE if report.rejected and not allow_rejects else EXIT_OK

    @cli.command(name="export")
    @click.option(
        "--jsonl", "jsonl", is_flag=True, required=True, help="JSON lines (the only format)."
    )
    @click.option("--user", "user", metavar="ID", help="Export this user only (default: everyone).")
    @click.option(
        "--output",
        "-o",
        type=click.Path(dir_okay=False, path_type=Path),
        help="File (default: stdout).",
    )
    @common_options(json_option=False)
    def export_command(ctx: Any, jsonl: bool, user: str | None, output: Path | None) -> int:
        """Export memories with their history, entities, relations and interactions as JSON lines
        that `mempg import --from jsonl` reads back as they were."""
        from runner.importing.export import export_jsonl

        with connect(ctx.url, ctx.settings, notices=ctx.echo) as conn:
            conn.execute("SET statement_timeout = 0")
            as_service_role(conn)
            if output is None:
                count = export_jsonl(conn, sys.stdout, user)
            else:
                with output.open("w", encoding="utf-8") as handle:
                    count = export_jsonl(conn, handle, user)
        click.echo(f"exported {count} lines", err=True)
        return EXIT_OK


def _progress() -> Callable[..., None]:
    """A progress bar on a terminal (tqdm, a core dependency), plain lines where an install
    lacks it."""
    try:
        from tqdm import tqdm
    except ImportError:
        from runner.importing.loader import plain_progress

        return plain_progress
    bar = tqdm(unit="rows", file=sys.stderr, dynamic_ncols=True)

    def update(done: int, report: Any) -> None:
        bar.update(done - bar.n)
        bar.set_postfix(rejected=report.rejected_count, refresh=False)

    return update
