"""A streaming read replica of the embedded server on this machine.

`start` makes it on first use: a physical replication slot on the primary (so the primary keeps
the WAL the replica has not received, across restarts of either), pg_basebackup of the primary
streaming its WAL, then a hot standby in its own data folder (MEMPG_REPLICA_DATA, default
`<data folder>-replica`), with its own port and socket folder, hot_standby_feedback on (so a
long search on the replica is not cancelled by vacuum on the primary). It inherits the primary's
settings, archiving included: after a promotion it archives its new timeline into the same
archive, so point-in-time recovery works across a failover. `synchronous` makes the primary wait
for the replica to flush each commit (no committed transaction is lost when the primary dies, but
writes stop while the replica is down); without it, a crash of the primary may lose the last
transactions not yet streamed, which `ops.database_health` shows as replication lag.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from runner import cluster
from runner.errors import RunnerError

SLOT = "mempg_replica"  # also the replica's application_name on the primary
Echo = Callable[[str], None]


def replica_dir(pgdata: Path) -> Path:
    """MEMPG_REPLICA_DATA, else `<data folder>-replica` beside the primary's data folder."""
    explicit = os.environ.get("MEMPG_REPLICA_DATA")
    return Path(explicit or pgdata.parent / f"{pgdata.name}-replica").resolve()


@dataclass(frozen=True)
class Replica:
    pgdata: Path
    running: bool
    in_recovery: bool | None
    url: str | None
    port: int | None
    lag: dict[str, Any]
    primary: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "data": str(self.pgdata),
            "exists": (self.pgdata / "PG_VERSION").exists(),
            "running": self.running,
            "role": None
            if self.in_recovery is None
            else ("standby" if self.in_recovery else "primary"),
            "url": self.url,
            "port": self.port,
            "lag": self.lag,
            "seen_from_primary": self.primary,
        }


def _primary_conninfo(primary: cluster.Postmaster) -> str:
    return f"host={primary.socket_dir} port={primary.port} user=postgres application_name={SLOT}"


def start(
    primary: cluster.Postmaster, pgdata: Path, *, synchronous: bool | None, echo: Echo
) -> cluster.Postmaster:
    """Create the replica on first use, start it, and wait until it accepts read-only queries.

    synchronous: True makes the primary wait for it on every commit, False stops that, None
    leaves the primary's setting as it is.
    """
    running = cluster.read_postmaster(pgdata)
    if running is None:
        if not (pgdata / "PG_VERSION").exists():
            _create(primary, pgdata, echo)
        running = cluster.start(pgdata, log=pgdata / "log", accept=("standby", "ready"), echo=echo)
    _set_synchronous(primary, synchronous, echo)
    return running


def _create(primary: cluster.Postmaster, pgdata: Path, echo: Echo) -> None:
    if pgdata.exists() and any(pgdata.iterdir()):
        raise RunnerError(
            f"{pgdata} exists and is not a data folder: remove it or set MEMPG_REPLICA_DATA"
        )
    cluster.check_reachable(pgdata)
    cluster.server_folder(pgdata)
    with psycopg.connect(primary.url("postgres"), autocommit=True) as conn:
        conn.execute(
            "SELECT pg_create_physical_replication_slot(%s)"
            " WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = %s)",
            (SLOT, SLOT),
        )
    echo(f"copying the primary into {pgdata} (pg_basebackup, WAL streamed, slot {SLOT})")
    began = time.monotonic()
    cluster.run(
        "pg_basebackup",
        "--dbname",
        _primary_conninfo(primary),
        "--pgdata",
        str(pgdata),
        "--wal-method=stream",
        "--checkpoint=fast",
        "--slot",
        SLOT,
        "--no-password",
        as_server=True,
        timeout=None,
    )
    (pgdata / "log").write_text("")  # pg_basebackup copied the primary's log
    (pgdata / "standby.signal").touch()
    cluster.write_settings(
        pgdata,
        {
            "port": str(cluster.free_port()),
            "listen_addresses": "",
            "unix_socket_directories": str(pgdata),
            "primary_conninfo": _primary_conninfo(primary),
            "primary_slot_name": SLOT,
            "hot_standby": "on",
            "hot_standby_feedback": "on",
            "synchronous_standby_names": "",
        },
    )
    cluster.give_to_server(pgdata)
    echo(f"copied in {time.monotonic() - began:.1f} s")


