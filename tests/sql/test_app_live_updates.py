"""Live updates: NOTIFY on each user's channel after commit, nothing on rollback, nothing for others."""

from __future__ import annotations

import json

import psycopg
import pytest


def listen(db, channel_user) -> psycopg.Connection:
    conn = psycopg.connect(db.url, autocommit=True)
    conn.execute(f'LISTEN "mempg_user_{channel_user}"')
    return conn


def received(conn: psycopg.Connection, timeout: float = 1.0) -> list[dict]:
    return [json.loads(n.payload) for n in conn.notifies(timeout=timeout)]


def test_a_users_listener_gets_their_changes_after_commit(db, people, session_as):
    with listen(db, people.a) as listener:
        a = session_as(people.a)
        with a.transaction():
            trip_id = a.execute(
                "INSERT INTO travel.trips (owner_id, title) VALUES (%s, 'Lisbon') RETURNING id",
                (people.a,),
            ).fetchone()[0]
            assert received(listener, timeout=0.3) == []  # not before commit
        assert received(listener) == [
            {"table": "travel.trips", "operation": "INSERT", "id": str(trip_id)}
        ]


def test_nothing_is_sent_when_the_transaction_rolls_back(db, people, session_as):
    with listen(db, people.a) as listener:
        a = session_as(people.a)
        with pytest.raises(RuntimeError), a.transaction():
            a.execute(
                "INSERT INTO travel.trips (owner_id, title) VALUES (%s, 'Lisbon')", (people.a,)
            )
            raise RuntimeError("abort")
        assert received(listener) == []


def test_other_users_changes_are_not_sent_to_me(db, people, session_as):
    with listen(db, people.a) as listener:
        b = session_as(people.b)
        b.execute(
            "INSERT INTO travel.trips (owner_id, title) VALUES (%s, 'Bob''s trip')", (people.b,)
        )
        session = b.execute(
            "INSERT INTO app.chat_sessions (user_id) VALUES (%s) RETURNING id", (people.b,)
        ).fetchone()[0]
        b.execute(
            "INSERT INTO app.chat_messages (session_id, role, content) VALUES (%s, 'user', 'hi')",
            (session,),
        )
        assert received(listener) == []


def test_collaborators_hear_about_bookings_and_chat_messages_reach_their_user(
    db, people, session_as, admin
):
    a = session_as(people.a)
    trip_id = a.execute(
        "INSERT INTO travel.trips (owner_id, title) VALUES (%s, 'Lisbon') RETURNING id", (people.a,)
    ).fetchone()[0]
    a.execute(
        "INSERT INTO travel.trip_collaborators (trip_id, user_id, role) VALUES (%s, %s, 'editor')",
        (trip_id, people.b),
    )
    with listen(db, people.a) as owner_listener, listen(db, people.b) as editor_listener:
        b = session_as(people.b)
        flight_id = b.execute(
            "INSERT INTO travel.flights (trip_id, airline, flight_number, departure_airport, arrival_airport,"
            " departure_time, arrival_time) VALUES (%s, 'TAP', 'TP1350', 'LIS', 'LHR', now(),"
            " now() + interval '3 hours') RETURNING id",
            (trip_id,),
        ).fetchone()[0]
        expected = {"table": "travel.flights", "operation": "INSERT", "id": str(flight_id)}
        assert received(owner_listener) == [expected]
        assert received(editor_listener) == [expected]
        session = a.execute(
            "INSERT INTO app.chat_sessions (user_id) VALUES (%s) RETURNING id", (people.a,)
        ).fetchone()[0]
        message = a.execute(
            "INSERT INTO app.chat_messages (session_id, role, content) VALUES (%s, 'user', 'hi')"
            " RETURNING id",
            (session,),
        ).fetchone()[0]
        assert received(owner_listener) == [
            {"table": "app.chat_messages", "operation": "INSERT", "id": message}
        ]
        assert received(editor_listener, timeout=0.3) == []
