"""The `mempg` command line: migrations (apply, rollback, status, verify, new) and the embedded server.

Exit codes: 0 ok; 1 failure (a migration failed, the database is unreachable, the lock wait timed
out, a refusal); 2 usage error (bad option, unknown migration id); 3 verify found problems.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
import psycopg

from runner import embedded, schema
from runner.archive import DEFAULT_RETAIN
from runner.cli_durability import base_backup, point_in_time_restore, pooler_group, replica_group
from runner.cli_mcp import mcp_command
from runner.config import (
    DEFAULT_LOCK_TIMEOUT,
    DEFAULT_LOCK_WAIT_SECONDS,
    DEFAULT_STATEMENT_TIMEOUT,
    Project,
    SessionSettings,
    project_at,
)
from runner.database import connect, first_line, project_schemas
from runner.errors import EXIT_FAILURE, EXIT_OK, EXIT_PROBLEMS, RunnerError
from runner.migrate import Runner, RunReport
from runner.output import emit_json, table
from runner.project import load_migrations
from runner.scaffold import new_migration
from runner.status import status_rows
from runner.verify import verify as run_verify

EXIT_CODES = """\b
Exit codes:
  0  ok
  1  failure: a migration failed, the database is unreachable, the lock wait
     timed out, or the runner refused (an applied migration changed on disk)
  2  usage error: bad option or unknown migration id
  3  verify found problems
