"""Decay, touch, cleanup, session expiry and the maintenance job."""

from __future__ import annotations

import psycopg
import pytest

from helpers import Database
from vectors import ActingConnection, connect_as, owner, unit


@pytest.fixture
def admin(db: Database):
    with owner(db.url) as conn:
        yield conn


@pytest.fixture
def service(db: Database):
    with connect_as(db.url, None, role="service_role") as conn:
        yield conn


def add(conn, text: str, seed: int, user: str = "alice") -> str:
    if isinstance(conn, ActingConnection):  # the owner needs no identity
        conn.act_as(user)
    row = conn.execute(
        "SELECT id::text FROM memory.add_memory(%s, %s, %s)", (user, text, unit(seed))
    ).fetchone()
    return row[0]


def relevance(conn, memory_id: str) -> float:
    """The relevance a reader sees: get_memory decays it to now."""
    return conn.execute(
        "SELECT relevance_score FROM memory.get_memory(%s)", (memory_id,)
    ).fetchone()[0]


def stored(conn, memory_id: str) -> tuple:
    return conn.execute(
        "SELECT relevance_score, ctid::text FROM memory.memories WHERE id = %s", (memory_id,)
    ).fetchone()


def test_relevance_halves_every_half_life_since_last_access_when_read(admin, service):
    a = add(admin, "thirty days", 1)
    b = add(admin, "sixty days", 2)
    fresh = add(admin, "today", 3)
    admin.execute(
        "UPDATE memory.memories SET last_accessed_at = now() - interval '30 days' WHERE id = %s",
        (a,),
    )
    admin.execute(
        "UPDATE memory.memories SET last_accessed_at = now() - interval '60 days' WHERE id = %s",
        (b,),
    )
    before = {m: stored(admin, m) for m in (a, b, fresh)}
    assert relevance(admin, a) == pytest.approx(0.5, abs=1e-6)
    assert relevance(admin, b) == pytest.approx(0.25, abs=1e-6)
    assert relevance(admin, fresh) == pytest.approx(1.0, abs=1e-6)
    listed = admin.execute(
        "SELECT id::text, relevance_score FROM memory.list_memories('alice')"
    ).fetchall()
    assert dict(listed)[b] == pytest.approx(0.25, abs=1e-6)
    # the maintenance job decays nothing by writing: every row is the tuple it was
    report = service.execute("SELECT memory.maintain_memory_performance()").fetchone()[0]
    assert "decayed" not in report
    assert {m: stored(admin, m) for m in (a, b, fresh)} == before


def test_the_half_life_is_a_setting(admin, service):
    a = add(admin, "m", 1)
    admin.execute("UPDATE memory.memories SET last_accessed_at = now() - interval '30 days'")
    admin.execute("UPDATE memory.settings SET relevance_half_life = '10 days'")
    assert relevance(admin, a) == pytest.approx(0.125, abs=1e-6)
    with pytest.raises(psycopg.errors.CheckViolation, match="relevance_half_life_range"):
        admin.execute("UPDATE memory.settings SET relevance_half_life = '0 days'")


def test_decay_memories_stores_what_readers_already_see(admin, service):
    a = add(admin, "thirty days", 1)
    fresh = add(admin, "today", 2)
    admin.execute(
        "UPDATE memory.memories SET last_accessed_at = now() - interval '30 days' WHERE id = %s",
        (a,),
    )
    assert service.execute("SELECT memory.decay_memories()").fetchone() == (1,)
    assert stored(admin, a)[0] == pytest.approx(0.5, abs=1e-6)
    assert relevance(admin, a) == pytest.approx(0.5, abs=1e-6)  # not decayed twice
    assert relevance(admin, fresh) == pytest.approx(1.0, abs=1e-6)
    # running again at once changes nothing: decay is measured from the last decay
    assert service.execute("SELECT memory.decay_memories('30 days')").fetchone() == (0,)
    assert relevance(admin, a) == pytest.approx(0.5, abs=1e-6)


def test_decay_composes_across_runs(admin, service):
    a = add(admin, "m", 1)
    admin.execute(
        "UPDATE memory.memories SET last_accessed_at = now() - interval '20 days', decayed_at = now() -"
        " interval '10 days', relevance_score = power(0.5, 10.0 / 30) WHERE id = %s",
        (a,),
    )
    assert relevance(admin, a) == pytest.approx(0.5 ** (20 / 30), abs=1e-6)
    service.execute("SELECT memory.decay_memories('30 days')")
    assert stored(admin, a)[0] == pytest.approx(0.5 ** (20 / 30), abs=1e-6)
    assert relevance(admin, a) == pytest.approx(0.5 ** (20 / 30), abs=1e-6)


