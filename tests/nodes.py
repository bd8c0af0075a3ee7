"""Servers of the durability tests: a Node is one embedded server in a scratch folder of its own,
with its own port, WAL archive, replica and pooler folders, driven through `mempg`."""

from __future__ import annotations

import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
from pgvector.psycopg import register_vector

from helpers import run_mempg
from runner import cluster, pooler

# Scratch servers are sized for 1 GB, not for the machine: a test runs several at once (primary,
# replica, a point-in-time restore) beside the project's own server (docs/operations.md).
SCRATCH_SIZING = {"MEMPG_SERVER_MEMORY": "1GB"}


def scratch_folder(prefix: str = "mempg-dur-") -> Path:
    """A folder the server's system user can use (pytest's tmp_path is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    return folder


def wait_until(
    condition: Callable[[], object], *, timeout: float = 60, what: str = "the condition"
) -> object:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


@dataclass(frozen=True)
class Node:
    """One embedded server of a test, driven through `mempg` with its own environment."""

    folder: Path

    @property
    def pgdata(self) -> Path:
        return self.folder / "primary"

    @property
    def archive(self) -> Path:
        return self.folder / "wal-archive"

    @property
    def replica(self) -> Path:
        return self.folder / "replica"

    @property
    def env(self) -> dict[str, str]:
        return {
            "MEMPG_DATA": str(self.pgdata),
            "MEMPG_WAL_ARCHIVE": str(self.archive),
            "MEMPG_REPLICA_DATA": str(self.replica),
            "MEMPG_POOLER_DIR": str(self.folder / "pooler"),
            **SCRATCH_SIZING,
        }

    def mempg(self, *args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return run_mempg(*(str(a) for a in args), env=self.env, timeout=timeout)

    def url(self, database: str = "mempg", pgdata: Path | None = None) -> str:
        info = cluster.read_postmaster(pgdata or self.pgdata)
        assert info is not None, f"no server running in {pgdata or self.pgdata}"
        return info.url(database)

    def connect(self, pgdata: Path | None = None) -> psycopg.Connection:
        """An autocommit superuser session on the mempg database of pgdata (default: the primary)."""
        conn = psycopg.connect(self.url(pgdata=pgdata), autocommit=True)
        register_vector(conn)
        return conn


def stop_everything(folder: Path) -> None:
    """Stop every server and pooler still running under folder."""
    pooler.stop(folder / "pooler")
    for version in folder.glob("*/PG_VERSION"):
        pgdata = version.parent
        if cluster.read_postmaster(pgdata) is not None:
            cluster.stop(pgdata, mode="immediate")


def add_memories(conn: psycopg.Connection, user: str, texts: list[str], seed: int) -> list[str]:
    """add_memory as `user` (an authenticated session, identity for the transaction): the ids."""
    from vectors import unit

    ids = []
    for offset, text in enumerate(texts):
        with conn.transaction():
            conn.execute("SELECT set_config('app.user_id', %s, true)", (user,))
            conn.execute("SET LOCAL ROLE authenticated")
            row = conn.execute(
                "SELECT id, event FROM memory.add_memory(%s, %s, %s)",
                (user, text, unit(seed + offset)),
            ).fetchone()
        assert row is not None and row[1] == "ADD", row
        ids.append(str(row[0]))
    return ids


def live_ids(conn: psycopg.Connection) -> set[str]:
    return {str(r[0]) for r in conn.execute("SELECT id FROM memory.memories WHERE NOT is_deleted")}


class Writer(threading.Thread):
    """Adds memories one transaction at a time; an id is logged only after its COMMIT returned."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.acknowledged: list[str] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with psycopg.connect(self.url, autocommit=True) as conn:
                register_vector(conn)
                for number in range(1_000_000):
                    ids = add_memories(conn, "writer", [f"acknowledged fact {number}"], seed=number)
                    self.acknowledged.append(ids[0])
        except psycopg.Error as exc:  # the primary went away mid-transaction
            self.error = exc