"""


class Context:
    """What every command needs: the project folders, the database URL and session settings."""

    def __init__(
        self, project: Project, database: str | None, settings: SessionSettings, as_json: bool
    ) -> None:
        self.project = project
        self._database = database
        self.settings = settings
        self.as_json = as_json

    @functools.cached_property
    def url(self) -> str:
        """DATABASE_URL (or --database), else the embedded server, started on demand."""
        if self._database:
            return self._database
        return embedded.start(self.project.root).url()

    @property
    def uses_embedded(self) -> bool:
        """True when no DATABASE_URL (or --database) names another server."""
        return not self._database

    def echo(self, message: str) -> None:
        click.echo(message, err=self.as_json)

    def runner(self) -> Runner:
        return Runner(self.project, self.url, self.settings, self.echo)


def common_options(
    *, json_option: bool = True
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--database, --dir, timeouts (and --json) for every command that talks to a database."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        options = [
            click.option(
                "--database",
                envvar="DATABASE_URL",
                metavar="URL",
                help="PostgreSQL URL (default: $DATABASE_URL, else the embedded server).",
            ),
            click.option(
                "--dir",
                "project_dir",
                envvar="MEMPG_DIR",
                type=click.Path(file_okay=False, path_type=Path),
                help="Project folder holding migrations/, rollbacks/ and sql/ (default: found from cwd).",
            ),
            click.option(
                "--lock-timeout",
                envvar="MEMPG_LOCK_TIMEOUT",
                default=DEFAULT_LOCK_TIMEOUT,
                show_default=True,
                help="lock_timeout of the runner's sessions.",
            ),
            click.option(
                "--statement-timeout",
                envvar="MEMPG_STATEMENT_TIMEOUT",
                default=DEFAULT_STATEMENT_TIMEOUT,
                show_default=True,
                help="statement_timeout of the runner's sessions.",
            ),
            click.option(
                "--lock-wait",
                envvar="MEMPG_LOCK_WAIT",
                type=click.FloatRange(min=0),
                default=DEFAULT_LOCK_WAIT_SECONDS,
                show_default=True,
                help="Seconds to wait for another runner's migration lock.",
            ),
        ]
        if json_option:
            options.append(
                click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
            )

        @functools.wraps(func)
        def wrapper(
            database: str | None,
            project_dir: Path | None,
            lock_timeout: str,
            statement_timeout: str,
            lock_wait: float,
            as_json: bool = False,
            **kwargs: Any,
        ) -> Any:
            project = _project(project_dir)
            settings = SessionSettings(lock_timeout, statement_timeout, lock_wait)
            return func(Context(project, database or None, settings, as_json), **kwargs)

        for option in reversed(options):
            wrapper = option(wrapper)
        return wrapper

    return decorate


@click.group(epilog=EXIT_CODES, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mempg")
def cli() -> None:
    """mempg: migrations and the embedded PostgreSQL server for the mempg schema."""


def _finish(ctx: Context, report: RunReport) -> int:
    if ctx.as_json:
        emit_json(report.as_json())
    else:
        click.echo(report.message)
    return EXIT_FAILURE if report.failed else EXIT_OK


@cli.command(epilog=EXIT_CODES)
@click.option(
    "--to", "target", metavar="ID", help="Apply pending migrations up to and including ID."
)
@click.option(
    "--dry-run", is_flag=True, help="Print the plan and SQL, run it in a transaction, roll it back."
)
@click.option(
    "--embedding-dim",
    type=int,
    metavar="N",
    help="Embedding dimension, 1 to 16000, fixed at install (default 1536); checked in SQL.",
)
@click.option(
    "--text-search-config",
    metavar="NAME",
    help="Text-search configuration of the memories (default english; simple for multilingual"
    " text), fixed at install; checked in SQL.",
)
@click.option(
    "--embedding-type",
    metavar="TYPE",
    help="How embeddings are stored: vector (4-byte floats, the default) or halfvec (2-byte"
    " floats, half the storage and index), fixed at install; checked in SQL.",
)
@common_options()
def apply(
    ctx: Context,
    target: str | None,
    dry_run: bool,
    embedding_dim: int | None,
    text_search_config: str | None,
    embedding_type: str | None,
) -> int:
    """Apply pending migrations, each in one transaction with its ledger row."""
    report = ctx.runner().apply(
        to=target,
        dry_run=dry_run,
        embedding_dim=embedding_dim,
        text_search_config=text_search_config,
        embedding_type=embedding_type,
        show_sql=not ctx.as_json,
    )
    return _finish(ctx, report)


@cli.command(epilog=EXIT_CODES)
@click.option(
    "--steps",
    type=click.IntRange(min=1),
    metavar="N",
    help="Roll back the last N applied migrations (default 1).",
)
@click.option(
    "--to", "target", metavar="ID", help="Roll back every migration applied after ID (ID stays)."
)
@click.option("--all", "everything", is_flag=True, help="Roll back every applied migration.")
@click.option(
    "--dry-run", is_flag=True, help="Print the plan and SQL, run it in a transaction, roll it back."
)
@common_options()
def rollback(
    ctx: Context, steps: int | None, target: str | None, everything: bool, dry_run: bool
) -> int:
    """Roll back applied migrations with rollbacks/<id>.sql, newest first."""
    if sum(x is not None and x is not False for x in (steps, target, everything)) > 1:
        raise click.UsageError("use only one of --steps, --to and --all")
    report = ctx.runner().rollback(
        steps=steps, to=target, everything=everything, dry_run=dry_run, show_sql=not ctx.as_json
    )
    return _finish(ctx, report)


@cli.command(epilog=EXIT_CODES)
@common_options()
def status(ctx: Context) -> int:
    """Every migration: applied or pending, when, by whom, and whether its files changed."""
    migrations = load_migrations(ctx.project)
    with connect(ctx.url, ctx.settings, notices=ctx.echo) as conn:
        rows = status_rows(conn, migrations)
    if ctx.as_json:
        emit_json(
            {
                "migrations": [asdict(r) for r in rows],
                "applied": sum(r.state == "applied" for r in rows),
                "pending": sum(r.state == "pending" for r in rows),
            }
        )
    else:
        click.echo(
            table(
                ["id", "state", "applied at", "by", "ms", "checksum", "rollback"],
                [
                    [
                        r.id,
                        r.state,
                        r.applied_at,
                        r.applied_by,
                        r.duration_ms,
                        r.checksum,
                        r.rollback,
                    ]
                    for r in rows
                ],
            )
        )
    return EXIT_OK


@cli.command(epilog=EXIT_CODES)
@click.option("--allow-pending", is_flag=True, help="Do not report pending migrations as problems.")
@common_options()
def verify(ctx: Context, allow_pending: bool) -> int:
    """Check files, ledger, yoyo's tables and sql/ against the database; exit 3 on problems."""
    migrations = load_migrations(ctx.project)
    with connect(ctx.url, ctx.settings, notices=lambda _m: None) as conn:
        problems = run_verify(
            conn, ctx.project, migrations, allow_pending=allow_pending, url=ctx.url
        )
    if ctx.as_json:
        emit_json({"ok": not problems, "problems": [asdict(p) for p in problems]})
    elif problems:
        for problem in problems:
            click.echo(f"PROBLEM [{problem.kind}] {problem.message}")
    else:
        click.echo(
            f"verify: ok ({len(migrations)} migrations, sql/ and {ctx.project.schema_file.name}"
            " agree with the database)"
        )
    return EXIT_PROBLEMS if problems else EXIT_OK


