"""Continuous archiving and point-in-time recovery, with real pg_basebackup, basic_archive and a
real recovering server in a new data folder."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import psycopg

from nodes import Node, add_memories, live_ids, wait_until
from runner import cluster


def switch_wal(conn: psycopg.Connection) -> str:
    """Close the current WAL file (after a message: with nothing written since the last switch,
    pg_switch_wal does nothing); its name."""
    return conn.execute(
        "SELECT pg_walfile_name(pg_switch_wal()) FROM pg_logical_emit_message(false, 'mempg', 'switch')"
    ).fetchone()[0]


def archived_through(node: Node, conn: psycopg.Connection) -> None:
    """Switch to a new WAL file and wait until the archiver has copied the one just closed."""
    closed = switch_wal(conn)
    wait_until(
        lambda: (
            (node.archive / closed).exists()
            and conn.execute(
                "SELECT last_archived_wal >= %s FROM pg_stat_archiver", (closed,)
            ).fetchone()[0]
        ),
        what=f"{closed} in the archive",
    )


def folder_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def base_backup(node: Node, *extra: str) -> dict:
    result = node.mempg("backup", "--base", "--base-dir", node.folder / "base", "--json", *extra)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_restore_to_a_noted_time_brings_back_exactly_the_rows_written_before_it(node: Node):
    archiving = node.mempg("db", "start", "--archive")
    assert archiving.returncode == 0, archiving.stderr
    backup = base_backup(node)
    with node.connect() as conn:
        first = add_memories(conn, "alice", [f"first fact {i}" for i in range(5)], seed=100)
        # ~100 MB of WAL to replay after the backup's consistent point: the restored server
        # accepts read-only connections long before it reaches the target and is promoted
        conn.execute(
            "CREATE TABLE public.filler AS SELECT i, md5(i::text) FROM generate_series(1, 1000000) AS i"
        )
        noted = conn.execute("SELECT clock_timestamp()::text").fetchone()[0]
        second = add_memories(conn, "alice", [f"second fact {i}" for i in range(5)], seed=200)
        archived_through(node, conn)
    backup_before = folder_digest(Path(backup["path"]))

    restored = node.mempg(
        "restore", "--base", backup["path"], "--to-time", noted,
        "--into", node.folder / "restored", "--json",
    )  # fmt: skip

    assert restored.returncode == 0, restored.stdout + restored.stderr
    report = json.loads(restored.stdout)
    assert report["ok"] and report["problems"] == []
    assert report["rows"]["memory.memories"] == 5 and report["rows"]["memory.memory_history"] == 5
    with psycopg.connect(report["url"]) as copy:
        assert live_ids(copy) == set(first)
        assert copy.execute("SELECT count(*) FROM public.filler").fetchone() == (1_000_000,)
        assert copy.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)
    with node.connect() as original:  # untouched: still running, every row, its own timeline
        assert live_ids(original) == set(first) | set(second)
        assert original.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)
    assert folder_digest(Path(backup["path"])) == backup_before
    assert cluster.read_postmaster(node.folder / "restored") is not None
    print(f"point-in-time restore: {report['recovery_seconds']} s of recovery")


def test_restore_to_an_lsn_stops_at_that_position(node: Node):
    assert node.mempg("db", "start", "--archive").returncode == 0
    backup = base_backup(node)
    with node.connect() as conn:
        first = add_memories(conn, "bob", ["kept"], seed=300)
        lsn = conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()[0]
        add_memories(conn, "bob", ["after the target"], seed=301)
        archived_through(node, conn)
    restored = node.mempg(
        "restore", "--base", backup["path"], "--to-lsn", lsn,
        "--into", node.folder / "at-lsn", "--stop", "--json",
    )  # fmt: skip
    assert restored.returncode == 0, restored.stdout + restored.stderr
    report = json.loads(restored.stdout)
    assert report["rows"]["memory.memories"] == len(first) and report["running"] is False
    assert cluster.read_postmaster(node.folder / "at-lsn") is None


def test_a_target_the_archive_does_not_reach_fails_clearly(node: Node):
    assert node.mempg("db", "start", "--archive").returncode == 0
    backup = base_backup(node)
    restored = node.mempg(
        "restore", "--base", backup["path"], "--to-time", "2999-01-01 00:00:00+00",
        "--into", node.folder / "too-far",
    )  # fmt: skip
    assert restored.returncode == 1
    assert "recovery ended before configured recovery target was reached" in restored.stderr
    assert "Traceback" not in restored.stderr


def test_retention_keeps_the_newest_base_backups_and_the_wal_they_need(node: Node):
    assert node.mempg("db", "start", "--archive").returncode == 0
    backups = []
    for _ in range(3):
        with node.connect() as conn:
            archived_through(node, conn)
        backups.append(base_backup(node, "--retain", "2"))
    kept = sorted(p.name for p in (node.folder / "base").iterdir())
    assert kept == sorted(Path(b["path"]).name for b in backups[1:])
    oldest_needed = backups[1]["start_wal_file"]
    segments = [p.name for p in node.archive.iterdir() if len(p.name) == 24]
    assert segments and min(segments) >= oldest_needed
    assert backups[2]["deleted"] == [backups[0]["path"]]


def test_a_failing_archive_shows_in_database_health(node: Node):
    assert node.mempg("db", "start", "--archive").returncode == 0
    with node.connect() as conn:
        conn.execute(
            "UPDATE ops.thresholds SET warning = 1, critical = 1000 WHERE metric = 'wal_archive_pending_segments'"
        )
        archived_through(node, conn)
        node.archive.chmod(0o000)  # the server's user can no longer write into it
        try:
            switch_wal(conn)
            wait_until(
                lambda: conn.execute("SELECT failed_count > 0 FROM pg_stat_archiver").fetchone()[0],
                what="an archive failure",
            )
            value, status, detail = conn.execute(
                "SELECT value, status, detail FROM ops.database_health"
                " WHERE metric = 'wal_archive_pending_segments'"
            ).fetchone()
            assert value >= 1 and status == "warning" and "last failure" in detail
        finally:
            node.archive.chmod(0o700)
        switch_wal(conn)  # a new file wakes the archiver, which retries a failure once a minute
        wait_until(
            lambda: (
                conn.execute(
                    "SELECT status FROM ops.database_health WHERE metric = 'wal_archive_pending_segments'"
                ).fetchone()
                == ("ok",)
            ),
            what="the archive to catch up",
        )


def test_archiving_can_be_switched_off_again(node: Node):
    assert node.mempg("db", "start", "--archive").returncode == 0
    with node.connect() as conn:
        assert conn.execute("SHOW archive_mode").fetchone() == ("on",)
    assert node.mempg("db", "start", "--no-archive").returncode == 0
    with node.connect() as conn:
        assert conn.execute("SHOW archive_mode").fetchone() == ("off",)
        metrics = {r[0] for r in conn.execute("SELECT metric FROM ops.database_health")}
    assert "wal_archive_pending_segments" not in metrics