def test_a_duplicate_add_lifts_relevance_from_its_decayed_value(admin, service):
    a = add(admin, "m", 1)
    admin.execute(
        "UPDATE memory.memories SET last_accessed_at = now() - interval '60 days' WHERE id = %s",
        (a,),
    )
    # an import brings its own relevance: 0.4 beats the decayed 0.25, not the stored 1
    admin.execute(
        "INSERT INTO memory.memories (user_id, memory, embedding, relevance_score)"
        " VALUES ('alice', 'm', %s, 0.4)",
        (unit(1),),
    )
    assert relevance(admin, a) == pytest.approx(0.4, abs=1e-6)


def test_touching_a_memory_makes_it_fully_relevant_again(db: Database, admin, service):
    a = add(admin, "m", 1)
    admin.execute("UPDATE memory.memories SET last_accessed_at = now() - interval '30 days'")
    service.execute("SELECT memory.decay_memories()")
    with connect_as(db.url, "alice") as alice:
        assert alice.execute("SELECT memory.touch_memories(ARRAY[%s::uuid])", (a,)).fetchone() == (
            1,
        )
    row = admin.execute("SELECT relevance_score, access_count FROM memory.memories").fetchone()
    assert row == (1.0, 1)
    assert relevance(admin, a) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize(
    "call",
    [
        "memory.decay_memories('0 days')",
        "memory.decay_memories('-1 day')",
        "memory.cleanup_old_memories(retention => '0 days')",
        "memory.cleanup_old_memories(purge_after => '-1 day')",
        "memory.cleanup_old_memories(min_relevance => 1.5)",
        "memory.cleanup_old_memories(min_relevance => NULL)",
        "memory.cleanup_old_memories(batch_size => 0)",
        "memory.touch_memories(array_fill(gen_random_uuid(), ARRAY[1001]))",
    ],
)
def test_maintenance_functions_refuse_bad_input(service, call):
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        service.execute(f"SELECT * FROM {call}")


def test_cleanup_soft_deletes_old_unused_irrelevant_memories_and_purges_long_deleted_ones(
    admin, service
):
    ids = {
        name: add(admin, name, seed)
        for seed, name in enumerate(
            [
                "old irrelevant",
                "old relevant",
                "old, decayed",
                "recent irrelevant",
                "deleted long ago",
                "deleted lately",
            ],
            start=1,
        )
    }
    admin.execute("""
        UPDATE memory.memories SET created_at = now() - interval '400 days',
               last_accessed_at = now() - interval '400 days', relevance_score = 0.05, decayed_at = now()
        WHERE memory = 'old irrelevant';
        UPDATE memory.memories SET created_at = now() - interval '400 days',
               last_accessed_at = now() - interval '400 days', relevance_score = 0.9, decayed_at = now()
        WHERE memory = 'old relevant';
        -- relevance 1 when last used, 400 days ago: about 0.0001 now, without any decay run
        UPDATE memory.memories SET created_at = now() - interval '400 days',
               last_accessed_at = now() - interval '400 days'
        WHERE memory = 'old, decayed';
        UPDATE memory.memories SET relevance_score = 0.05 WHERE memory = 'recent irrelevant';
        UPDATE memory.memories SET is_deleted = true, deleted_at = now() - interval '40 days'
        WHERE memory = 'deleted long ago';
        UPDATE memory.memories SET is_deleted = true, deleted_at = now() - interval '10 days'
        WHERE memory = 'deleted lately';
    """)
    assert service.execute("SELECT * FROM memory.cleanup_old_memories()").fetchone() == (2, 1)
    state = dict(admin.execute("SELECT memory, is_deleted FROM memory.memories").fetchall())
    assert state == {
        "old irrelevant": True,
        "old relevant": False,
        "old, decayed": True,
        "recent irrelevant": False,
        "deleted lately": True,
    }
    purged_history = admin.execute(
        "SELECT count(*) FROM memory.memory_history WHERE memory_id = %s",
        (ids["deleted long ago"],),
    ).fetchone()
    assert purged_history == (0,)
    assert admin.execute(
        "SELECT event FROM memory.memory_history WHERE memory_id = %s ORDER BY id DESC LIMIT 1",
        (ids["old irrelevant"],),
    ).fetchone() == ("DELETE",)


