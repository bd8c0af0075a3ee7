"""Quotas and rate limits on memory operations (0011_quotas, docs/memory.md "Quotas and rate limits").

Time is injected through memory.quota_settings.clock_override (only service_role may set it), so
refills are tested without sleeping. Concurrency is proven through pg_locks, never by timing.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from helpers import Database
from vectors import add_memory, connect_as, owner, run_behind_scope_locks, unit

T0 = datetime(2030, 1, 1, tzinfo=UTC)
OPERATIONS = ["add", "update", "delete", "search", "hybrid_search"]


@pytest.fixture
def admin(db: Database) -> Iterator[psycopg.Connection]:
    with owner(db.url) as conn:
        conn.execute("UPDATE memory.quota_settings SET clock_override = %s", (T0,))
        yield conn


def set_clock(admin: psycopg.Connection, seconds: float) -> None:
    admin.execute(
        "UPDATE memory.quota_settings SET clock_override = %s", (T0 + timedelta(seconds=seconds),)
    )


def limit(admin: psycopg.Connection, operation: str, capacity: int, refill: float = 1.0) -> None:
    admin.execute(
        "UPDATE memory.rate_limits SET capacity = %s, refill_per_second = %s"
        " WHERE plan = 'default' AND operation = %s",
        (capacity, refill, operation),
    )


def refusal(exc: psycopg.Error) -> tuple[dict, dict]:
    """The JSON message and detail of a PGRST refusal."""
    assert exc.sqlstate == "PGRST", exc
    return json.loads(exc.diag.message_primary or ""), json.loads(exc.diag.message_detail or "")


def refused_code(call) -> str | None:
    """Runs call(); the refusal's code (rate_limited / quota_exceeded), None when it succeeded."""
    try:
        call()
    except psycopg.Error as exc:
        return refusal(exc)[0]["code"]
    return None


def table(admin: psycopg.Connection, name: str) -> list[tuple]:
    return admin.execute(f"SELECT t::text FROM {name} AS t ORDER BY 1").fetchall()


def refusals(admin: psycopg.Connection) -> dict[tuple[str, str], int]:
    rows = admin.execute("SELECT kind, operation, refusals FROM ops.quota_refusals").fetchall()
    return {(k, o): n for k, o, n in rows}


def search(conn: psycopg.Connection, user: str = "alice") -> list:
    return conn.execute(
        "SELECT id FROM memory.search_memories(%s, %s, 5, '{}', '{}', 0)", (unit(1), user)
    ).fetchall()


def hybrid(conn: psycopg.Connection, user: str = "alice") -> list:
    return conn.execute(
        "SELECT id FROM memory.hybrid_search_memories('tea', %s, %s)", (unit(1), user)
    ).fetchall()


# ---------------------------------------------------------------- the bucket


def test_the_bucket_holds_its_capacity_and_refills_at_the_configured_rate(admin, alice):
    limit(admin, "add", capacity=3, refill=0.5)
    for i in range(3):
        add_memory(alice, f"fact {i}", unit(10 + i))
    with pytest.raises(psycopg.Error) as caught:
        add_memory(alice, "fact 3", unit(13))
    message, detail = refusal(caught.value)
    assert message["code"] == "rate_limited"
    assert detail == {"status": 429, "headers": {"Retry-After": "2"}}  # 1 token at 0.5 per second

    set_clock(admin, 1)  # half a token: still refused, and one second to wait
    with pytest.raises(psycopg.Error) as caught:
        add_memory(alice, "fact 3", unit(13))
    assert refusal(caught.value)[1]["headers"] == {"Retry-After": "1"}
    set_clock(admin, 2)
    add_memory(alice, "fact 3", unit(13))
    assert refused_code(lambda: add_memory(alice, "fact 4", unit(14))) == "rate_limited"

    set_clock(admin, 3600)  # an hour later the bucket is full again: its capacity, no more
    outcomes = [
        refused_code(lambda i=i: add_memory(alice, f"late {i}", unit(20 + i))) for i in range(5)
    ]
    assert outcomes == [None, None, None, "rate_limited", "rate_limited"]


def test_time_going_backwards_refills_nothing(admin, alice):
    limit(admin, "search", capacity=1, refill=1)
    set_clock(admin, 100)
    search(alice)
    set_clock(admin, 0)
    assert refused_code(lambda: search(alice)) == "rate_limited"
    set_clock(admin, 101)
    search(alice)


