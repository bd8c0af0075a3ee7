"""A real streaming standby of the embedded server: lifecycle, lag in ops.database_health seen
from both sides, and the read-only memory functions served by it."""

from __future__ import annotations

import json

import psycopg
import pytest
from pgvector.psycopg import register_vector

from nodes import Node, add_memories, live_ids, wait_until
from vectors import unit


def start_replica(node: Node, *extra: str) -> str:
    started = node.mempg("db", "replica", "start", "--json", *extra)
    assert started.returncode == 0, started.stdout + started.stderr
    return json.loads(started.stdout)["url"]


def caught_up(primary: psycopg.Connection, standby: psycopg.Connection) -> None:
    """Wait until the standby has replayed everything the primary has written so far."""
    target = primary.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
    wait_until(
        lambda: standby.execute("SELECT pg_last_wal_replay_lsn() >= %s", (target,)).fetchone()[0],
        what=f"the standby to replay {target}",
    )


def health(conn: psycopg.Connection) -> dict[str, tuple[float | None, str]]:
    rows = conn.execute(
        "SELECT metric, value, status FROM ops.database_health"
        " WHERE metric LIKE 'replication%' OR metric = 'wal_receiver_streaming'"
    ).fetchall()
    return {
        metric: (None if value is None else float(value), status) for metric, value, status in rows
    }


def test_the_replica_streams_reports_its_lag_and_catches_up_after_a_stop(node: Node):
    assert node.mempg("db", "replica", "status").returncode == 1
    url = start_replica(node)
    with node.connect() as primary, psycopg.connect(url, autocommit=True) as standby:
        assert standby.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
        primary.execute(
            "UPDATE ops.thresholds SET warning = 0.001, critical = 1e15"
            " WHERE metric IN ('replication_lag_bytes', 'replication_lag_seconds')"
        )
        caught_up(primary, standby)
        # the primary learns the replay position from the standby's next status message (up to
        # wal_receiver_status_interval later), so its view is waited for, not read at once
        wait_until(
            lambda: health(primary)["replication_lag_bytes"] == (0.0, "ok"),
            what="the primary to see the standby caught up",
        )
        assert health(standby)["wal_receiver_streaming"] == (1.0, "ok")

        standby.execute("SELECT pg_wal_replay_pause()")
        wait_until(
            lambda: standby.execute("SELECT pg_get_wal_replay_pause_state() = 'paused'").fetchone()[
                0
            ],
            what="replay to pause",
        )
        primary.execute("CREATE TABLE public.lagging AS SELECT generate_series(1, 20000) AS i")
        lagging = wait_until(
            lambda: (
                (h := health(primary))["replication_lag_seconds"][0]
                and h["replication_lag_bytes"][0]
                and h
            ),
            what="the primary to see the lag in bytes and seconds",
        )
        assert lagging["replication_lag_bytes"][1] == "warning"
        assert lagging["replication_lag_seconds"][1] == "warning"
        seen = wait_until(
            lambda: (
                (h := health(standby))["replication_lag_seconds"][0]
                and h["replication_lag_bytes"][0]
                and h
            ),
            what="the standby to see its own lag",
        )
        assert seen["replication_lag_bytes"][1] == seen["replication_lag_seconds"][1] == "warning"

        standby.execute("SELECT pg_wal_replay_resume()")
        caught_up(primary, standby)
        assert standby.execute("SELECT count(*) FROM public.lagging").fetchone() == (20000,)
        wait_until(
            lambda: health(primary)["replication_lag_bytes"] == (0.0, "ok"),
            what="the primary to see no lag",
        )

    status = json.loads(node.mempg("db", "replica", "status", "--json").stdout)
    assert status["running"] and status["role"] == "standby"
    assert status["lag"]["streaming"] and status["seen_from_primary"]["state"] == "streaming"

    assert node.mempg("db", "replica", "stop").returncode == 0
    with node.connect() as primary:
        primary.execute("CREATE TABLE public.written_while_down (i int)")
        slots = health_rows(primary, "replication_slot_retained_bytes")
        assert "1 inactive" in slots[0][2] and "replication_lag_bytes" not in health(primary)
    url = start_replica(node)  # the slot kept the WAL it missed
    with node.connect() as primary, psycopg.connect(url, autocommit=True) as standby:
        caught_up(primary, standby)
        assert standby.execute("SELECT to_regclass('public.written_while_down')").fetchone()[0]

    assert node.mempg("db", "replica", "stop", "--remove").returncode == 0
    assert not node.replica.exists()
    with node.connect() as primary:
        assert primary.execute("SELECT count(*) FROM pg_replication_slots").fetchone() == (0,)


def health_rows(conn: psycopg.Connection, metric: str) -> list[tuple]:
    return conn.execute(
        "SELECT value, status, detail FROM ops.database_health WHERE metric = %s", (metric,)
    ).fetchall()


def as_alice(conn: psycopg.Connection, query: str, params: tuple) -> list[tuple]:
    """One read as the authenticated user alice, identity local to the transaction."""
    with conn.transaction():
        conn.execute("SELECT set_config('app.user_id', 'alice', true)")
        conn.execute("SET LOCAL ROLE authenticated")
        return conn.execute(query, params).fetchall()


def test_every_read_only_memory_function_runs_unchanged_on_the_standby(node: Node):
    url = start_replica(node)
    with node.connect() as primary:
        register_vector(primary)
        ids = add_memories(
            primary, "alice", ["Alice likes green tea", "Alice flies to Lisbon in May"], seed=7
        )
        add_memories(primary, "bob", ["Bob likes coffee"], seed=9)
        with primary.transaction():  # a second version, so history has two rows
            primary.execute("SELECT set_config('app.user_id', 'alice', true)")
            primary.execute("SET LOCAL ROLE authenticated")
            primary.execute(
                "SELECT memory.update_memory(%s, memory => 'Alice loves green tea', embedding => %s)",
                (ids[0], unit(70)),
            )
        standby = psycopg.connect(url, autocommit=True)
        register_vector(standby)
        with standby:
            caught_up(primary, standby)
            reads = [
                (
                    "SELECT id, memory FROM memory.search_memories(%s, 'alice', 5, '{}', '{}', 0)",
                    (unit(7),),
                ),
                (
                    "SELECT id, full_text_rank, semantic_rank FROM"
                    " memory.hybrid_search_memories('Lisbon', %s, 'alice')",
                    (unit(8),),
                ),
                ("SELECT id, memory, version FROM memory.get_memory(%s)", (ids[0],)),
                ("SELECT id, memory FROM memory.list_memories('alice')", ()),
                ("SELECT event, old_memory, new_memory FROM memory.memory_history(%s)", (ids[0],)),
            ]
            for query, params in reads:
                on_standby = as_alice(standby, query, params)
                assert on_standby, query
                assert on_standby == as_alice(primary, query, params), query
            assert {str(r[0]) for r in as_alice(standby, reads[3][0], ())} == set(ids)
            assert [r[0] for r in as_alice(standby, reads[4][0], (ids[0],))] == ["ADD", "UPDATE"]
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):  # and it refuses writes
                as_alice(standby, "SELECT * FROM memory.add_memory('alice', 'x', %s)", (unit(1),))
            assert live_ids(standby) == live_ids(primary)
