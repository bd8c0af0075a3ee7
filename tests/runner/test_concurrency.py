"""Two runners at once, a lock wait that times out, and a runner killed while holding the lock.

The interleaving is proven, not slept on: the first runner is held inside a migration by an
advisory lock the test owns, and the test waits until the second runner says it is waiting.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

from helpers import BASE_IDS, BASELINE, Database, ledger, run_mempg, write_migration, yoyo_applied
from runner.database import LOCK_CLASS, LOCK_MIGRATIONS

GATE = 4242  # advisory lock the test holds to keep a migration running


def gated_migration(project: Path) -> None:
    write_migration(
        project,
        "0902_gated",
        f"SELECT pg_advisory_xact_lock({GATE});\nCREATE TABLE app.gated (id int);\n",
        "DROP TABLE app.gated;\n",
    )


def start_runner(db: Database, project: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "DATABASE_URL": db.url, "MEMPG_DIR": str(project)}
    return subprocess.Popen(
        [sys.executable, "-m", "runner", "apply", "--lock-timeout", "60s", *args],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def waiting_on_gate(conn: psycopg.Connection) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s AND NOT granted",
        (GATE,),
    ).fetchone()
    return bool(row and row[0])


def migration_lock_held(conn: psycopg.Connection) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s::oid"
        " AND objid = %s::oid AND granted",
        (LOCK_CLASS, LOCK_MIGRATIONS),
    ).fetchone()
    return bool(row and row[0])


def test_two_runners_at_once_apply_each_migration_exactly_once(db: Database, project: Path):
    gated_migration(project)
    with db.connect(autocommit=True) as gate:
        gate.execute("SELECT pg_advisory_lock(%s)", (GATE,))
        first = start_runner(db, project)
        wait_until(lambda: waiting_on_gate(gate), "the first runner to reach the gated migration")
        second = start_runner(db, project)
        assert second.stderr is not None
        line = second.stderr.readline()  # blocks until the second runner reports
        assert "waiting for another mempg runner" in line
        gate.execute("SELECT pg_advisory_unlock(%s)", (GATE,))
    out_first, err_first = first.communicate(timeout=60)
    out_second, err_second = second.communicate(timeout=60)
    assert first.returncode == 0, err_first
    assert second.returncode == 0, err_second
    assert "applied 1 migration(s)" in out_first
    assert "nothing to apply" in out_second
    assert ledger(db) == [*BASELINE, ("0902_gated", "applied")]
    assert yoyo_applied(db) == [*BASE_IDS, "0902_gated"]
    with db.connect() as conn:
        applies = conn.execute(
            "SELECT migration_id, count(*) FROM mempg._yoyo_log"
            " WHERE operation = 'apply' GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert applies == [*((i, 1) for i in BASE_IDS), ("0902_gated", 1)]


def test_a_runner_that_cannot_get_the_lock_in_time_exits_1_clearly(db: Database, project: Path):
    gated_migration(project)
    with db.connect(autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s::int, %s::int)", (LOCK_CLASS, LOCK_MIGRATIONS))
        result = run_mempg("apply", "--lock-wait", "0.5", url=db.url, project=project)
    assert result.returncode == 1
    assert "another mempg runner holds the migration lock" in result.stderr
    assert "gave up after 0.5s" in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2
    assert ledger(db) == BASELINE


def test_a_killed_runner_leaves_no_lock_and_no_half_migration(db: Database, project: Path):
    gated_migration(project)
    with db.connect(autocommit=True) as gate:
        gate.execute("SELECT pg_advisory_lock(%s)", (GATE,))
        runner = start_runner(db, project)
        wait_until(lambda: waiting_on_gate(gate), "the runner to reach the gated migration")
        assert migration_lock_held(gate)
        os.kill(runner.pid, signal.SIGKILL)
        runner.wait(timeout=10)
        wait_until(lambda: not migration_lock_held(gate), "the killed runner's lock to go away")
        # its migration session notices the dead client too (client_connection_check_interval)
        wait_until(lambda: not waiting_on_gate(gate), "the killed runner's migration to abort")
        gate.execute("SELECT pg_advisory_unlock(%s)", (GATE,))
    assert ledger(db) == BASELINE
    with db.connect() as conn:
        assert conn.execute("SELECT to_regclass('app.gated')").fetchone() == (None,)
    result = run_mempg("apply", "--lock-wait", "5", url=db.url, project=project)
    assert result.returncode == 0, result.stderr
    assert ledger(db) == [*BASELINE, ("0902_gated", "applied")]


def test_the_runner_gives_up_on_a_lock_after_its_lock_timeout(db: Database, project: Path):
    write_migration(
        project,
        "0902_touch_settings",
        "ALTER TABLE mempg.settings ADD COLUMN note text;\n",
        "ALTER TABLE mempg.settings DROP COLUMN note;\n",
    )
    with db.connect(autocommit=True) as holder:
        holder.execute("BEGIN")
        holder.execute("LOCK TABLE mempg.settings IN ACCESS SHARE MODE")  # a long-running reader
        started = time.monotonic()
        result = run_mempg("apply", "--lock-timeout", "300ms", url=db.url, project=project)
        waited = time.monotonic() - started
        holder.execute("ROLLBACK")
    assert result.returncode == 1
    assert "55P03" in result.stdout + result.stderr  # lock_not_available, not an endless queue
    assert waited < 30
    assert ledger(db) == BASELINE


def test_a_migration_may_raise_its_own_statement_timeout(db: Database, project: Path):
    write_migration(
        project, "0902_slow", "SET LOCAL statement_timeout = '5s';\nSELECT pg_sleep(0.5);\n"
    )
    result = run_mempg("apply", "--statement-timeout", "200ms", url=db.url, project=project)
    assert result.returncode == 0, result.stdout + result.stderr
    fast = run_mempg("rollback", url=db.url, project=project)
    assert fast.returncode == 0
    (project / "migrations" / "0902_slow.sql").write_text("SELECT pg_sleep(0.5);\n")
    (project / "rollbacks" / "0902_slow.sql").write_text("SELECT 1;\n")
    timed_out = run_mempg("apply", "--statement-timeout", "200ms", url=db.url, project=project)
    assert timed_out.returncode == 1 and "57014" in timed_out.stdout  # query_canceled