@cli.command(name="schema", epilog=EXIT_CODES)
@common_options()
def write_schema(ctx: Context) -> int:
    """Write schema.sql: every table, index, constraint, view, trigger and policy, for review."""
    with connect(ctx.url, ctx.settings, notices=lambda _m: None) as conn:
        schemas = project_schemas(conn, ctx.project.sql_schemas())
        path = schema.write(conn, ctx.url, schemas, ctx.project.schema_file)
    if ctx.as_json:
        emit_json({"written": str(path)})
    else:
        click.echo(f"wrote {path}")
    return EXIT_OK


@cli.command(epilog=EXIT_CODES)
@click.argument("name")
@click.option(
    "--dir", "project_dir", envvar="MEMPG_DIR", type=click.Path(file_okay=False, path_type=Path)
)
def new(name: str, project_dir: Path | None) -> int:
    """Scaffold migrations/NNNN_NAME.sql and rollbacks/NNNN_NAME.sql."""
    project = _project(project_dir)
    migration, rollback = new_migration(project, name)
    click.echo(f"created {migration}\ncreated {rollback}")
    return EXIT_OK


@cli.group()
def db() -> None:
    """The embedded PostgreSQL server (data in .pgdata/ or $MEMPG_DATA)."""


_project = project_at


dir_option = click.option(
    "--dir", "project_dir", envvar="MEMPG_DIR", type=click.Path(file_okay=False, path_type=Path)
)


@db.command("start")
@click.option(
    "--archive/--no-archive",
    default=None,
    help="Switch continuous WAL archiving on (into $MEMPG_WAL_ARCHIVE, default <data>-wal-archive)"
    " or off; it stays so. Default: unchanged (off on a new server).",
)
@dir_option
def db_start(archive: bool | None, project_dir: Path | None) -> int:
    """Start the embedded server (or reuse the running one) and print its URL.

    After a crash it waits for recovery however long it takes ($MEMPG_START_TIMEOUT seconds,
    default 3600), reporting progress every 10 s."""
    info = embedded.start(_project(project_dir).root, archive=archive)
    click.echo(f"embedded PostgreSQL running (pid {info.pid}, data {info.pgdata})\n{info.url()}")
    return EXIT_OK


db.add_command(replica_group)
db.add_command(pooler_group)
cli.add_command(mcp_command)


@db.command("stop")
@dir_option
def db_stop(project_dir: Path | None) -> int:
    """Stop the embedded server."""
    stopped = embedded.stop(_project(project_dir).root)
    click.echo("embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running")
    return EXIT_OK


@db.command("status")
@dir_option
@click.option("--json", "as_json", is_flag=True)
def db_status(project_dir: Path | None, as_json: bool) -> int:
    """Whether the embedded server runs, and its sizing (mempg.conf); exit 1 when it does not run."""
    project = _project(project_dir)
    info = embedded.status(project.root)
    from runner import sizing

    pgdata = embedded.data_dir(project.root)
    payload = {
        "running": info is not None,
        "data": str(pgdata),
        "pid": info.pid if info else None,
        "url": info.url() if info else None,
        "sizing": sizing.report(pgdata, info.url("postgres") if info else None),
    }
    if as_json:
        emit_json(payload)
        return EXIT_OK if info else EXIT_FAILURE
    click.echo(f"running (pid {info.pid}): {info.url()}" if info else "not running")
    sized = payload["sizing"]
    if not sized["sized"]:
        if (pgdata / "PG_VERSION").exists():
            click.echo(f"not sized to the machine (no {sized['file']}; MEMPG_SIZING=off?)")
        return EXIT_OK if info else EXIT_FAILURE
    machine = sized["machine"]
    click.echo(
        f"sized for {machine['memory']} of memory, {machine['cores']} cores, {machine['storage']}"
        f" storage ({sized['file']}):"
    )
    click.echo(
        table(
            [
                "setting",
                "in effect" if info else "in the file",
                "set by",
                "mempg's value",
                "restart",
            ],
            [
                [
                    s["name"],
                    s["value"] if info else s["in_file"],
                    s["set_by"],
                    s["mempg"] or "",
                    "pending" if s["pending_restart"] else "",
                ]
                for s in sized["settings"]
            ],
        )
    )
    return EXIT_OK if info else EXIT_FAILURE