def test_a_rolled_back_operation_gives_its_token_back(admin, alice):
    limit(admin, "add", capacity=1, refill=0.001)
    with alice.transaction(force_rollback=True):
        add_memory(alice, "Alice likes tea", unit(1))
    assert table(admin, "memory.rate_buckets") == []  # the first take inserted the row: gone too
    add_memory(alice, "Alice likes tea", unit(1))
    with pytest.raises(psycopg.Error), alice.transaction():
        add_memory(alice, "Alice likes coffee", unit(2))


def test_a_refused_operation_writes_nothing_and_is_counted(admin, alice):
    limit(admin, "add", capacity=1, refill=0.001)
    add_memory(alice, "Alice likes tea", unit(1))
    before = [
        table(admin, t)
        for t in (
            "memory.memories",
            "memory.memory_history",
            "memory.rate_buckets",
            "memory.quota_usage",
        )
    ]
    assert refused_code(lambda: add_memory(alice, "Alice likes coffee", unit(2))) == "rate_limited"
    # a NOOP add is charged too: deciding it costs as much as an ADD
    assert refused_code(lambda: add_memory(alice, "Alice likes tea", unit(1))) == "rate_limited"
    after = [
        table(admin, t)
        for t in (
            "memory.memories",
            "memory.memory_history",
            "memory.rate_buckets",
            "memory.quota_usage",
        )
    ]
    assert after == before
    assert refusals(admin)[("rate", "add")] == 2  # counted although the transaction rolled back


def test_other_users_keep_their_own_buckets(admin, db, alice):
    limit(admin, "add", capacity=1, refill=0.001)
    add_memory(alice, "Alice likes tea", unit(1))
    assert refused_code(lambda: add_memory(alice, "Alice likes coffee", unit(2))) == "rate_limited"
    with connect_as(db.url, "bob") as bob:
        add_memory(bob, "Bob likes tea", unit(1), user="bob")


def test_every_operation_has_its_own_bucket(admin, alice):
    ids = [add_memory(alice, f"Alice fact {i}", unit(30 + i))[0] for i in range(3)]
    for operation in OPERATIONS:
        limit(admin, operation, capacity=1, refill=0.001)
    calls = {
        "add": lambda: add_memory(alice, "Alice likes tea", unit(1)),
        "update": lambda: alice.execute(
            "SELECT memory.update_memory(%s::uuid, metadata => '{\"n\": 1}')", (ids[0],)
        ),
        "delete": lambda: alice.execute("SELECT memory.delete_memory(%s::uuid)", (ids.pop(),)),
        "search": lambda: search(alice),
        "hybrid_search": lambda: alice.execute(
            "SELECT memory.hybrid_search_memories('tea', %s, 'alice')", (unit(1),)
        ),
    }
    first = {op: refused_code(call) for op, call in calls.items()}
    assert first == dict.fromkeys(OPERATIONS)
    second = {op: refused_code(call) for op, call in calls.items()}
    assert second == dict.fromkeys(OPERATIONS, "rate_limited")
    counted = refusals(admin)
    assert {op: counted[("rate", op)] for op in OPERATIONS} == dict.fromkeys(OPERATIONS, 1)


def test_restore_and_plain_sql_writes_are_limited_too(admin, alice):
    memory_id, _ = add_memory(alice, "Alice likes tea", unit(1))
    alice.execute("SELECT memory.delete_memory(%s::uuid)", (memory_id,))
    limit(admin, "update", capacity=1, refill=0.001)
    limit(admin, "add", capacity=1, refill=0.001)
    limit(admin, "delete", capacity=1, refill=0.001)
    alice.execute("SELECT memory.restore_memory(%s::uuid)", (memory_id,))  # an update
    assert (
        refused_code(lambda: alice.execute("UPDATE memory.memories SET metadata = '{\"a\": 1}'"))
        == "rate_limited"
    )
    alice.execute(
        "INSERT INTO memory.memories (user_id, memory, embedding) VALUES ('alice', 'plain', %s)",
        (unit(2),),
    )
    assert (
        refused_code(
            lambda: alice.execute(
                "INSERT INTO memory.memories (user_id, memory, embedding) VALUES ('alice', 'again', %s)",
                (unit(3),),
            )
        )
        == "rate_limited"
    )
    alice.execute("DELETE FROM memory.memories WHERE memory = 'plain'")  # the delete token
    assert refused_code(lambda: alice.execute("DELETE FROM memory.memories")) == "rate_limited"


