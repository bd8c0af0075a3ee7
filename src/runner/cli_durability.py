"""`mempg db replica ...`, `mempg db pooler ...`, and the base-backup and point-in-time halves of
`mempg backup` and `mempg restore`: thin shells around runner.replica, runner.pooler,
runner.archive and runner.pitr."""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
import psycopg

from runner import archive, cluster, embedded, pitr, pooler, replica
from runner.config import Project, SessionSettings, project_at
from runner.database import connect
from runner.errors import EXIT_FAILURE, EXIT_OK, EXIT_PROBLEMS, RunnerError
from runner.operations import table_fingerprints
from runner.output import emit_json
from runner.project import load_migrations
from runner.verify import verify as run_verify


def _err(message: str) -> None:
    click.echo(message, err=True)


def _primary(project: Project) -> cluster.Postmaster:
    """The embedded server, started if needed, as the primary of replicas and poolers."""
    info = embedded.start(project.root)
    postmaster = cluster.read_postmaster(info.pgdata)
    if postmaster is None:
        raise RunnerError(f"the embedded server in {info.pgdata} is not running")
    return postmaster


def _running_primary(project: Project) -> cluster.Postmaster | None:
    return cluster.read_postmaster(embedded.data_dir(project.root))


dir_option = click.option(
    "--dir", "project_dir", envvar="MEMPG_DIR", type=click.Path(file_okay=False, path_type=Path)
)
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


# ------------------------------------------------------------------ replica
@click.group("replica")
def replica_group() -> None:
    """A streaming read replica of the embedded server (data in <data>-replica or $MEMPG_REPLICA_DATA)."""


@replica_group.command("start")
@click.option(
    "--synchronous/--asynchronous",
    default=None,
    help="Make the primary wait for the replica on every commit (or stop waiting). Default: unchanged (asynchronous at first).",
)
@dir_option
@json_option
def replica_start(synchronous: bool | None, project_dir: Path | None, as_json: bool) -> int:
    """Create the replica on first use (pg_basebackup with a slot), start it, print its URL."""
    project = project_at(project_dir)
    primary = _primary(project)
    folder = replica.replica_dir(primary.pgdata)
    info = replica.start(primary, folder, synchronous=synchronous, echo=_err)
    url = info.url("mempg")
    if as_json:
        emit_json({"running": True, "data": str(folder), "url": url, "port": info.port})
    else:
        click.echo(f"replica running (pid {info.pid}, data {folder}), read-only:\n{url}")
    return EXIT_OK


@replica_group.command("stop")
@click.option("--remove", is_flag=True, help="Also delete the replica's data folder and its slot.")
@dir_option
def replica_stop(remove: bool, project_dir: Path | None) -> int:
    """Stop the replica (the primary stops waiting for it first)."""
    project = project_at(project_dir)
    primary = _running_primary(project)
    folder = replica.replica_dir(embedded.data_dir(project.root))
    was_running = replica.stop(primary, folder, remove=remove, echo=_err)
    click.echo("replica stopped" if was_running else "replica was not running")
    return EXIT_OK


@replica_group.command("promote")
@dir_option
@json_option
def replica_promote(project_dir: Path | None, as_json: bool) -> int:
    """Promote the replica to a primary (failover): it takes writes on a new timeline."""
    project = project_at(project_dir)
    folder = replica.replica_dir(embedded.data_dir(project.root))
    info = replica.promote(folder, echo=_err)
    url = info.url("mempg")
    if as_json:
        emit_json({"promoted": True, "data": str(folder), "url": url})
    else:
        click.echo(f"replica promoted: it is a primary now, read-write:\n{url}")
        click.echo(
            "Point DATABASE_URL at it. Do not start the old primary again as a primary:"
            " rebuild it from the new one.",
            err=True,
        )
    return EXIT_OK


@replica_group.command("status")
@dir_option
@json_option
def replica_status(project_dir: Path | None, as_json: bool) -> int:
    """Whether the replica runs, its role, its lag (bytes, seconds); exit 1 when it does not run."""
    project = project_at(project_dir)
    folder = replica.replica_dir(embedded.data_dir(project.root))
    report = replica.status(_running_primary(project), folder)
    if as_json:
        emit_json(report.as_json())
    elif not report.running:
        click.echo(f"replica not running (data {folder})")
    else:
        role = "standby" if report.in_recovery else "primary (promoted)"
        lag = report.lag
        click.echo(f"replica running as {role}: {report.url}")
        if lag:
            click.echo(
                f"lag: {lag.get('lag_bytes')} bytes, {lag.get('lag_seconds')} s;"
                f" streaming: {lag.get('streaming')}"
            )
        if report.primary:
            click.echo(f"primary sees it: {report.primary}")
    return EXIT_OK if report.running else EXIT_FAILURE


# ------------------------------------------------------------------- pooler
@click.group("pooler")
def pooler_group() -> None:
    """pgbouncer in transaction mode in front of the server (needs the pgbouncer binary)."""