@db.command("url")
@click.option("--database", envvar="DATABASE_URL", metavar="URL")
@dir_option
def db_url(database: str | None, project_dir: Path | None) -> int:
    """Print the URL the commands use (DATABASE_URL, else the embedded server's)."""
    click.echo(database or embedded.start(_project(project_dir).root).url())
    return EXIT_OK


@db.command("psql", context_settings={"ignore_unknown_options": True})
@click.option("--database", envvar="DATABASE_URL", metavar="URL")
@dir_option
@click.argument("psql_args", nargs=-1, type=click.UNPROCESSED)
def db_psql(database: str | None, project_dir: Path | None, psql_args: tuple[str, ...]) -> int:
    """Open the wheel's own psql on the database; extra arguments go to psql."""
    url = database or embedded.start(_project(project_dir).root).url()
    psql = str(embedded.bin_path("psql"))
    sys.stdout.flush()
    os.execv(psql, [psql, url, *psql_args])


def main() -> None:
    try:
        code = cli.main(standalone_mode=False)
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        code = EXIT_FAILURE
    except RunnerError as exc:
        click.echo(f"mempg: {exc}", err=True)
        code = exc.exit_code
    except psycopg.Error as exc:
        click.echo(f"mempg: database error: {first_line(exc)}", err=True)
        code = EXIT_FAILURE
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        code = 130
    sys.exit(code if isinstance(code, int) else EXIT_OK)


@cli.group()
def keys() -> None:
    """Users' API keys: master key generation and rotation (MEMPG_MASTER_KEY_<version>)."""


@keys.command("generate")
def keys_generate() -> int:
    """Print a new random master key (base64 of 32 bytes) for MEMPG_MASTER_KEY_<version>."""
    from runner.keys import generate_master_key

    click.echo(generate_master_key())
    return EXIT_OK


@keys.command("rotate", epilog=EXIT_CODES)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 100_000),
    default=500,
    show_default=True,
    help="Rows re-encrypted per committed batch.",
)
@click.option(
    "--max-batches", type=click.IntRange(min=1), help="Stop after this many batches (resume later)."
)
@common_options()
def keys_rotate(ctx: Context, batch_size: int, max_batches: int | None) -> int:
    """Re-encrypt every API key onto the newest master key version, in batches; resumable."""
    from runner.keys import Keyring, rotate

    keyring = Keyring.from_env()
    with connect(ctx.url, ctx.settings, notices=ctx.echo) as conn:
        report = rotate(
            conn, keyring, batch_size=batch_size, max_batches=max_batches, echo=ctx.echo
        )
    if ctx.as_json:
        emit_json(asdict(report))
    else:
        click.echo(
            f"rotated {report.rotated} key(s) onto version {report.newest_version} in"
            f" {report.batches} batch(es); {report.remaining} left on older versions"
        )
        for failure in report.failed:
            click.echo(f"FAILED {failure}", err=True)
    return EXIT_FAILURE if report.failed else EXIT_OK


STATUS_COLOURS = {"ok": "green", "warning": "yellow", "critical": "red"}


@cli.command(
    epilog="""\b
Exit codes:
  0  every check is ok
  1  a critical finding (or the database is unreachable)
  3  warnings only
"""
)
@common_options()
def health(ctx: Context) -> int:
    """Health report from ops.health_report(): metrics, findings and a 0-100 score."""
    from runner.operations import health_report

    with connect(ctx.url, ctx.settings, notices=lambda _m: None) as conn:
        report = health_report(conn)
    if ctx.as_json:
        emit_json(report)
    else:
        colour = sys.stdout.isatty()

        def paint(status: str) -> str:
            return click.style(status, fg=STATUS_COLOURS.get(status)) if colour else status

        click.echo(
            table(
                ["metric", "value", "status", "detail"],
                [
                    [m["metric"], m["value"], paint(m["status"]), m["detail"]]
                    for m in report["database_health"]
                ],
            )
        )
        click.echo()
        for deduction in report["deductions"]:
            click.echo(
                f"-{deduction['points']:>3}  {paint(deduction['severity'])}  {deduction['reason']}"
            )
        refused = [r for r in report.get("quota_refusals", []) if r["refusals"]]
        click.echo(
            f"quota refusals: {sum(r['refusals'] for r in refused)}"
            + (
                " ("
                + ", ".join(f"{r['kind']} {r['operation']} {r['refusals']}" for r in refused)
                + ")"
                if refused
                else ""
            )
        )
        for user in report.get("quota_pressure", []):
            if float(user["pressure"]) >= 0.8:
                click.echo(
                    f"  near a limit: {user['user_id']} (plan {user['plan']}, pressure {user['pressure']},"
                    f" {user['memories']} memories, emptiest bucket {user['tightest_operation']})"
                )
        click.echo(f"score {report['score']}/100, status {paint(report['status'])}")
    return {"ok": EXIT_OK, "critical": EXIT_FAILURE}.get(report["status"], EXIT_PROBLEMS)