def test_touch_and_reads_take_no_token(admin, alice):
    memory_id, _ = add_memory(alice, "Alice likes tea", unit(1))
    for operation in ("update", "delete"):
        limit(admin, operation, capacity=1, refill=0.001)
    for _ in range(3):
        alice.execute("SELECT memory.touch_memories(ARRAY[%s::uuid])", (memory_id,))
        alice.execute("SELECT * FROM memory.get_memory(%s::uuid)", (memory_id,))
        alice.execute("SELECT * FROM memory.list_memories('alice')")
    buckets = admin.execute("SELECT operation::text FROM memory.rate_buckets").fetchall()
    assert buckets == [("add",)]


def test_limits_off_or_an_unlimited_plan_limit_nothing(admin, db, alice):
    limit(admin, "search", capacity=1, refill=0.001)
    search(alice)
    assert refused_code(lambda: search(alice)) == "rate_limited"
    admin.execute(
        "INSERT INTO memory.user_quota_plans (user_id, plan) VALUES ('alice', 'unlimited')"
    )
    for _ in range(3):
        search(alice)
    admin.execute("DELETE FROM memory.user_quota_plans")
    admin.execute("UPDATE memory.quota_settings SET enabled = false")
    for _ in range(3):
        search(alice)


# ---------------------------------------------------------------- who is charged


def test_a_user_cannot_spend_another_users_tokens(admin, alice):
    limit(admin, "search", capacity=1, refill=0.001)
    search(alice, user="bob")  # finds nothing (RLS), and is alice's search
    rows = admin.execute("SELECT user_id, operation::text FROM memory.rate_buckets").fetchall()
    assert rows == [("alice", "search")]
    assert refused_code(lambda: search(alice, user="bob")) == "rate_limited"
    assert refused_code(lambda: alice.execute("SELECT memory.take_token('search', 'bob')")) == (
        "rate_limited"
    )


