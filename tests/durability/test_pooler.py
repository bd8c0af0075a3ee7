"""pgbouncer in transaction mode in front of the test server (`mempg db pooler start`), with one
server connection per database so that every client shares it: identity set for a transaction
never reaches the next client, and every API function works through it, leaving no session state
on the shared server connection."""

from __future__ import annotations

import json
import shutil
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from pgvector.psycopg import register_vector

from helpers import SERVER, Database, run_mempg
from nodes import scratch_folder, wait_until
from runner import pooler
from vectors import unit, with_similarity

pytestmark = pytest.mark.skipif(
    pooler.pgbouncer_binary() is None,
    reason="pgbouncer is not installed (as root: apt-get install -y pgbouncer; .ci/run installs it)",
)

# Parameters pgbouncer itself sets on a server connection to match each client's.
POOLER_TRACKED = {
    "application_name",
    "client_encoding",
    "DateStyle",
    "IntervalStyle",
    "TimeZone",
    "standard_conforming_strings",
}


@dataclass(frozen=True)
class Pooled:
    folder: Path
    port: int

    def connect(self, database: str) -> psycopg.Connection:
        """A client of the pooler: no server-side prepared statements (pgbouncer 1.18 cannot
        follow them across server connections)."""
        conn = psycopg.connect(
            host=str(self.folder),
            port=self.port,
            dbname=database,
            user="postgres",
            autocommit=True,
            prepare_threshold=None,
        )
        register_vector(conn)
        return conn

    def waiting_clients(self, database: str) -> int:
        with psycopg.connect(
            host=str(self.folder),
            port=self.port,
            dbname="pgbouncer",
            user="postgres",
            autocommit=True,
            cursor_factory=psycopg.ClientCursor,  # the admin console speaks the simple protocol only
        ) as console:
            pools = console.execute("SHOW POOLS")
            names = [c.name for c in pools.description]
            for row in pools.fetchall():
                pool = dict(zip(names, row, strict=True))
                if pool["database"] == database:
                    return int(pool["cl_waiting"])
        return 0


@pytest.fixture(scope="module")
def pooled() -> Iterator[Pooled]:
    folder = scratch_folder("mempg-pooler-")
    env = {"MEMPG_POOLER_DIR": str(folder / "pooler")}
    started = run_mempg(
        "db", "pooler", "start", "--database", SERVER.url("postgres"), "--pool-size", "1", "--json",
        env=env,
    )  # fmt: skip
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        url = json.loads(started.stdout)["url"]
        yield Pooled(folder / "pooler", int(url.rsplit("port=", 1)[1]))
        assert run_mempg("db", "pooler", "status", env=env).returncode == 0
    finally:
        stopped = run_mempg("db", "pooler", "stop", env=env)
        shutil.rmtree(folder, ignore_errors=True)
    assert stopped.returncode == 0 and "pgbouncer stopped" in stopped.stdout
    assert run_mempg("db", "pooler", "status", env=env).returncode == 1


def test_transaction_local_identity_never_reaches_the_next_client_of_a_shared_server_connection(
    db: Database, pooled: Pooled
):
    alice, bob = pooled.connect(db.name), pooled.connect(db.name)
    backend = alice.execute("SELECT pg_backend_pid()").fetchone()[0]
    assert bob.execute("SELECT pg_backend_pid()").fetchone()[0] == backend  # one server connection
    seen: dict[str, object] = {}

    def bob_reads() -> None:
        with bob.transaction():
            seen["backend"], seen["role"], seen["identity"] = bob.execute(
                "SELECT pg_backend_pid(), current_user, app.current_user_id()"
            ).fetchone()
            bob.execute("SET LOCAL ROLE authenticated")
            seen["rows"] = bob.execute(
                "SELECT count(*) FROM memory.list_memories('alice')"
            ).fetchone()[0]

    with alice.transaction():
        alice.execute("SELECT set_config('app.user_id', 'alice', true)")
        alice.execute("SET LOCAL ROLE authenticated")
        event = alice.execute(
            "SELECT event FROM memory.add_memory('alice', 'Alice likes tea', %s)", (unit(1),)
        ).fetchone()
        assert event == ("ADD",)
        assert alice.execute("SELECT app.current_user_id()").fetchone() == ("alice",)
        reader = threading.Thread(target=bob_reads)
        reader.start()
        wait_until(lambda: pooled.waiting_clients(db.name) >= 1, what="bob to queue behind alice")
    reader.join(timeout=30)

    assert seen == {"backend": backend, "role": "postgres", "identity": None, "rows": 0}
    with alice.transaction():
        alice.execute("SET LOCAL ROLE authenticated")
        alice.execute("SELECT set_config('app.user_id', 'alice', true)")
        assert alice.execute("SELECT count(*) FROM memory.list_memories('alice')").fetchone() == (
            1,
        )

    # The control: identity set for the session would leak to the next client. mempg never does it.
    alice.execute("SELECT set_config('app.user_id', 'mallory', false)")
    try:
        assert bob.execute("SELECT app.current_user_id()").fetchone() == ("mallory",)
    finally:
        alice.execute("RESET app.user_id")