def _set_synchronous(primary: cluster.Postmaster, synchronous: bool | None, echo: Echo) -> None:
    """synchronous_standby_names on the primary: the replica, or nothing (None: leave it)."""
    if synchronous is None:
        return
    wanted = SLOT if synchronous else ""
    with psycopg.connect(primary.url("postgres"), autocommit=True) as conn:
        row = conn.execute("SHOW synchronous_standby_names").fetchone()
        current = row[0] if row else ""
        if current == wanted or (not synchronous and current != SLOT):
            return
        conn.execute(
            "ALTER SYSTEM SET synchronous_standby_names = "
            + ("'" + wanted + "'" if wanted else "DEFAULT")
        )
        conn.execute("SELECT pg_reload_conf()")
    echo(
        "the primary now waits for the replica to flush every commit (synchronous)"
        if synchronous
        else "the primary no longer waits for the replica (asynchronous)"
    )


def stop(primary: cluster.Postmaster | None, pgdata: Path, *, remove: bool, echo: Echo) -> bool:
    """Stop the replica (the primary stops waiting for it first); `remove` also deletes it and its slot."""
    if primary is not None:
        _set_synchronous(primary, False, echo)
    was_running = cluster.read_postmaster(pgdata) is not None
    if was_running:
        cluster.stop(pgdata)
    if remove:
        if primary is not None:
            with psycopg.connect(primary.url("postgres"), autocommit=True) as conn:
                conn.execute(
                    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
                    " WHERE slot_name = %s AND NOT active",
                    (SLOT,),
                )
        if pgdata.exists():
            shutil.rmtree(pgdata)
        echo(f"replica removed: {pgdata} deleted, slot {SLOT} dropped")
    return was_running


def promote(pgdata: Path, *, echo: Echo) -> cluster.Postmaster:
    """End recovery on the replica: it becomes a primary on a new timeline and takes writes."""
    info = cluster.read_postmaster(pgdata)
    if info is None:
        raise RunnerError(f"the replica in {pgdata} is not running: start it first")
    began = time.monotonic()
    cluster.run(
        "pg_ctl", "-D", str(pgdata), "-w", "-t", "600", "promote", as_server=True, timeout=700
    )
    promoted = cluster.read_postmaster(pgdata)
    if promoted is None or promoted.status != "ready":
        raise RunnerError(f"the replica did not become a primary; see {pgdata / 'log'}")
    echo(f"promoted in {time.monotonic() - began:.2f} s: {pgdata} is a primary now")
    return promoted


def status(primary: cluster.Postmaster | None, pgdata: Path) -> Replica:
    """Whether the replica runs, its role and lag, and how the primary sees it."""
    info = cluster.read_postmaster(pgdata)
    lag: dict[str, Any] = {}
    in_recovery = None
    url = info.url("mempg") if info else None
    if info is not None:
        with psycopg.connect(info.url("postgres"), autocommit=True) as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            in_recovery = bool(row and row[0])
        lag = _lag(info)
    seen: dict[str, Any] = {}
    if primary is not None:
        with psycopg.connect(primary.url("postgres"), autocommit=True) as conn:
            row = conn.execute(
                "SELECT state, sync_state, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn),"
                " extract(epoch FROM replay_lag) FROM pg_stat_replication WHERE application_name = %s",
                (SLOT,),
            ).fetchone()
        if row is not None:
            seen = {
                "state": row[0],
                "sync_state": row[1],
                "lag_bytes": None if row[2] is None else float(row[2]),
                "replay_lag_seconds": None if row[3] is None else float(row[3]),
            }
    return Replica(
        pgdata, info is not None, in_recovery, url, info.port if info else None, lag, seen
    )


def _lag(info: cluster.Postmaster) -> dict[str, Any]:
    """ops.replication_lag() on the replica's mempg database, when it is installed there."""
    try:
        with psycopg.connect(info.url("mempg"), autocommit=True) as conn:
            row = conn.execute(
                "SELECT server_role, streaming, lag_bytes, lag_seconds FROM ops.replication_lag()"
            ).fetchone()
    except psycopg.Error:
        return {}
    if row is None:
        return {}
    return {
        "server_role": row[0],
        "streaming": row[1],
        "lag_bytes": None if row[2] is None else float(row[2]),
        "lag_seconds": None if row[3] is None else float(row[3]),
    }