def test_application_roles_cannot_refill_or_reconfigure(admin, db, alice):
    add_memory(alice, "Alice likes tea", unit(1))
    for statement in (
        "UPDATE memory.rate_buckets SET tokens = 1e9",
        "DELETE FROM memory.rate_buckets",
        "UPDATE memory.quota_usage SET memories = 0",
        "UPDATE memory.quota_settings SET enabled = false",
        "UPDATE memory.quota_settings SET clock_override = '2999-01-01'",
        "INSERT INTO memory.user_quota_plans VALUES ('alice', 'unlimited')",
        "UPDATE memory.rate_limits SET capacity = 1000000",
        "SELECT memory.recount_quota_usage()",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            alice.execute(statement)
    # a user sees their own bucket and totals only
    with connect_as(db.url, "bob") as bob:
        add_memory(bob, "Bob likes tea", unit(1), user="bob")
    assert [r[0] for r in alice.execute("SELECT user_id FROM memory.rate_buckets").fetchall()] == [
        "alice"
    ]
    assert alice.execute("SELECT user_id, memories FROM memory.quota_usage").fetchall() == [
        ("alice", 1)
    ]


def test_service_role_is_not_limited_unless_configured(admin, db, alice):
    limit(admin, "add", capacity=1, refill=0.001)
    with connect_as(db.url, None, role="service_role") as service:
        for i in range(3):
            add_memory(service, f"job fact {i}", unit(40 + i))
        assert table(admin, "memory.rate_buckets") == []
        admin.execute("UPDATE memory.quota_settings SET limit_service_role = true")
        add_memory(service, "job fact 3", unit(43))  # charged to alice, whom it acts for
        assert refused_code(lambda: add_memory(alice, "Alice likes tea", unit(1))) == "rate_limited"
        assert refused_code(lambda: add_memory(service, "job fact 4", unit(44))) == "rate_limited"


def test_the_owner_is_never_limited(admin):
    limit(admin, "add", capacity=1, refill=0.001)
    for i in range(3):
        add_memory(admin, f"restored fact {i}", unit(50 + i))
    assert table(admin, "memory.rate_buckets") == []


# ---------------------------------------------------------------- caps


def test_the_memory_cap_refuses_an_add_and_writes_nothing(admin, alice):
    admin.execute("UPDATE memory.quota_plans SET max_memories = 2 WHERE plan = 'default'")
    first, _ = add_memory(alice, "Alice likes tea", unit(1))
    add_memory(alice, "Alice flies to Lisbon", unit(2))
    before = [
        table(admin, t) for t in ("memory.memories", "memory.memory_history", "memory.quota_usage")
    ]
    with pytest.raises(psycopg.Error) as caught:
        add_memory(alice, "Alice owns a red car", unit(3))
    message, detail = refusal(caught.value)
    assert message["code"] == "quota_exceeded"
    assert detail == {"status": 429, "headers": {}}  # waiting does not help: no Retry-After
    assert [
        table(admin, t) for t in ("memory.memories", "memory.memory_history", "memory.quota_usage")
    ] == before
    assert refusals(admin)[("cap", "add")] == 1
    # at the cap, an add that deduplication turns into a NOOP stores nothing new: allowed
    assert add_memory(alice, "Alice likes tea", unit(1))[1] == "NOOP"
    alice.execute("SELECT memory.delete_memory(%s::uuid)", (first,))
    add_memory(alice, "Alice owns a red car", unit(3))
    assert refused_code(
        lambda: alice.execute("SELECT memory.restore_memory(%s::uuid)", (first,))
    ) == ("quota_exceeded")


def test_the_bytes_cap_counts_text_and_metadata_and_allows_shrinking(admin, alice):
    admin.execute("UPDATE memory.quota_plans SET max_bytes = 200 WHERE plan = 'default'")
    memory_id, _ = add_memory(alice, "x" * 50, unit(1), metadata='{"k": "' + "v" * 50 + '"}')
    stored = 50 + len('{"k": "' + "v" * 50 + '"}')  # metadata as jsonb prints it
    assert alice.execute("SELECT bytes FROM memory.quota_usage").fetchone() == (stored,)
    assert refused_code(lambda: add_memory(alice, "y" * 100, unit(2))) == "quota_exceeded"
    grow = '{"k": "' + "v" * 150 + '"}'
    assert (
        refused_code(
            lambda: alice.execute(
                "SELECT memory.update_memory(%s::uuid, metadata => %s)", (memory_id, grow)
            )
        )
        == "quota_exceeded"
    )
    assert refusals(admin)[("cap", "update")] == 1
    admin.execute("UPDATE memory.quota_plans SET max_bytes = 10 WHERE plan = 'default'")  # lowered
    alice.execute("SELECT memory.update_memory(%s::uuid, metadata => '{}')", (memory_id,))
    assert alice.execute("SELECT bytes FROM memory.quota_usage").fetchone() == (52,)
    # a NOOP add that merges new metadata into the memory grows it: refused over the cap
    admin.execute("UPDATE memory.quota_plans SET max_bytes = 60 WHERE plan = 'default'")
    assert (
        refused_code(lambda: add_memory(alice, "x" * 50, unit(1), metadata='{"more": "data"}'))
        == "quota_exceeded"
    )


def test_the_totals_follow_every_kind_of_write(admin, db, alice):
    tea, _ = add_memory(alice, "Alice likes tea", unit(1), metadata='{"a": 1}')
    add_memory(alice, "Alice likes tea", unit(1), metadata='{"b": 2}')  # NOOP, metadata merged
    lisbon, _ = add_memory(alice, "Alice flies to Lisbon", unit(2))
    alice.execute(
        "SELECT memory.update_memory(%s::uuid, memory => 'Alice flies to Porto', embedding => %s)",
        (lisbon, unit(3)),
    )
    alice.execute("SELECT memory.delete_memory(%s::uuid)", (tea,))
    alice.execute("SELECT memory.restore_memory(%s::uuid)", (tea,))
    alice.execute("SELECT memory.delete_memory(%s::uuid)", (lisbon,))
    admin.execute("DELETE FROM memory.memories WHERE id = %s", (lisbon,))  # purged
    with connect_as(db.url, "bob") as bob:
        add_memory(bob, "Bob likes jazz", unit(4), user="bob")
    counted = admin.execute(
        "SELECT user_id, memories, bytes FROM memory.quota_usage ORDER BY 1"
    ).fetchall()
    actual = admin.execute(
        "SELECT user_id, count(*), sum(octet_length(memory) + octet_length(metadata::text))"
        " FROM memory.memories WHERE NOT is_deleted GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert counted == actual
    assert counted[0] == ("alice", 1, len("Alice likes tea") + len('{"a": 1, "b": 2}'))
    assert admin.execute("SELECT memory.recount_quota_usage()").fetchone() == (0,)


def test_recount_repairs_totals_after_writes_without_triggers(admin, alice):
    add_memory(alice, "Alice likes tea", unit(1))
    with admin.transaction():
        admin.execute("SET LOCAL session_replication_role = replica")  # a restore, a bulk load
        admin.execute(
            "INSERT INTO memory.memories (user_id, memory, embedding) VALUES ('alice', 'loaded', %s)",
            (unit(2),),
        )
    assert admin.execute("SELECT memories FROM memory.quota_usage").fetchone() == (1,)
    assert admin.execute("SELECT memory.recount_quota_usage('alice')").fetchone() == (1,)
    assert admin.execute("SELECT memories FROM memory.quota_usage").fetchone() == (2,)


# ---------------------------------------------------------------- visibility


def test_quota_status_shows_a_user_their_own_standing(admin, alice):
    limit(admin, "add", capacity=5, refill=1)
    add_memory(alice, "Alice likes tea", unit(1))
    rows = alice.execute(
        "SELECT plan, operation, tokens, capacity, memories, max_memories, limited"
        " FROM memory.quota_status('bob')"  # the argument is ignored for authenticated
    ).fetchall()
    assert ("default", "add", 4.0, 5, 1, 100000, True) in rows
    assert {r[1] for r in rows} == set(OPERATIONS)
    set_clock(admin, 10)
    assert ("add", 5.0) in [(r[1], r[2]) for r in rows_of(alice)]


def rows_of(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute("SELECT plan, operation, tokens FROM memory.quota_status()").fetchall()


def test_ops_lists_the_users_closest_to_their_limits_first(admin, db, alice):
    admin.execute("UPDATE memory.quota_plans SET max_memories = 4 WHERE plan = 'default'")
    limit(admin, "search", capacity=10, refill=0.001)
    for i in range(3):
        add_memory(alice, f"Alice fact {i}", unit(60 + i))
    with connect_as(db.url, "bob") as bob:
        add_memory(bob, "Bob likes jazz", unit(4), user="bob")
        for _ in range(9):
            search(bob, user="bob")
    with connect_as(db.url, "carol") as carol:
        search(carol, user="carol")
    rows = admin.execute(
        "SELECT user_id, memories, tightest_operation, tokens_left, pressure FROM ops.quota_pressure"
    ).fetchall()
    assert [r[0] for r in rows] == ["bob", "alice", "carol"]
    assert (rows[0][2], float(rows[0][3]), float(rows[0][4])) == ("search", 1.0, 0.9)
    assert (rows[1][1], float(rows[1][4])) == (3, 0.75)


def test_health_report_counts_refusals(admin, alice):
    limit(admin, "add", capacity=1, refill=0.001)
    add_memory(alice, "Alice likes tea", unit(1))
    for _ in range(2):
        refused_code(lambda: add_memory(alice, "Alice likes coffee", unit(2)))
    with connect_as(admin.info.dsn, None, role="service_role") as service:
        report = service.execute("SELECT ops.health_report(1)").fetchone()[0]
    counts = {(r["kind"], r["operation"]): r["refusals"] for r in report["quota_refusals"]}
    assert counts[("rate", "add")] == 2
    assert report["quota_pressure"][0]["user_id"] == "alice"


# ---------------------------------------------------------------- concurrency

SESSIONS = 16


def test_sixteen_sessions_of_one_user_cannot_take_more_than_the_bucket(admin, db):
    """Adds take their token under the deduplication scope lock: the sessions wait there (proven
    through pg_locks), then race; with the clock frozen, exactly `capacity` adds get through."""
    limit(admin, "add", capacity=20, refill=1)
    conns = [connect_as(db.url, "alice") for _ in range(SESSIONS)]

    def work(index: int) -> list[str | None]:
        return [
            refused_code(
                lambda j=j: add_memory(conns[index], f"fact {index}-{j}", unit(index * 10 + j))
            )
            for j in range(3)
        ]

    try:
        results = run_behind_scope_locks(db.url, conns, ["alice"] * SESSIONS, work)
    finally:
        for conn in conns:
            conn.close()
    outcomes = Counter(code for session in results for code in session)
    assert outcomes == {None: 20, "rate_limited": SESSIONS * 3 - 20}
    assert admin.execute("SELECT count(*) FROM memory.memories").fetchone() == (20,)
    assert admin.execute("SELECT tokens FROM memory.rate_buckets").fetchone() == (0.0,)


def wait_until_waiting_on_row_locks(
    admin: psycopg.Connection, pids: list[int], errors: list
) -> None:
    """Poll pg_locks until every session in `pids` waits for a lock (a row's transaction lock)."""
    deadline = time.monotonic() + 60
    while True:
        row = admin.execute(
            "SELECT count(DISTINCT pid) FROM pg_locks WHERE NOT granted AND pid = ANY(%s)", (pids,)
        ).fetchone()
        if row is not None and row[0] == len(pids):
            return
        assert not errors, errors
        assert time.monotonic() < deadline, "the sessions never all reached the bucket's lock"
        time.sleep(0.02)


def run_behind_bucket_lock(db: Database, users: list[str], work) -> list:
    """Run work(conn) in one session per user while the owner holds the row lock of alice's search
    bucket; once pg_locks shows every alice session waiting, release them all at once."""
    conns = [connect_as(db.url, user) for user in users]
    results: list = [None] * len(conns)
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            results[index] = work(conns[index])
        except BaseException as exc:
            errors.append(exc)

    try:
        with owner(db.url) as locker:
            locker.execute("BEGIN")
            locker.execute(
                "SELECT 1 FROM memory.rate_buckets WHERE user_id = 'alice' AND operation = 'search' FOR UPDATE"
            )
            threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(conns))]
            for thread in threads:
                thread.start()
            alice_pids = [
                c.info.backend_pid for c, u in zip(conns, users, strict=True) if u == "alice"
            ]
            with owner(db.url) as watcher:
                wait_until_waiting_on_row_locks(watcher, alice_pids, errors)
            others = [i for i, u in enumerate(users) if u != "alice"]
            for i in others:  # the other users were never held up: done while alice's wait
                threads[i].join(timeout=60)
                assert not threads[i].is_alive(), "another user's session waited on alice's bucket"
            locker.execute("COMMIT")
            for thread in threads:
                thread.join(timeout=300)
    finally:
        for conn in conns:
            conn.close()
    assert not errors, errors
    return results


def test_sixteen_searching_sessions_of_one_user_queue_on_one_row_and_other_users_never_wait(
    admin, db
):
    limit(admin, "search", capacity=30, refill=1)
    with connect_as(db.url, "alice") as alice:
        search(alice)  # the bucket row exists: 29 tokens left
    users = ["alice"] * SESSIONS + ["bob", "carol", "dave", "erin"]

    def work(conn: psycopg.Connection) -> list[str | None]:
        return [refused_code(lambda: search(conn, user=conn.acting_user)) for _ in range(3)]

    results = run_behind_bucket_lock(db, users, work)
    alice_outcomes = Counter(
        code for r, u in zip(results, users, strict=True) if u == "alice" for code in r
    )
    assert alice_outcomes == {None: 29, "rate_limited": SESSIONS * 3 - 29}
    assert all(r == [None, None, None] for r, u in zip(results, users, strict=True) if u != "alice")


def test_different_users_never_wait_on_each_others_rows(admin, db):
    """With alice's buckets and totals locked by an open transaction, bob adds, updates, deletes
    and searches under lock_timeout 1 s: waiting on any lock would fail with 55P03."""
    with connect_as(db.url, "alice") as alice:
        add_memory(alice, "Alice likes tea", unit(1))
        search(alice)
    with owner(db.url) as locker, connect_as(db.url, "bob") as bob:
        locker.execute("BEGIN")
        locked = locker.execute(
            "SELECT (SELECT count(*) FROM (SELECT FROM memory.rate_buckets WHERE user_id = 'alice' FOR UPDATE) b),"
            " (SELECT count(*) FROM (SELECT FROM memory.quota_usage WHERE user_id = 'alice' FOR UPDATE) u)"
        ).fetchone()
        assert locked == (2, 1)
        with bob.transaction():
            bob.execute("SET LOCAL lock_timeout = '1s'")
            memory_id, _ = add_memory(bob, "Bob likes jazz", unit(2), user="bob")
            bob.execute(
                "SELECT memory.update_memory(%s::uuid, metadata => '{\"a\": 1}')", (memory_id,)
            )
            search(bob, user="bob")
            hybrid(bob, user="bob")
            bob.execute("SELECT memory.delete_memory(%s::uuid)", (memory_id,))
        with (  # and alice herself does wait: the check can fail
            connect_as(db.url, "alice") as alice,
            pytest.raises(psycopg.errors.LockNotAvailable),
            alice.transaction(),
        ):
            alice.execute("SET LOCAL lock_timeout = '200ms'")
            search(alice)
        locker.execute("ROLLBACK")


def test_under_repeatable_read_a_concurrent_operation_of_the_same_user_gets_40001(admin, db):
    limit(admin, "search", capacity=10, refill=1)
    with connect_as(db.url, "alice") as first, connect_as(db.url, "alice") as second:
        search(first)
        second.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        second.execute("SELECT count(*) FROM memory.memories")  # its snapshot
        search(first)  # changes the bucket row after that snapshot
        with pytest.raises(psycopg.errors.SerializationFailure):
            search(second)
        second.execute("ROLLBACK")
        second.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")  # the retry
        search(second)
        second.execute("COMMIT")
    assert admin.execute("SELECT round(tokens) FROM memory.rate_buckets").fetchone() == (7,)


# ---------------------------------------------------------------- fuzzing the new entry points

LABELS = st.one_of(
    st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=12),
    st.sampled_from([None, "", " ", "alice", "bob", "a" * 256, "r" * 100_000]),
)
OPERATION_NAMES = st.one_of(
    st.sampled_from([*OPERATIONS, None, "", "ADD", "add ", "bogus", "x" * 10_000]), LABELS
)
NUMBERS = st.one_of(
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([None, 0, 1, 1_000_000, 1_000_001, 1e-7, 1e-6]),
)
FUZZ = settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def memories_and_history(admin: psycopg.Connection) -> list:
    return [table(admin, "memory.memories"), table(admin, "memory.memory_history")]