def call(conn: psycopg.Connection, role: str, user: str, query: str, params: tuple = ()) -> list:
    """One API call in one transaction, identity and role local to it, as an application does."""
    with conn.transaction():
        conn.execute("SELECT set_config('app.user_id', %s, true)", (user,))
        conn.execute("SELECT set_config('role', %s, true)", (role,))
        cursor = conn.execute(query, params)
        return cursor.fetchall() if cursor.description else []


def test_every_api_function_works_through_the_pooler_and_leaves_no_session_state(
    db: Database, pooled: Pooled
):
    user = str(uuid.uuid4())
    with psycopg.connect(db.url, autocommit=True) as owner:
        owner.execute(
            "INSERT INTO app.users (id, email, display_name) VALUES (%s, 'ana@example.com', 'Ana')",
            (user,),
        )
    clients = [pooled.connect(db.name), pooled.connect(db.name)]
    turn = iter(range(1_000_000))

    def api(query: str, params: tuple = (), role: str = "authenticated") -> list:
        return call(clients[next(turn) % 2], role, user, query, params)

    tea = unit(11)
    memory_id, event = api("SELECT * FROM memory.add_memory(%s, 'Ana likes tea', %s)", (user, tea))[
        0
    ]
    assert event == "ADD"
    assert api("SELECT event FROM memory.add_memory(%s, 'ana likes TEA', %s)", (user, tea)) == [
        ("NOOP",)
    ]
    near = with_similarity(tea, 0.99, seed=5)
    assert api("SELECT event FROM memory.add_memory(%s, 'Ana loves tea', %s)", (user, near)) == [
        ("UPDATE",)
    ]
    assert len(api("SELECT * FROM memory.search_memories(%s, %s)", (tea, user))) == 1
    assert len(api("SELECT * FROM memory.hybrid_search_memories('tea', %s, %s)", (tea, user))) == 1
    assert api("SELECT memory FROM memory.get_memory(%s)", (memory_id,)) == [("Ana loves tea",)]
    assert len(api("SELECT * FROM memory.list_memories(%s)", (user,))) == 1
    api('SELECT * FROM memory.update_memory(%s, metadata => \'{"topic": "drinks"}\')', (memory_id,))
    assert [r[0] for r in api("SELECT event FROM memory.memory_history(%s)", (memory_id,))] == [
        "ADD",
        "UPDATE",
        "UPDATE",
    ]
    api("SELECT memory.touch_memories(ARRAY[%s]::uuid[])", (memory_id,))
    api("SELECT * FROM memory.delete_memory(%s)", (memory_id,))
    api("SELECT * FROM memory.restore_memory(%s)", (memory_id,))
    api(
        "INSERT INTO memory.session_memories (user_id, run_id, memory) VALUES (%s, 'run', 'note')",
        (user,),
    )
    assert api("SELECT app.current_user_id(), app.current_user_uuid()::text") == [(user, user)]
    assert api("SELECT jsonb_typeof(app.user_preferences(%s))", (user,)) == [("object",)]
    api("SELECT app.record_api_usage(%s, 'openai', 2, 10, 0.01)", (user,))
    session = api("INSERT INTO app.chat_sessions (user_id) VALUES (%s) RETURNING id", (user,))[0][0]
    api(
        "INSERT INTO app.chat_messages (session_id, role, content) VALUES (%s, 'user', 'hello')",
        (session,),
    )
    assert len(api("SELECT * FROM app.list_chat_messages(%s, NULL, 10)", (session,))) == 1
    trip = api(
        "INSERT INTO travel.trips (owner_id, title) VALUES (%s, 'Lisbon') RETURNING id", (user,)
    )[0][0]
    api("UPDATE travel.trips SET status = 'booked' WHERE id = %s", (trip,))
    assert api("SELECT status FROM travel.trips") == [("booked",)]
    for job in (
        "SELECT memory.decay_memories()",
        "SELECT memory.cleanup_old_memories()",
        "SELECT memory.cleanup_expired_sessions()",
        "SELECT memory.maintain_memory_performance()",
        "SELECT memory.analyze_memory_tables()",
        "SELECT ops.health_report(0)",
        "SELECT count(*) FROM ops.database_health",
        "SELECT count(*) FROM ops.slow_queries()",
        "SELECT count(*) FROM ops.capacity_estimate()",
        "SELECT count(*) FROM ops.vector_index_health(0)",
        "SELECT * FROM ops.replication_lag()",
    ):
        assert api(job, role="service_role"), job

    state = (
        clients[0]
        .execute(
            "SELECT current_user, current_setting('role'), app.current_user_id(),"
            " (SELECT count(*) FROM pg_prepared_statements), (SELECT count(*) FROM pg_cursors),"
            " (SELECT count(*) FROM pg_listening_channels()), pg_my_temp_schema()::int,"
            " (SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'advisory'),"
            " (SELECT array_agg(name::text ORDER BY name) FROM pg_settings WHERE source = 'session')"
        )
        .fetchone()
    )
    assert state[:8] == ("postgres", "none", None, 0, 0, 0, 0, 0)
    assert set(state[8] or []) <= POOLER_TRACKED, state[8]
    assert (
        clients[1].execute("SELECT pg_backend_pid()").fetchone()
        == clients[0].execute("SELECT pg_backend_pid()").fetchone()
    )
