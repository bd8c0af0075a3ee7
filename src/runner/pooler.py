"""pgbouncer in transaction mode in front of the server, when the pgbouncer binary is installed
(Debian: `apt-get install -y pgbouncer`, as root).

In transaction mode a server connection belongs to a client for one transaction only, then goes to
the next client, without any reset. That is safe for mempg because identity is transaction-local
(`set_config('app.user_id', ..., true)`, `SET LOCAL ROLE`) and no API function leaves session
state behind; clients must not rely on session state either: no session-level SET, no LISTEN, no
session advisory locks, and no server-side prepared statements (pgbouncer 1.18 does not track
them: in psycopg, `prepare_threshold=None`).

pgbouncer refuses to run as root, so as root it runs as the wheel's server user, which can reach
the server's socket. It listens on a Unix socket only, in its own folder (MEMPG_POOLER_DIR,
default `<data folder>-pooler`), on a port of its own; every database name is passed through.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

from runner import cluster
from runner.errors import RunnerError

INSTALL_HINT = "pgbouncer is not installed: as root, apt-get install -y pgbouncer"
WAIT_SECONDS = 30.0


def pgbouncer_binary() -> str | None:
    """The pgbouncer program on PATH (or Debian's /usr/sbin), None when it is not installed."""
    return shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin:/usr/local/sbin")


def pooler_dir(pgdata: Path) -> Path:
    explicit = os.environ.get("MEMPG_POOLER_DIR")
    return Path(explicit or pgdata.parent / f"{pgdata.name}-pooler").resolve()


@dataclass(frozen=True)
class Pooler:
    folder: Path
    pid: int
    port: int

    def url(self, database: str = "mempg") -> str:
        """What the application connects to (psycopg: add prepare_threshold=None)."""
        return f"postgresql://postgres@/{database}?host={self.folder}&port={self.port}"


def running(folder: Path) -> Pooler | None:
    pidfile, ini = folder / "pgbouncer.pid", folder / "pgbouncer.ini"
    try:
        pid = int(pidfile.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    if not cluster.process_alive(pid):
        return None
    try:
        ports = [
            int(line.split("=", 1)[1])
            for line in ini.read_text().splitlines()
            if line.startswith("listen_port")
        ]
    except (FileNotFoundError, ValueError):
        return None
    return Pooler(folder, pid, ports[0]) if ports else None


def _config(folder: Path, upstream: str, port: int, pool_size: int) -> str:
    params = conninfo_to_dict(upstream)
    host, server_port = params.get("host"), params.get("port", "5432")
    if not host:
        raise RunnerError("the pooler needs the server's host or socket folder in its URL")
    target = f"host={host} port={server_port}"
    return "\n".join(
        [
            "; written by mempg db pooler start; edits are overwritten",
            "[databases]",
            f"* = {target}",
            "",
            "[pgbouncer]",
            "pool_mode = transaction",
            f"listen_port = {port}",
            f"unix_socket_dir = {folder}",
            "unix_socket_mode = 0777",
            "auth_type = trust",
            f"auth_file = {folder / 'userlist.txt'}",
            "admin_users = postgres",
            "stats_users = postgres",
            f"default_pool_size = {pool_size}",
            "max_client_conn = 1000",
            "ignore_startup_parameters = extra_float_digits",
            f"logfile = {folder / 'pgbouncer.log'}",
            f"pidfile = {folder / 'pgbouncer.pid'}",
            "",
        ]
    )


def start(upstream: str, folder: Path, *, port: int | None, pool_size: int) -> Pooler:
    """Write the configuration and start pgbouncer (idempotent: a running one is returned)."""
    binary = pgbouncer_binary()
    if binary is None:
        raise RunnerError(INSTALL_HINT)
    current = running(folder)
    if current is not None:
        return current
    cluster.check_reachable(folder)
    cluster.server_folder(folder, 0o755)  # clients need to reach the socket inside
    chosen = port or cluster.free_port()
    user = conninfo_to_dict(upstream).get("user") or "postgres"
    (folder / "pgbouncer.ini").write_text(_config(folder, upstream, chosen, pool_size))
    (folder / "userlist.txt").write_text(f'"postgres" ""\n"{user}" ""\n')
    cluster.give_to_server(folder)
    result = subprocess.run(
        [binary, "-d", str(folder / "pgbouncer.ini")],
        user=cluster.server_user(),
        cwd="/",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise RunnerError(f"pgbouncer did not start: {(result.stderr or result.stdout).strip()}")
    deadline = time.monotonic() + WAIT_SECONDS
    socket_file = folder / f".s.PGSQL.{chosen}"
    while True:
        started = running(folder)
        if started is not None and socket_file.exists():
            return started
        if time.monotonic() > deadline:
            log = cluster.log_tail(folder / "pgbouncer.log")
            raise RunnerError(f"pgbouncer did not open {socket_file}; its log:\n  {log}")
        time.sleep(cluster.POLL_SECONDS)


def stop(folder: Path) -> bool:
    """Stop pgbouncer (SIGINT: safe shutdown, after the current transactions); False when not running."""
    current = running(folder)
    if current is None:
        return False
    os.kill(current.pid, signal.SIGINT)
    deadline = time.monotonic() + WAIT_SECONDS
    while cluster.process_alive(current.pid):
        if time.monotonic() > deadline:
            os.kill(current.pid, signal.SIGTERM)
            deadline = time.monotonic() + WAIT_SECONDS
        time.sleep(cluster.POLL_SECONDS)
    return True