def test_random_calls_of_take_token_and_quota_status_get_documented_errors_and_touch_only_the_caller(
    admin, db, alice
):
    for operation in OPERATIONS:  # small buckets, so that the fuzzing empties some
        limit(admin, operation, capacity=3, refill=0.001)
    add_memory(alice, "Alice likes tea", unit(1))
    with connect_as(db.url, "bob") as bob:
        add_memory(bob, "Bob likes jazz", unit(2), user="bob")
    unchanged = memories_and_history(admin)
    others = "SELECT b::text FROM memory.rate_buckets AS b WHERE user_id <> 'alice' ORDER BY 1"
    bob_before = admin.execute(others).fetchall()
    seen: Counter = Counter()

    @FUZZ
    @given(operation=OPERATION_NAMES, user=LABELS)
    def one_call(operation: str | None, user: str | None) -> None:
        before = admin.execute(
            "SELECT coalesce(sum(tokens), 0) FROM memory.rate_buckets WHERE user_id = 'alice'"
        ).fetchone()[0]
        try:
            alice.execute("SELECT memory.take_token(%s, %s)", (operation, user))
            outcome = "ok"
        except psycopg.Error as exc:
            outcome = exc.sqlstate or "?"
        # 22004 a NULL operation, 23514 an unknown one (the domain memory.quota_operation)
        assert outcome in {"ok", "22004", "23514", "PGRST"}, (operation, user, outcome)
        assert (outcome in {"ok", "PGRST"}) == (operation in OPERATIONS), (operation, outcome)
        after = admin.execute(
            "SELECT coalesce(sum(tokens), 0) FROM memory.rate_buckets WHERE user_id = 'alice'"
        ).fetchone()[0]
        if outcome == "ok":  # one token fewer, or a new bucket one short of full
            assert after - before in (-1, 2), (operation, before, after)
        else:
            assert after == before
        rows = alice.execute(
            "SELECT plan, operation, limited FROM memory.quota_status(%s)", (user,)
        ).fetchall()
        assert {r[0] for r in rows} == {"default"} and all(r[2] for r in rows)
        seen[outcome] += 1

    one_call()
    assert memories_and_history(admin) == unchanged
    assert admin.execute(others).fetchall() == bob_before  # nobody else was charged
    assert seen["ok"] and seen["PGRST"] and seen["23514"] and seen["22004"], seen


