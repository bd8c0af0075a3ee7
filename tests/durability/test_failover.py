"""Failover drills on real servers: a client logs every add the primary acknowledged, the primary
goes away (a clean stop; a SIGKILL with a synchronous replica), the replica is promoted, and
every acknowledged add is there, and writes continue."""

from __future__ import annotations

import json
import os
import signal
import time

import psycopg
from pgvector.psycopg import register_vector

from nodes import Node, Writer, add_memories, live_ids, wait_until
from runner import cluster
from vectors import unit


def drill(node: Node, *, stop_primary: str) -> tuple[Writer, float, str]:
    writer = Writer(node.url())
    writer.start()
    wait_until(lambda: len(writer.acknowledged) >= 25, what="25 acknowledged adds")
    began = time.monotonic()
    if stop_primary == "kill":
        info = cluster.read_postmaster(node.pgdata)
        assert info is not None
        os.kill(info.pid, signal.SIGKILL)
    else:
        assert node.mempg("db", "stop").returncode == 0
    writer.join(timeout=60)
    assert not writer.is_alive() and writer.error is not None
    promoted = node.mempg("db", "replica", "promote", "--json")
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    return writer, time.monotonic() - began, json.loads(promoted.stdout)["url"]


def assert_nothing_lost_and_writes_continue(writer: Writer, url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        register_vector(conn)
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)
        assert set(writer.acknowledged) <= live_ids(conn)
        after = add_memories(conn, "writer", ["written after the failover"], seed=999_999_999)
        assert set(after) <= live_ids(conn)
        problems = conn.execute(
            "SELECT count(*) FROM memory.memories AS m WHERE m.version"
            " <> (SELECT count(*) FROM memory.memory_history AS h WHERE h.memory_id = m.id)"
        ).fetchone()
        assert problems == (0,)
        search = conn.execute(
            "SELECT count(*) FROM memory.search_memories(%s, 'writer', 5)", (unit(0),)
        ).fetchone()
        assert search[0] >= 1


def test_a_planned_failover_keeps_every_acknowledged_add_and_takes_writes(node: Node):
    assert node.mempg("db", "replica", "start").returncode == 0
    writer, seconds, url = drill(node, stop_primary="stop")
    assert_nothing_lost_and_writes_continue(writer, url)
    print(f"failover (clean stop of the primary to promoted replica): {seconds:.2f} s")


def test_a_synchronous_replica_keeps_every_acknowledged_add_when_the_primary_is_killed(
    node: Node,
):
    assert node.mempg("db", "replica", "start", "--synchronous").returncode == 0
    with node.connect() as primary:
        wait_until(
            lambda: (
                primary.execute(
                    "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'mempg_replica'"
                ).fetchone()
                == ("sync",)
            ),
            what="the replica to become synchronous",
        )
    writer, seconds, url = drill(node, stop_primary="kill")
    assert_nothing_lost_and_writes_continue(writer, url)
    print(f"failover (SIGKILL of the primary to promoted replica): {seconds:.2f} s")
