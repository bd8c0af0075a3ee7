"""Every entry point works from a session whose search_path holds nothing of the project's: a
pooler's default, or an application that sets options=-csearch_path=app. Before 0006 the memory
functions failed there with "operator does not exist: vector <=> vector"."""

from __future__ import annotations

import uuid

import numpy as np
import psycopg
import pytest
from pgvector.psycopg import register_vector

from helpers import Database
from vectors import owner, unit

BARE = "pg_catalog, pg_temp"


def bare_session(url: str, role: str, user: uuid.UUID | None) -> psycopg.Connection:
    conn = psycopg.connect(url, autocommit=True)
    register_vector(conn)  # looks the type up once, under the database's search_path
    conn.execute("SELECT set_config('search_path', %s, false)", (BARE,))
    conn.execute("SELECT set_config('role', %s, false)", (role,))
    if user is not None:
        conn.execute("SELECT set_config('app.user_id', %s, false)", (str(user),))
    return conn


@pytest.fixture
def someone(db: Database) -> uuid.UUID:
    user = uuid.uuid4()
    with owner(db.url) as conn:
        conn.execute(
            "INSERT INTO app.users (id, email) VALUES (%s, 'someone@example.com')", (user,)
        )
    return user


def test_the_memory_api_works_under_a_bare_search_path(db: Database, someone):
    with bare_session(db.url, "authenticated", someone) as conn:
        assert conn.execute("SHOW search_path").fetchone() == (BARE,)
        me = str(someone)
        first = conn.execute(
            "SELECT id FROM memory.add_memory(%s, 'likes green tea', %s, '{\"a\": 1}', '{Food}')",
            (me, unit(1)),
        ).fetchone()
        assert first is not None
        memory_id = first[0]
        events = [
            conn.execute(
                "SELECT event FROM memory.add_memory(%s, %s, %s)", (me, text, vector)
            ).fetchone()
            for text, vector in (("likes green tea", unit(1)), ("flies to Lisbon", unit(2)))
        ]
        assert events == [("NOOP",), ("ADD",)]
        assert conn.execute(
            "SELECT count(*) FROM memory.search_memories(%s, %s, 5, '{}', '{}', 0)", (unit(1), me)
        ).fetchone() == (2,)
        assert conn.execute(
            "SELECT count(*) FROM memory.hybrid_search_memories('tea', %s, %s)", (unit(1), me)
        ).fetchone() == (2,)
        assert conn.execute(
            "SELECT count(*) FROM memory.search_memories(%s, %s, 5, '{\"a\": 1}', '{food}', 0)",
            (unit(1), me),
        ).fetchone() == (1,)
        conn.execute("SELECT memory.get_memory(%s)", (memory_id,))
        assert len(conn.execute("SELECT * FROM memory.list_memories(%s)", (me,)).fetchall()) == 2
        conn.execute(
            "SELECT memory.update_memory(%s, 'loves green tea', %s, '{\"b\": 2}')",
            (memory_id, unit(3)),
        )
        conn.execute("SELECT memory.touch_memories(ARRAY[%s]::uuid[])", (memory_id,))
        conn.execute("SELECT memory.delete_memory(%s)", (memory_id,))
        conn.execute("SELECT memory.restore_memory(%s)", (memory_id,))
        history = conn.execute(
            "SELECT event FROM memory.memory_history(%s)", (memory_id,)
        ).fetchall()
        assert [e for (e,) in history] == ["ADD", "UPDATE", "DELETE", "RESTORE"]
        with pytest.raises(psycopg.Error) as caught:  # the checks work there too
            conn.execute(
                "SELECT memory.add_memory(%s, 'x', %s)", (me, np.zeros(1536, dtype=np.float32))
            )
        assert caught.value.sqlstate == "22023"


def test_the_application_api_works_under_a_bare_search_path(db: Database, someone):
    with bare_session(db.url, "authenticated", someone) as conn:
        session = conn.execute(
            "INSERT INTO app.chat_sessions (user_id, title) VALUES (%s, 'plan') RETURNING id",
            (someone,),
        ).fetchone()
        assert session is not None
        conn.execute(
            "INSERT INTO app.chat_messages (session_id, role, content) VALUES (%s, 'user', 'hi')",
            (session[0],),
        )
        assert (
            len(conn.execute("SELECT * FROM app.list_chat_messages(%s)", (session[0],)).fetchall())
            == 1
        )
        conn.execute("SELECT app.record_api_usage(%s, 'openai', 1, 10, 0.01)", (someone,))
        assert conn.execute(
            "SELECT app.user_preferences(%s) IS NOT NULL", (someone,)
        ).fetchone() == (True,)
        conn.execute("UPDATE app.users SET display_name = 'S' WHERE id = %s", (someone,))
        trip = conn.execute(
            "INSERT INTO travel.trips (owner_id, title) VALUES (%s, 'Lisbon') RETURNING id",
            (someone,),
        ).fetchone()
        assert trip is not None
        conn.execute(
            "INSERT INTO travel.flights (trip_id, airline, flight_number, departure_airport,"
            " arrival_airport, departure_time, arrival_time, price) VALUES"
            " (%s, 'TAP', 'TP1350', 'LIS', 'LHR', '2027-05-01 08:00Z', '2027-05-01 10:45Z', 120)",
            (trip[0],),
        )
        conn.execute("UPDATE travel.trips SET status = 'booked' WHERE id = %s", (trip[0],))
        assert conn.execute("SELECT count(*) FROM travel.flights").fetchone() == (1,)


def test_the_operations_api_works_under_a_bare_search_path(db: Database, someone):
    with bare_session(db.url, "authenticated", someone) as conn:
        conn.execute("SELECT memory.add_memory(%s, 'likes tea', %s)", (str(someone), unit(1)))
    with bare_session(db.url, "service_role", None) as conn:
        for call in (
            "SELECT memory.decay_memories()",
            "SELECT memory.cleanup_old_memories()",
            "SELECT memory.cleanup_expired_sessions()",
            "SELECT memory.maintain_memory_performance()",
            "SELECT ops.health_report()",
            "SELECT * FROM ops.vector_index_health()",
            "SELECT * FROM ops.capacity_estimate()",
            "SELECT * FROM ops.slow_queries(0, 5)",
            "SELECT * FROM ops.session_states()",
            "SELECT * FROM ops.database_health",
            "SELECT * FROM ops.table_stats",
            "SELECT * FROM ops.index_usage",
        ):
            conn.execute(call).fetchall()