def test_random_limits_and_plans_are_refused_by_their_checks_or_kept(admin, db):
    seen: Counter = Counter()
    with connect_as(db.url, None, role="service_role") as service:

        @FUZZ
        @given(capacity=NUMBERS, refill=NUMBERS, cap=NUMBERS, plan=LABELS, user=LABELS)
        # one change every check accepts, whatever the draw: a valid one in all five values at
        # once is rare, and which draw runs depends on what else pytest collected
        @example(capacity=10, refill=1.0, cap=100, plan="fuzz-plan", user="fuzz-user")
        def one_change(capacity, refill, cap, plan, user) -> None:
            unchanged = memories_and_history(admin)
            try:
                with service.transaction():
                    service.execute(
                        "UPDATE memory.rate_limits SET capacity = %s, refill_per_second = %s::float8"
                        " WHERE plan = 'default' AND operation = 'add'",
                        (capacity, refill),
                    )
                    service.execute(
                        "INSERT INTO memory.quota_plans (plan, max_memories) VALUES (%s, %s)",
                        (plan, cap),
                    )
                    service.execute(
                        "INSERT INTO memory.user_quota_plans VALUES (%s, %s)", (user, plan)
                    )
                outcome = "ok"
            except psycopg.Error as exc:
                outcome = exc.sqlstate or "?"
            # 23502 NULL, 23514 a CHECK, 23505 a plan or user twice, 22003 out of range,
            # 22P02 not a number, 23503 no such plan
            assert outcome in {"ok", "23502", "23514", "23505", "22003", "22P02", "23503"}, outcome
            row = admin.execute(
                "SELECT capacity, refill_per_second FROM memory.rate_limits"
                " WHERE plan = 'default' AND operation = 'add'"
            ).fetchone()
            assert 1 <= row[0] <= 1_000_000 and 1e-6 <= row[1] <= 1_000_000, row
            assert memories_and_history(admin) == unchanged
            assert service.execute("SELECT memory.recount_quota_usage(%s)", (user,)).fetchone() == (
                0,
            )
            seen[outcome] += 1

        one_change()
    assert seen["ok"] and seen["23514"], seen


