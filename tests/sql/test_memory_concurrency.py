"""Deduplication under concurrency: 16 sessions x 50 inserts of one memory end with one memory.

The interleaving is proven, not hoped for: the test holds the user's scope lock, waits until
pg_locks shows all 16 sessions blocked on it inside the trigger, then lets them go at once.
"""

from __future__ import annotations

import threading
from collections import Counter

import psycopg

from helpers import Database, wait_until_blocked_on_advisory_locks
from vectors import connect_as, owner, unit, with_similarity

SESSIONS = 16
INSERTS = 50


def run_concurrently(db: Database, gate_user: str, work) -> list:
    """Start SESSIONS threads, each with its own session, all blocked behind gate_user's lock."""
    conns = [connect_as(db.url, user) for user, _ in work]
    results: list = [None] * len(conns)
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            results[index] = work[index][1](conns[index])
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    with owner(db.url) as admin:
        keys = sorted({user for user, _ in work})
        admin.execute(
            "SELECT pg_advisory_lock(memory.scope_lock_key(u, NULL)) FROM unnest(%s::text[]) AS u",
            (keys,),
        )
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(conns))]
        for thread in threads:
            thread.start()
        pids = [conn.info.backend_pid for conn in conns]
        wait_until_blocked_on_advisory_locks(admin, pids, errors)
        admin.execute("SELECT pg_advisory_unlock_all()")
        for thread in threads:
            thread.join(timeout=300)
    for conn in conns:
        conn.close()
    assert not errors, errors
    return results


def insert_many(text: str, embedding, user: str):
    def run(conn: psycopg.Connection) -> list[str]:
        events = []
        for _ in range(INSERTS):
            row = conn.execute(
                "SELECT event FROM memory.add_memory(%s, %s, %s)", (user, text, embedding)
            ).fetchone()
            events.append(row[0] if row else "?")
        return events

    return run


def test_sixteen_sessions_inserting_one_memory_end_with_exactly_one(db: Database):
    base = unit(1)
    work = []
    for i in range(SESSIONS):
        # the same content, written differently and with slightly different embeddings
        text = "Alice likes green tea" if i % 2 else "  alice LIKES green tea "
        embedding = base if i % 4 < 2 else with_similarity(base, 0.999, seed=i)
        work.append(("alice", insert_many(text, embedding, "alice")))
    results = run_concurrently(db, "alice", work)
    events = Counter(event for session in results for event in session)
    assert sum(events.values()) == SESSIONS * INSERTS
    assert events["ADD"] == 1
    with owner(db.url) as admin:
        live = admin.execute("SELECT count(*) FROM memory.memories WHERE NOT is_deleted").fetchone()
        adds = admin.execute(
            "SELECT count(*) FROM memory.memory_history WHERE event = 'ADD'"
        ).fetchone()
    assert live == (1,)
    assert adds == (1,)


def test_two_users_inserting_the_same_text_at_once_get_one_memory_each(db: Database):
    base = unit(1)
    work = [
        (user, insert_many("likes green tea", base, user))
        for user in ["alice", "bob"] * (SESSIONS // 2)
    ]
    results = run_concurrently(db, "alice", work)
    assert Counter(event for session in results for event in session)["ADD"] == 2
    with owner(db.url) as admin:
        rows = admin.execute(
            "SELECT user_id, count(*) FROM memory.memories GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert rows == [("alice", 1), ("bob", 1)]