@cli.command(epilog=EXIT_CODES)
@click.option("--vacuum", is_flag=True, help="VACUUM (ANALYZE) every table of mempg's schemas.")
@click.option(
    "--reindex",
    is_flag=True,
    help="Rebuild vector indexes whose parameters no longer fit their rows.",
)
@common_options()
def maintain(ctx: Context, vacuum: bool, reindex: bool) -> int:
    """Decay, cleanup and ANALYZE of memories; optionally VACUUM and REINDEX. Takes the runner's lock,
    so two at once (or one during a migration) never overlap: the second waits --lock-wait seconds,
    then skips cleanly (exit 0), which suits cron."""
    from runner.database import migration_lock
    from runner.operations import maintain as run_maintenance

    try:
        with (
            migration_lock(ctx.url, ctx.settings, on_wait=lambda m: click.echo(m, err=True)),
            connect(ctx.url, ctx.settings, notices=ctx.echo) as conn,
        ):
            conn.execute(
                "SET statement_timeout = 0"
            )  # VACUUM and REINDEX take as long as they take
            report = run_maintenance(conn, vacuum=vacuum, reindex=reindex, echo=ctx.echo)
    except RunnerError as exc:
        if "holds the migration lock" not in str(exc):
            raise
        message = "skipped: another mempg runner is working on this database"
        if ctx.as_json:
            emit_json({"skipped": True, "reason": message})
        else:
            click.echo(message)
        return EXIT_OK
    if ctx.as_json:
        emit_json({"skipped": False, **asdict(report)})
    else:
        click.echo(
            f"maintained: {len(report.vacuumed)} table(s) vacuumed, {len(report.reindexed)} index(es) rebuilt,"
            f" {sum(i['action'] == 'create' for i in report.user_indexes)} per-user index(es) built,"
            f" {sum(i['action'] == 'drop' for i in report.user_indexes)} dropped"
        )
    return EXIT_OK


TUNE_EXIT_CODES = """\b
Exit codes:
  0  every setting is as recommended
  1  failure (the database is unreachable)
  2  usage error: a bad --memory/--cores/--storage/--connections, or the
     server's memory or cores unknown (give --memory and --cores)
  3  differences found: settings that mempg would change
"""


