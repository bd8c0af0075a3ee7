"""16 concurrent identical adds at each isolation level: what a caller gets.

Every session opens its transaction and takes its snapshot first, then calls add_memory while the
test holds the scope's advisory lock; once pg_locks shows all 16 blocked inside the trigger, the
lock is released and they go one by one, each with a snapshot older than the others' commits.

- READ COMMITTED: each statement takes a fresh snapshot, so every session after the first sees it.
- REPEATABLE READ / SERIALIZABLE, memory already there: 16 NOOPs, no error; the access bookkeeping
  of the NOOPs whose row another session changed after their snapshot is skipped (best effort).
- REPEATABLE READ / SERIALIZABLE, new memory: one ADD; the other 15 cannot see it and get 40001
  (retry), never 23505; retried, they get NOOP.

Alice is on the plan without rate limits here: with a bucket, every session after the first also
writes the bucket row that another changed after its snapshot, and gets 40001 at REPEATABLE READ
and SERIALIZABLE (test_memory_quotas.py tests that). These tests are about deduplication.
"""

from __future__ import annotations

from collections import Counter

import psycopg
import pytest

from helpers import Database
from vectors import connect_as, owner, run_behind_scope_locks, unit

SESSIONS = 16
LEVELS = ["read committed", "repeatable read", "serializable"]
TEXT = "Alice is allergic to peanuts"


@pytest.fixture(autouse=True)
def alice_unlimited(db: Database) -> None:
    with owner(db.url) as admin:
        admin.execute(
            "INSERT INTO memory.user_quota_plans (user_id, plan) VALUES ('alice', 'unlimited')"
        )


def add_in_old_snapshots(db: Database, level: str) -> list[str]:
    """The outcome of each session's add: its event, or its SQLSTATE."""
    conns = [connect_as(db.url, "alice") for _ in range(SESSIONS)]
    for conn in conns:
        conn.execute(f"BEGIN ISOLATION LEVEL {level.upper()}")
        # the snapshot, for REPEATABLE READ and SERIALIZABLE
        conn.execute("SELECT count(*) FROM memory.memories")

    def add_and_commit(index: int) -> str:
        conn = conns[index]
        try:
            row = conn.execute(
                "SELECT event FROM memory.add_memory('alice', %s, %s)", (TEXT, unit(1))
            ).fetchone()
            conn.execute("COMMIT")
            return row[0] if row else "?"
        except psycopg.Error as exc:
            conn.execute("ROLLBACK")
            return exc.sqlstate or "?"

    try:
        return run_behind_scope_locks(db.url, conns, ["alice"], add_and_commit)
    finally:
        for conn in conns:
            conn.close()


def live_rows(db: Database) -> list[tuple]:
    with owner(db.url) as admin:
        return admin.execute(
            "SELECT memory, access_count FROM memory.memories WHERE NOT is_deleted"
        ).fetchall()


@pytest.mark.parametrize("level", LEVELS)
def test_sixteen_identical_adds_of_an_existing_memory_are_all_noops(db: Database, level):
    with connect_as(db.url, "alice") as conn:
        conn.execute("SELECT memory.add_memory('alice', %s, %s)", (TEXT, unit(1)))
    outcomes = add_in_old_snapshots(db, level)
    assert Counter(outcomes) == {"NOOP": SESSIONS}
    [(memory, access_count)] = live_rows(db)
    assert memory == TEXT
    # READ COMMITTED counts every access; the other levels keep at least the first one
    assert access_count == SESSIONS if level == "read committed" else 1 <= access_count <= SESSIONS


@pytest.mark.parametrize("level", LEVELS)
def test_sixteen_identical_first_adds_give_one_memory_and_retryable_errors(db: Database, level):
    outcomes = add_in_old_snapshots(db, level)
    if level == "read committed":
        assert Counter(outcomes) == {"ADD": 1, "NOOP": SESSIONS - 1}
    else:
        assert Counter(outcomes) == {"ADD": 1, "40001": SESSIONS - 1}
    assert [memory for memory, _ in live_rows(db)] == [TEXT]
    with connect_as(db.url, "alice") as conn:  # a retry finds the memory
        conn.execute(f"BEGIN ISOLATION LEVEL {level.upper()}")
        row = conn.execute(
            "SELECT event FROM memory.add_memory('alice', %s, %s)", (TEXT, unit(1))
        ).fetchone()
        conn.execute("COMMIT")
    assert row == ("NOOP",)