@pooler_group.command("start")
@click.option(
    "--database",
    envvar="DATABASE_URL",
    metavar="URL",
    help="Server to pool (default: the embedded one).",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    help="Port of the pooler's socket (default: a free one).",
)
@click.option(
    "--pool-size",
    type=click.IntRange(1, 1000),
    default=20,
    show_default=True,
    help="Server connections per database and user.",
)
@dir_option
@json_option
def pooler_start(
    database: str | None, port: int | None, pool_size: int, project_dir: Path | None, as_json: bool
) -> int:
    """Start pgbouncer (transaction pooling) and print the URL applications use."""
    project = project_at(project_dir)
    upstream = database or embedded.start(project.root).url()
    folder = pooler.pooler_dir(embedded.data_dir(project.root))
    info = pooler.start(upstream, folder, port=port, pool_size=pool_size)
    if as_json:
        emit_json({"running": True, "pid": info.pid, "url": info.url(), "folder": str(folder)})
    else:
        click.echo(f"pgbouncer running (pid {info.pid}, transaction pooling):\n{info.url()}")
    return EXIT_OK


@pooler_group.command("stop")
@dir_option
def pooler_stop(project_dir: Path | None) -> int:
    """Stop pgbouncer."""
    project = project_at(project_dir)
    stopped = pooler.stop(pooler.pooler_dir(embedded.data_dir(project.root)))
    click.echo("pgbouncer stopped" if stopped else "pgbouncer was not running")
    return EXIT_OK


@pooler_group.command("status")
@dir_option
@json_option
def pooler_status(project_dir: Path | None, as_json: bool) -> int:
    """Whether pgbouncer runs; exit 1 when it does not."""
    project = project_at(project_dir)
    info = pooler.running(pooler.pooler_dir(embedded.data_dir(project.root)))
    if as_json:
        emit_json({"running": info is not None, "url": info.url() if info else None})
    else:
        click.echo(f"running (pid {info.pid}): {info.url()}" if info else "not running")
    return EXIT_OK if info else EXIT_FAILURE


# ------------------------------------------------------ base backup and PITR
def base_backup(
    url: str,
    project: Project,
    base_dir: Path | None,
    retain: int,
    *,
    embedded_server: bool,
    as_json: bool,
) -> int:
    """`mempg backup --base`: pg_basebackup, pg_verifybackup, retention. Archived WAL is pruned
    only in the archive known to belong to this server: the embedded server's, or
    MEMPG_WAL_ARCHIVE when it is set (never the embedded one's for another server's backup)."""
    folder = (base_dir or project.root / "backups" / "base").resolve()
    known = embedded_server or bool(os.environ.get("MEMPG_WAL_ARCHIVE"))
    wal = archive.wal_archive_dir(embedded.data_dir(project.root)) if known else None
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT current_setting('archive_mode')").fetchone()
    if row is None or row[0] == "off":
        _err(
            "warning: WAL archiving is off: this base backup restores to its own end only"
            " (turn archiving on with `mempg db start --archive`)"
        )
    backup = archive.take_base_backup(url, folder, retain=retain, echo=_err)
    deleted = archive.apply_retention(
        folder, wal if wal is not None and wal.is_dir() else None, retain=retain, echo=_err
    )
    if as_json:
        emit_json({**backup.as_json(), "deleted": [str(p) for p in deleted], "retain": retain})
    else:
        click.echo(f"base backup: {backup.path}")
    return EXIT_OK


def point_in_time_restore(
    project: Project,
    settings: SessionSettings,
    *,
    base: Path,
    into: Path,
    wal: Path | None,
    to_time: str | None,
    to_lsn: str | None,
    dbname: str,
    stop_after: bool,
    as_json: bool,
) -> int:
    """`mempg restore --base`: recover into a new data folder, then verify it and count its rows."""
    folder = (wal or archive.wal_archive_dir(embedded.data_dir(project.root))).resolve()
    restored = pitr.restore_to_point(
        base.resolve(), into.resolve(), archive=folder, to_time=to_time, to_lsn=to_lsn, echo=_err
    )
    url = restored.url(dbname)
    try:
        with connect(url, settings, notices=lambda _m: None) as conn:
            problems = run_verify(conn, project, load_migrations(project), allow_pending=False)
        rows = {table: count for table, (count, _digest) in table_fingerprints(url).items()}
    finally:
        if stop_after:
            cluster.stop(restored.pgdata)
    result: dict[str, Any] = {
        "restored_into": str(restored.pgdata),
        "url": url,
        "running": not stop_after,
        "recovery_seconds": round(restored.seconds, 2),
        "replayed_to_lsn": restored.replayed_to_lsn,
        "last_commit_at": restored.last_commit_at,
        "rows": rows,
        "ok": not problems,
        "problems": [asdict(p) for p in problems],
    }
    if as_json:
        emit_json(result)
    else:
        click.echo(f"restored into {restored.pgdata} in {restored.seconds:.1f} s: {url}")
        click.echo(f"{len(rows)} tables, {sum(rows.values())} rows")
        for problem in problems:
            click.echo(f"PROBLEM [{problem.kind}] {problem.message}")
        click.echo("verify: ok" if not problems else f"verify found {len(problems)} problem(s)")
        if not stop_after:
            click.echo(f"stop it with: MEMPG_DATA={restored.pgdata} mempg db stop", err=True)
    return EXIT_PROBLEMS if problems else EXIT_OK