def test_text_search_spends_a_search_token_and_hybrid_search_one_of_its_own(admin, alice):
    add_memory(alice, "Alice likes tea", unit(1))
    limit(admin, "search", capacity=1, refill=0.001)
    limit(admin, "hybrid_search", capacity=2, refill=0.001)
    text = lambda: alice.execute("SELECT memory.text_search_memories('tea', 'alice')")  # noqa: E731
    hybrid = lambda: alice.execute(  # noqa: E731
        "SELECT memory.hybrid_search_memories('tea', %s, 'alice')", (unit(1),)
    )
    assert refused_code(text) is None
    assert refused_code(text) == "rate_limited"
    # the hybrid search's vector and full-text sides are not charged as searches
    assert [refused_code(hybrid), refused_code(hybrid)] == [None, None]
    assert refused_code(hybrid) == "rate_limited"


def test_the_searches_that_take_a_token_are_volatile(admin):
    """PostgREST runs a STABLE or IMMUTABLE function in a read-only transaction, where taking the
    token (a write) would fail with 25006: every search that takes one is VOLATILE."""
    rows = admin.execute(
        "SELECT p.proname, p.provolatile FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname = 'memory' AND p.proname IN"
        " ('search_memories', 'hybrid_search_memories', 'text_search_memories')"
    ).fetchall()
    assert sorted(rows) == [
        ("hybrid_search_memories", "v"),
        ("search_memories", "v"),
        ("text_search_memories", "v"),
    ]
