"""Deduplication under concurrency: 16 sessions x 50 inserts of one memory end with one memory.

The interleaving is proven, not hoped for: the test holds the user's scope lock, waits until
pg_locks shows all 16 sessions blocked on it inside the trigger, then lets them go at once.
"""

from __future__ import annotations

from collections import Counter

import psycopg

from helpers import Database
from vectors import connect_as, owner, run_behind_scope_locks, unit, with_similarity

SESSIONS = 16
INSERTS = 50


def run_concurrently(db: Database, gate_user: str, work) -> list:
    """Start one thread per (user, work), each with its own session, all blocked behind the lock."""
    conns = [connect_as(db.url, user) for user, _ in work]
    try:
        return run_behind_scope_locks(
            db.url, conns, [user for user, _ in work], lambda i: work[i][1](conns[i])
        )
    finally:
        for conn in conns:
            conn.close()


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