def test_cleanup_works_in_batches(admin, service):
    for i in range(5):
        add(admin, f"old {i}", i + 1)
    admin.execute(
        "UPDATE memory.memories SET created_at = now() - interval '2 years',"
        " last_accessed_at = now() - interval '2 years', relevance_score = 0"
    )
    assert service.execute(
        "SELECT * FROM memory.cleanup_old_memories(batch_size => 2)"
    ).fetchone() == (2, 0)
    assert service.execute(
        "SELECT * FROM memory.cleanup_old_memories(batch_size => 2)"
    ).fetchone() == (2, 0)
    assert service.execute(
        "SELECT * FROM memory.cleanup_old_memories(batch_size => 2)"
    ).fetchone() == (1, 0)
    assert service.execute(
        "SELECT * FROM memory.cleanup_old_memories(purge_after => '0 days')"
    ).fetchone() == (0, 5)


def test_session_memories_expire_by_the_configured_ttl(db: Database, admin, service):
    admin.execute("UPDATE memory.settings SET session_ttl = '2 hours'")
    with connect_as(db.url, "alice") as alice:
        alice.execute(
            "INSERT INTO memory.session_memories (user_id, run_id, memory) VALUES ('alice', 'run1', 'hi')"
        )
        row = alice.execute(
            "SELECT expires_at - created_at FROM memory.session_memories"
        ).fetchone()
    assert str(row[0]) == "2:00:00"
    admin.execute(
        "INSERT INTO memory.session_memories (user_id, run_id, memory, created_at, expires_at)"
        " VALUES ('alice', 'run0', 'old', now() - interval '3 hours', now() - interval '1 hour')"
    )
    expiring = add(admin, "expiring memory", 7)
    admin.execute(
        "UPDATE memory.memories SET expires_at = now() - interval '1 second' WHERE id = %s",
        (expiring,),
    )
    assert service.execute("SELECT memory.cleanup_expired_sessions()").fetchone() == (2,)
    assert admin.execute("SELECT memory FROM memory.session_memories").fetchall() == [("hi",)]
    assert admin.execute(
        "SELECT is_deleted FROM memory.memories WHERE id = %s", (expiring,)
    ).fetchone() == (True,)


def test_session_memories_belong_to_their_user(db: Database):
    with connect_as(db.url, "bob") as bob, pytest.raises(psycopg.errors.InsufficientPrivilege):
        bob.execute(
            "INSERT INTO memory.session_memories (user_id, run_id, memory) VALUES ('alice', 'r', 'x')"
        )


def test_the_maintenance_job_reports_what_it_did(admin, service):
    add(admin, "m", 1)
    admin.execute("UPDATE memory.memories SET last_accessed_at = now() - interval '30 days'")
    report = service.execute("SELECT memory.maintain_memory_performance()").fetchone()[0]
    assert {k: report[k] for k in ("expired", "soft_deleted", "purged")} == {
        "expired": 0,
        "soft_deleted": 0,
        "purged": 0,
    }
    assert report["analyzed"] == [
        "memory.memories",
        "memory.memory_history",
        "memory.session_memories",
    ]
    analyzed = admin.execute(
        "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables"
        " WHERE relid = 'memory.memories'::regclass"
    ).fetchone()
    assert analyzed == (True,)


@pytest.mark.parametrize(
    "call",
    [
        "memory.maintain_memory_performance()",
        "memory.decay_memories()",
        "memory.cleanup_old_memories()",
        "memory.cleanup_expired_sessions()",
    ],
)
def test_maintenance_is_for_service_role_only(db: Database, call):
    with connect_as(db.url, "alice") as alice, pytest.raises(psycopg.errors.InsufficientPrivilege):
        alice.execute(f"SELECT * FROM {call}")


def test_every_memory_table_has_row_level_security_enabled_and_forced(admin):
    rows = admin.execute(
        "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class"
        " WHERE relnamespace = 'memory'::regnamespace AND relkind = 'r' ORDER BY 1"
    ).fetchall()
    assert rows and all(r[1] and r[2] for r in rows), rows


def test_every_memory_function_says_what_it_does(admin):
    missing = admin.execute(
        "SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = 'memory'::regnamespace"
        " AND obj_description(p.oid, 'pg_proc') IS NULL"
    ).fetchall()
    assert missing == []
