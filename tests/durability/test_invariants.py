"""The invariants that the load test and the crash test check hold on sound data and catch a
broken row: a test of the checker itself."""

from __future__ import annotations

import psycopg

from bench import loadtest
from helpers import Database


def test_the_invariants_hold_after_adds_and_catch_a_lost_history_row(db: Database):
    loadtest.install(db.url)
    seeded = loadtest.seed(db.url, users=3, per_user=2)
    assert seeded == 6
    assert loadtest.check_invariants(db.url) == dict.fromkeys(loadtest.INVARIANTS, 0)
    with psycopg.connect(db.url, autocommit=True) as owner:
        owner.execute(
            "DELETE FROM memory.memory_history WHERE id = (SELECT min(id) FROM memory.memory_history)"
        )
    broken = {name: count for name, count in loadtest.check_invariants(db.url).items() if count}
    assert broken == {
        "memories whose version differs from their history rows": 1,
        "memories without exactly one ADD": 1,
        "history rows minus logged ADD, UPDATE and MERGE events": -1,
    }


def test_a_row_written_for_another_user_is_caught(db: Database):
    loadtest.install(db.url)
    loadtest.seed(db.url, users=2, per_user=1)
    with psycopg.connect(db.url, autocommit=True) as owner:
        owner.execute("UPDATE loadtest.events SET app_user = 'u2' WHERE app_user = 'u1'")
    assert (
        loadtest.check_invariants(db.url)["events or history rows written outside their owner"] == 1
    )