@cli.command(epilog=TUNE_EXIT_CODES)
@click.option(
    "--memory",
    metavar="SIZE",
    help="The server's memory (16GB, 16384MB). Default: the embedded server's machine (cgroup"
    " limits first, $MEMPG_SERVER_MEMORY); another server's mempg.machine_memory setting.",
)
@click.option("--cores", type=int, metavar="N", help="Its CPU cores (default: as --memory).")
@click.option(
    "--storage",
    type=click.Choice(["ssd", "hdd"]),
    help="Its storage (default: mempg.storage, else ssd).",
)
@click.option(
    "--connections",
    type=int,
    metavar="N",
    help="Server connections the pooler needs (default 40: two pools of 20).",
)
@common_options()
def tune(
    ctx: Context,
    memory: str | None,
    cores: int | None,
    storage: str | None,
    connections: int | None,
) -> int:
    """What ops.recommended_settings() would change on the server, beside what is in effect.
    Changes nothing: set a value with ALTER SYSTEM (or, on the embedded server, restart it to
    take mempg.conf's)."""
    from runner import sizing

    if ctx.uses_embedded:
        machine = sizing.detect()
        memory = memory or machine.memory
        cores = cores or machine.cores
        storage = storage or machine.storage
    with connect(ctx.url, ctx.settings, notices=lambda _m: None) as conn:
        try:
            rows = sizing.recommend(
                conn,
                ctx.project.root,
                memory=memory,
                cores=cores,
                storage=storage,
                connections=connections,
            )
        except psycopg.errors.DataException as exc:
            hint = f" ({exc.diag.message_hint})" if exc.diag.message_hint else ""
            raise click.UsageError(f"{exc.diag.message_primary}{hint}") from None
    differ = [r for r in rows if r.differs]
    if ctx.as_json:
        emit_json(
            {
                "inputs": {
                    "memory": memory,
                    "cores": cores,
                    "storage": storage,
                    "connections": connections,
                },
                "differences": len(differ),
                "settings": [asdict(r) for r in rows],
            }
        )
    else:
        click.echo(
            table(
                ["setting", "in effect", "recommended", "restart", "from", "why"],
                [
                    [
                        r.name,
                        r.current_value,
                        r.recommended_value if r.differs else "=",
                        "yes" if r.needs_restart and r.differs else "",
                        r.source,
                        r.reason,
                    ]
                    for r in rows
                ],
            )
        )
        click.echo(
            f"{len(differ)} setting(s) differ from the recommendation; nothing was changed"
            if differ
            else "every setting is as recommended"
        )
    return EXIT_PROBLEMS if differ else EXIT_OK


@cli.command(epilog=EXIT_CODES)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Backup file (default backups/<db>-<time>.dump).",
)
@click.option(
    "--verify",
    "check",
    is_flag=True,
    help="Restore into a scratch database, compare every table's rows and checksum, run verify, drop it.",
)
@click.option(
    "--base",
    is_flag=True,
    help="A base backup (pg_basebackup, verified) for point-in-time recovery, instead of a dump.",
)
@click.option(
    "--base-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of the base backups (default backups/base); each goes into <UTC time>/.",
)
@click.option(
    "--retain",
    type=click.IntRange(min=1),
    default=DEFAULT_RETAIN,
    show_default=True,
    help="With --base: keep this many base backups, and the archived WAL they need.",
)
@common_options()
def backup(
    ctx: Context, out: Path | None, check: bool, base: bool, base_dir: Path | None, retain: int
) -> int:
    """pg_dump in custom format with the server's own pg_dump; --verify proves it restores.
    With --base, a base backup for point-in-time recovery (see `mempg restore --base`)."""
    import datetime

    from runner import operations

    if base:
        if out is not None or check:
            raise click.UsageError(
                "--out and --verify are for dumps; a base backup is always verified"
            )
        return base_backup(
            ctx.url,
            ctx.project,
            base_dir,
            retain,
            embedded_server=ctx.uses_embedded,
            as_json=ctx.as_json,
        )

    database = psycopg.conninfo.conninfo_to_dict(ctx.url).get("dbname") or "mempg"
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    target = out or ctx.project.root / "backups" / f"{database}-{stamp}.dump"
    operations.backup(ctx.url, target)
    result: dict[str, Any] = {"file": str(target), "bytes": target.stat().st_size, "verified": None}
    ctx.echo(f"backup written: {target} ({target.stat().st_size} bytes)")
    code = EXIT_OK
    if check:
        scratch = operations.scratch_name()
        scratch_url = operations.create_database(ctx.url, scratch)
        try:
            operations.restore(target, scratch_url)
            source, restored = (
                operations.table_fingerprints(ctx.url),
                operations.table_fingerprints(scratch_url),
            )
            differences = sorted(
                t for t in source.keys() | restored.keys() if source.get(t) != restored.get(t)
            )
            with connect(scratch_url, ctx.settings, notices=lambda _m: None) as conn:
                problems = run_verify(
                    conn,
                    ctx.project,
                    load_migrations(ctx.project),
                    allow_pending=False,
                    url=scratch_url,
                )
        finally:
            operations.drop_database(ctx.url, scratch)
        result.update(
            verified=not differences and not problems,
            tables=len(source),
            rows=sum(count for count, _ in source.values()),
            differences=differences,
            verify_problems=[asdict(p) for p in problems],
        )
        ctx.echo(
            f"restored into {scratch}: {len(source)} tables, {result['rows']} rows;"
            f" {len(differences)} differ; verify found {len(problems)} problem(s); scratch dropped"
        )
        code = EXIT_OK if result["verified"] else EXIT_FAILURE
    if ctx.as_json:
        emit_json(result)
    return code


