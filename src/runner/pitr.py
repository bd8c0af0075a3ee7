"""Point-in-time recovery: a new server from a base backup plus archived WAL, stopped at a time or
an LSN, in a new data folder. The base backup and the archive are only read, and the source server
is not touched: the restored server gets a port and socket folder of its own, archiving off (its
new timeline must not mix into the source's archive), and no replication settings.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg

from runner import cluster
from runner.archive import read_base_backup, restore_command
from runner.errors import RunnerError

Echo = Callable[[str], None]

# Files of the source server that a copy must not keep: its log, its replication role, its pid.
SOURCE_ONLY = ("log", "standby.signal", "recovery.signal", "postmaster.pid", "postmaster.opts")


@dataclass(frozen=True)
class Restored:
    pgdata: Path
    port: int
    socket_dir: Path
    seconds: float  # from the start of the server to the end of recovery (promoted at the target)
    replayed_to_lsn: str | None
    last_commit_at: str | None

    def url(self, database: str = "mempg") -> str:
        return f"postgresql://postgres@/{database}?host={self.socket_dir}&port={self.port}"


def restore_to_point(
    base: Path,
    into: Path,
    *,
    archive: Path,
    to_time: str | None,
    to_lsn: str | None,
    echo: Echo,
) -> Restored:
    """Recover a copy of `base` into `into`, replaying archived WAL up to the target, then promote."""
    if (to_time is None) == (to_lsn is None):
        raise RunnerError("give exactly one recovery target: a time or an LSN")
    backup = read_base_backup(base)
    if into.exists() and any(into.iterdir()):
        raise RunnerError(f"{into} is not empty: restore into a new data folder")
    if not archive.is_dir():
        raise RunnerError(f"no WAL archive at {archive} (set MEMPG_WAL_ARCHIVE or --archive)")
    cluster.check_reachable(into)
    shutil.copytree(base, into, dirs_exist_ok=True)
    for name in SOURCE_ONLY:
        (into / name).unlink(missing_ok=True)
    port = cluster.free_port()
    target = {"recovery_target_time": to_time} if to_time else {"recovery_target_lsn": str(to_lsn)}
    cluster.write_settings(
        into,
        {
            "port": str(port),
            "listen_addresses": "",
            "unix_socket_directories": str(into),
            "archive_mode": "off",
            "primary_conninfo": "",
            "primary_slot_name": "",
            "synchronous_standby_names": "",
            "restore_command": restore_command(archive),
            "recovery_target_action": "promote",
            "recovery_target_inclusive": "on",
            **target,
        },
    )
    (into / "recovery.signal").touch()
    cluster.give_to_server(into)
    into.chmod(0o700)
    echo(
        f"recovering {into} from base backup {base.name} (WAL from {backup.start_lsn}) and {archive},"
        f" up to {to_time or to_lsn}"
    )
    began = time.monotonic()
    info = cluster.start(into, log=into / "log", accept=("ready",), echo=echo)
    cluster.wait_until_writable(info, log=into / "log", echo=echo)
    seconds = time.monotonic() - began
    restored = Restored(into, port, info.socket_dir or into, seconds, None, None)
    with psycopg.connect(restored.url("postgres"), autocommit=True) as conn:
        row = conn.execute(
            "SELECT pg_last_wal_replay_lsn()::text, pg_last_xact_replay_timestamp()::text"
        ).fetchone()
    if row is not None:
        restored = Restored(into, port, restored.socket_dir, seconds, row[0], row[1])
    echo(
        f"recovered in {seconds:.1f} s: replayed to {restored.replayed_to_lsn}, last commit {restored.last_commit_at}"
    )
    return restored
