"""The access matrix: every user-data table and view x SELECT, INSERT, UPDATE, DELETE x
(owner A, another user B, no identity). B reads nothing, changes nothing (proved by re-reading as
service_role), and cannot plant rows owned by A; no identity sees nothing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import psycopg
import pytest

from vectors import unit


@dataclass(frozen=True)
class Spec:
    table: str
    arrange: (
        str  # SQL run by the owner: creates A's row (%(a)s, %(b)s, %(c)s, %(trip)s, %(session)s)
    )
    key: str  # WHERE clause selecting A's row
    update: str  # SET clause of an update B tries
    plant: str | None  # INSERT B tries: a row owned by A; None where not applicable
    append_only: bool = False  # no UPDATE/DELETE privilege at all: 42501 instead of 0 rows


# A key row for user %(a)s: 32 bytes of ciphertext, a 12-byte nonce (the database never sees a key).
API_KEY_ROW = (
    "INSERT INTO app.user_api_keys (id, user_id, service, ciphertext, nonce, key_version, last_four)"
    f" VALUES (gen_random_uuid(), %(a)s, 'openai', '\\x{'00' * 32}', '\\x{'00' * 12}', 1, 'abcd')"
)


TRIP = "11111111-1111-1111-1111-111111111111"
SESSION = "22222222-2222-2222-2222-222222222222"
MEMORY = "33333333-3333-3333-3333-333333333333"
ARRANGE_TRIP = (
    f"INSERT INTO travel.trips (id, owner_id, title) VALUES ('{TRIP}', %(a)s, 'A''s trip');"
)
ARRANGE_SESSION = (
    f"INSERT INTO app.chat_sessions (id, user_id, title) VALUES ('{SESSION}', %(a)s, 'A''s chat');"
)

SPECS = [
    Spec(
        "app.users",
        "SELECT 1",
        "id = %(a)s",
        "display_name = 'B was here'",
        "INSERT INTO app.users (id, email) VALUES (%(c_new)s, 'planted@example.com')",
    ),
    Spec(
        "app.user_api_keys",
        API_KEY_ROW,
        "user_id = %(a)s",
        "is_valid = false",
        "INSERT INTO app.user_api_keys (id, user_id, service, ciphertext, nonce, key_version, last_four)"
        " VALUES (gen_random_uuid(), %(a)s, 'planted', '\\x"
        + "00" * 32
        + "', '\\x"
        + "00" * 12
        + "', 1, 'x')",
    ),
    Spec(
        "app.api_usage",
        "SELECT app.record_api_usage(%(a)s, 'openai', 3, 100, 0.5)",
        "user_id = %(a)s",
        "requests = 0",
        "INSERT INTO app.api_usage (user_id, provider, day) VALUES (%(a)s, 'planted', current_date)",
    ),
    Spec(
        "app.chat_sessions",
        ARRANGE_SESSION,
        "user_id = %(a)s",
        "title = 'hijacked'",
        "INSERT INTO app.chat_sessions (user_id, title) VALUES (%(a)s, 'planted')",
    ),
    Spec(
        "app.chat_messages",
        ARRANGE_SESSION
        + f" INSERT INTO app.chat_messages (session_id, role, content) VALUES ('{SESSION}', 'user', 'hello')",
        "user_id = %(a)s",
        "content = 'rewritten'",
        f"INSERT INTO app.chat_messages (session_id, role, content) VALUES ('{SESSION}', 'user', 'planted')",
    ),
    Spec(
        "travel.trips",
        ARRANGE_TRIP,
        "owner_id = %(a)s",
        "title = 'hijacked'",
        "INSERT INTO travel.trips (owner_id, title) VALUES (%(a)s, 'planted')",
    ),
    Spec(
        "travel.trip_collaborators",
        ARRANGE_TRIP
        + f" INSERT INTO travel.trip_collaborators (trip_id, user_id, role) VALUES ('{TRIP}', %(c)s, 'viewer')",
        f"trip_id = '{TRIP}'",
        "role = 'editor'",
        f"INSERT INTO travel.trip_collaborators (trip_id, user_id, role) VALUES ('{TRIP}', %(b)s, 'editor')",
    ),
    Spec(
        "travel.flights",
        ARRANGE_TRIP
        + f" INSERT INTO travel.flights (trip_id, airline, flight_number, departure_airport,"
        f" arrival_airport, departure_time, arrival_time) VALUES ('{TRIP}', 'TAP', 'TP1350', 'LIS', 'LHR',"
        " '2027-05-01 08:00Z', '2027-05-01 10:45Z')",
        f"trip_id = '{TRIP}'",
        "price = 1",
        f"INSERT INTO travel.flights (trip_id, airline, flight_number, departure_airport, arrival_airport,"
        f" departure_time, arrival_time) VALUES ('{TRIP}', 'X', 'XX1', 'LIS', 'OPO', now(), now() + interval '1 hour')",
    ),
    Spec(
        "travel.accommodations",
        ARRANGE_TRIP + f" INSERT INTO travel.accommodations (trip_id, name, check_in, check_out)"
        f" VALUES ('{TRIP}', 'Hotel', '2027-05-01', '2027-05-04')",
        f"trip_id = '{TRIP}'",
        "rating = 1",
        f"INSERT INTO travel.accommodations (trip_id, name, check_in, check_out) VALUES ('{TRIP}', 'X', '2027-01-01', '2027-01-02')",
    ),
    Spec(
        "travel.activities",
        ARRANGE_TRIP
        + f" INSERT INTO travel.activities (trip_id, name, starts_at) VALUES ('{TRIP}', 'Tour', '2027-05-02 10:00Z')",
        f"trip_id = '{TRIP}'",
        "price = 1",
        f"INSERT INTO travel.activities (trip_id, name, starts_at) VALUES ('{TRIP}', 'X', now())",
    ),
    Spec(
        "memory.memories",
        "INSERT INTO memory.memories (user_id, memory, embedding) VALUES (%(a)s::text, 'A''s memory', %(vector)s)",
        "user_id = %(a)s::text",
        "metadata = '{\"b\": 1}'",
        "INSERT INTO memory.memories (user_id, memory, embedding) VALUES (%(a)s::text, 'planted', %(vector)s)",
    ),
    Spec(
        "memory.session_memories",
        "INSERT INTO memory.session_memories (user_id, run_id, memory) VALUES (%(a)s::text, 'r', 'A''s note')",
        "user_id = %(a)s::text",
        "memory = 'rewritten'",
        "INSERT INTO memory.session_memories (user_id, run_id, memory) VALUES (%(a)s::text, 'r', 'planted')",
    ),
    Spec(
        "memory.memory_history",
        f"INSERT INTO memory.memories (id, user_id, memory, embedding) VALUES ('{MEMORY}', %(a)s::text, 'A''s memory', %(vector)s)",
        "user_id = %(a)s::text",
        "new_memory = 'forged'",
        f"INSERT INTO memory.memory_history (memory_id, user_id, event) VALUES ('{MEMORY}', %(a)s::text, 'ADD')",
        append_only=True,
    ),
    Spec(
        "app.my_api_keys",
        API_KEY_ROW,
        "service = 'openai'",
        "last_four = 'zzzz'",
        None,
    ),
]


def run_all(conn, script: str, values: dict) -> None:
    """Run the arranged statements one by one (parameters need one statement per execute)."""
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement, values)


def params(people) -> dict:
    return {"a": people.a, "b": people.b, "c": people.c, "c_new": uuid.uuid4(), "vector": unit(1)}


def snapshot(service, table: str, key: str, values: dict) -> list:
    return service.execute(
        f"SELECT to_jsonb(t) FROM {table} AS t WHERE {key} ORDER BY 1::text", values
    ).fetchall()


@pytest.mark.parametrize("spec", SPECS, ids=[s.table for s in SPECS])
def test_another_user_reads_and_changes_nothing_and_cannot_plant_rows(
    spec: Spec, people, admin, session_as
):
    values = params(people)
    run_all(admin, spec.arrange, values)
    service = session_as(None, role="service_role")
    before = snapshot(service, spec.table, spec.key, values)
    assert before, "the arranged row must exist"
    a = session_as(people.a)
    assert (
        a.execute(f"SELECT count(*) FROM {spec.table} WHERE {spec.key}", values).fetchone()[0] >= 1
    )

    b = session_as(people.b)
    assert b.execute(f"SELECT count(*) FROM {spec.table} WHERE {spec.key}", values).fetchone() == (
        0,
    )
    if spec.table != "app.users":  # B has a profile of their own
        assert b.execute(f"SELECT count(*) FROM {spec.table}").fetchone() == (0,)
    if spec.table == "app.my_api_keys":
        with pytest.raises(
            psycopg.errors.Error
        ):  # a view without write rules: not updatable by design
            b.execute(f"UPDATE {spec.table} SET {spec.update} WHERE {spec.key}", values)
    elif spec.append_only:
        for statement in (
            f"UPDATE {spec.table} SET {spec.update} WHERE {spec.key}",
            f"DELETE FROM {spec.table} WHERE {spec.key}",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                b.execute(statement, values)
    else:
        assert (
            b.execute(f"UPDATE {spec.table} SET {spec.update} WHERE {spec.key}", values).rowcount
            == 0
        )
        assert b.execute(f"DELETE FROM {spec.table} WHERE {spec.key}", values).rowcount == 0
    if spec.plant is not None:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            b.execute(spec.plant, values)
    assert snapshot(service, spec.table, spec.key, values) == before

    nobody = session_as(None)
    assert nobody.execute(f"SELECT count(*) FROM {spec.table}").fetchone() == (0,)


def test_collaborators_reach_a_trip_by_their_role(people, admin, session_as):
    values = params(people)
    admin.execute(ARRANGE_TRIP, values)
    admin.execute(
        f"INSERT INTO travel.trip_collaborators (trip_id, user_id, role) VALUES ('{TRIP}', %(b)s, 'viewer'),"
        f" ('{TRIP}', %(c)s, 'editor')",
        values,
    )
    flight = (
        "INSERT INTO travel.flights (trip_id, airline, flight_number, departure_airport, arrival_airport,"
        f" departure_time, arrival_time) VALUES ('{TRIP}', 'TAP', 'TP1350', 'LIS', 'LHR', now(), now() + interval '3 hours')"
    )
    viewer, editor = session_as(people.b), session_as(people.c)
    assert viewer.execute("SELECT title FROM travel.trips").fetchall() == [("A's trip",)]
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        viewer.execute(flight)
    editor.execute(flight)
    assert viewer.execute("SELECT count(*) FROM travel.flights").fetchone() == (1,)
    assert editor.execute("UPDATE travel.flights SET price = 120").rowcount == 1
    assert viewer.execute("UPDATE travel.flights SET price = 0").rowcount == 0
    assert editor.execute("UPDATE travel.trips SET title = 'mine now'").rowcount == 0  # owners only
    assert editor.execute("DELETE FROM travel.trip_collaborators").rowcount == 0  # owners share
    assert len(viewer.execute("SELECT user_id FROM travel.trip_collaborators").fetchall()) == 2


def test_airports_are_readable_by_everyone_and_writable_by_service_role_only(session_as):
    for role in ("anon", "authenticated"):
        conn = session_as(None, role=role)
        assert conn.execute("SELECT count(*) FROM travel.airports").fetchone()[0] >= 10
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE travel.airports SET name = 'x'")
    service = session_as(None, role="service_role")
    assert (
        service.execute("UPDATE travel.airports SET name = name WHERE iata = 'LIS'").rowcount == 1
    )


def test_anon_sees_no_user_data(people, admin, session_as):
    admin.execute(ARRANGE_TRIP, params(people))
    anon = session_as(people.a, role="anon")
    for table in ("app.users", "travel.trips", "memory.memories"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            anon.execute(f"SELECT count(*) FROM {table}")


def test_identity_does_not_outlive_its_transaction_on_a_reused_connection(db, people, admin):
    admin.execute(ARRANGE_TRIP, params(people))
    with psycopg.connect(db.url) as conn:  # one pooled connection, two requests
        with conn.transaction():
            conn.execute("SELECT set_config('app.user_id', %s, true)", (str(people.a),))
            conn.execute("SET LOCAL ROLE authenticated")
            assert conn.execute("SELECT count(*) FROM travel.trips").fetchone() == (1,)
        conn.execute("SET ROLE authenticated")
        assert conn.execute("SELECT app.current_user_id()").fetchone() == (None,)
        assert conn.execute("SELECT count(*) FROM travel.trips").fetchone() == (0,)


@pytest.mark.parametrize(
    ("table", "column", "arrange"),
    [
        (
            "memory.memories",
            "memory",
            "INSERT INTO memory.memories (user_id, memory, embedding) VALUES (%(a)s::text, 'SECRET-A-memory', %(vector)s)",
        ),
        (
            "app.chat_messages",
            "content",
            ARRANGE_SESSION
            + f" INSERT INTO app.chat_messages (session_id, role, content) VALUES ('{SESSION}', 'user', 'SECRET-A-chat')",
        ),
        (
            "travel.trips",
            "title",
            f"INSERT INTO travel.trips (id, owner_id, title) VALUES ('{TRIP}', %(a)s, 'SECRET-A-trip')",
        ),
    ],
)
def test_a_leaky_function_in_another_users_query_never_sees_their_rows(
    db, people, admin, session_as, table, column, arrange
):
    run_all(admin, arrange, params(people))
    admin.execute(
        "CREATE FUNCTION public.leak(value text) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS"
        " $$ BEGIN RAISE NOTICE 'leaked: %', value; RETURN true; END $$"
    )
    admin.execute("GRANT EXECUTE ON FUNCTION public.leak(text) TO authenticated")
    b = session_as(people.b)
    notices: list[str] = []
    b.add_notice_handler(lambda diag: notices.append(diag.message_primary or ""))
    assert b.execute(f"SELECT * FROM {table} WHERE public.leak({column}::text)").fetchall() == []
    assert not any("SECRET" in n for n in notices), notices