@cli.command(epilog=EXIT_CODES)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path), required=False)
@click.option(
    "--into",
    "into_url",
    metavar="URL|DIR",
    help="Restore into this existing, empty database; with --base, the new data folder.",
)
@click.option(
    "--new-db", metavar="NAME", help="Create this database on the server and restore into it."
)
@click.option(
    "--base",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Point-in-time recovery from this base backup plus the WAL archive, into a new server.",
)
@click.option("--to-time", metavar="TIMESTAMPTZ", help="With --base: recover up to this time.")
@click.option("--to-lsn", metavar="LSN", help="With --base: recover up to this WAL position.")
@click.option(
    "--archive",
    "wal_archive",
    type=click.Path(file_okay=False, path_type=Path),
    help="With --base: the WAL archive (default $MEMPG_WAL_ARCHIVE, else <data>-wal-archive).",
)
@click.option(
    "--dbname", default="mempg", show_default=True, help="With --base: the database to verify."
)
@click.option(
    "--stop", "stop_after", is_flag=True, help="With --base: stop the restored server afterwards."
)
@common_options()
def restore(
    ctx: Context,
    file: Path | None,
    into_url: str | None,
    new_db: str | None,
    base: Path | None,
    to_time: str | None,
    to_lsn: str | None,
    wal_archive: Path | None,
    dbname: str,
    stop_after: bool,
) -> int:
    """Restore a backup (one transaction), then run verify on the result (exit 3 on problems).

    With --base DIR (--to-time T | --to-lsn L) --into NEW_DATA_DIR: start a new server from the
    base backup, replay archived WAL up to the target, promote it, verify it and count its rows;
    the source server, the base backup and the archive are left untouched."""
    from runner import operations

    if base is not None:
        if file is not None or new_db is not None:
            raise click.UsageError("--base restores a base backup: give no FILE and no --new-db")
        if into_url is None or (to_time is None) == (to_lsn is None):
            raise click.UsageError(
                "--base needs --into NEW_DATA_DIR and one of --to-time, --to-lsn"
            )
        return point_in_time_restore(
            ctx.project,
            ctx.settings,
            base=base,
            into=Path(into_url),
            wal=wal_archive,
            to_time=to_time,
            to_lsn=to_lsn,
            dbname=dbname,
            stop_after=stop_after,
            as_json=ctx.as_json,
        )
    if file is None:
        raise click.UsageError("give the backup FILE (or --base DIR for point-in-time recovery)")
    if (into_url is None) == (new_db is None):
        raise click.UsageError("give exactly one of --into URL and --new-db NAME")
    target = into_url or operations.create_database(ctx.url, str(new_db))
    operations.restore(file, target)
    with connect(target, ctx.settings, notices=lambda _m: None) as conn:
        problems = run_verify(
            conn, ctx.project, load_migrations(ctx.project), allow_pending=False, url=target
        )
    if ctx.as_json:
        emit_json(
            {"restored_into": target, "ok": not problems, "problems": [asdict(p) for p in problems]}
        )
    else:
        click.echo(f"restored {file} into {target}")
        for problem in problems:
            click.echo(f"PROBLEM [{problem.kind}] {problem.message}")
        click.echo("verify: ok" if not problems else f"verify found {len(problems)} problem(s)")
    return EXIT_PROBLEMS if problems else EXIT_OK


@cli.command(context_settings={"ignore_unknown_options": True})
@click.option(
    "--mode", type=click.Choice(["quick", "full", "quality"]), default="quick", show_default=True
)
@click.option(
    "--compare",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Baseline JSON: exit 1 when a ratio or a recall regresses beyond tolerance.",
)
@dir_option
def bench(mode: str, compare: Path | None, project_dir: Path | None) -> int:
    """Run the benchmark in bench/ (the same as `make bench` / `make bench-check`)."""
    project = _project(project_dir)
    command = [sys.executable, "-m", "bench", "--mode", mode]
    if compare is not None:
        command += ["--compare", str(compare.resolve()), "--no-write"]
    import subprocess

    return subprocess.run(command, cwd=project.root, check=False).returncode


from runner.cli_import import register as _register_import  # noqa: E402

_register_import(cli, common_options)
