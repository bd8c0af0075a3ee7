"""The audit log: one row per change, in the same transaction, append-only for the application."""

from __future__ import annotations

import psycopg
import pytest


def audit_rows(admin, table: str) -> list[tuple]:
    return admin.execute(
        "SELECT operation, row_key, old_row ->> 'title', new_row ->> 'title', db_role, app_user_id"
        " FROM app.audit_log WHERE table_name = %s ORDER BY id",
        (table,),
    ).fetchall()


def test_each_change_writes_exactly_one_audit_row_with_who_did_it(people, admin, session_as):
    a = session_as(people.a)
    trip_id = a.execute(
        "INSERT INTO travel.trips (owner_id, title) VALUES (%s, 'Lisbon') RETURNING id", (people.a,)
    ).fetchone()[0]
    a.execute("UPDATE travel.trips SET title = 'Porto' WHERE id = %s", (trip_id,))
    a.execute("DELETE FROM travel.trips WHERE id = %s", (trip_id,))
    key = {"id": str(trip_id)}
    who = ("authenticated", str(people.a))
    assert audit_rows(admin, "travel.trips") == [
        ("INSERT", key, None, "Lisbon", *who),
        ("UPDATE", key, "Lisbon", "Porto", *who),
        ("DELETE", key, "Porto", None, *who),
    ]
    txids = admin.execute(
        "SELECT count(DISTINCT transaction_id) FROM app.audit_log WHERE table_name = 'travel.trips'"
    ).fetchone()
    assert txids == (3,)


def test_a_rolled_back_change_leaves_no_audit_row(people, admin, session_as):
    a = session_as(people.a)
    with pytest.raises(psycopg.errors.CheckViolation), a.transaction():
        a.execute("INSERT INTO travel.trips (owner_id, title) VALUES (%s, 'fine')", (people.a,))
        a.execute(
            "INSERT INTO travel.trips (owner_id, title, travelers) VALUES (%s, 'bad', 0)",
            (people.a,),
        )
    assert audit_rows(admin, "travel.trips") == []


def test_composite_keys_and_memory_tables_are_audited_without_secrets_or_embeddings(
    people, admin, session_as
):
    a = session_as(people.a)
    a.execute("SELECT app.record_api_usage(%s, 'openai', 2, 10, 0.01)", (people.a,))
    a.execute(
        "INSERT INTO app.user_api_keys (id, user_id, service, ciphertext, nonce, key_version, last_four)"
        " VALUES (gen_random_uuid(), %s, 'openai', %s, %s, 1, 'abcd')",
        (people.a, b"\x01" * 32, b"\x02" * 12),
    )
    from vectors import unit

    a.execute("SELECT memory.add_memory(%s, 'Alice likes tea', %s)", (str(people.a), unit(1)))
    usage = admin.execute(
        "SELECT row_key FROM app.audit_log WHERE table_name = 'app.api_usage'"
    ).fetchone()[0]
    assert set(usage) == {"user_id", "provider", "day"}
    key_row = admin.execute(
        "SELECT new_row FROM app.audit_log WHERE table_name = 'app.user_api_keys'"
    ).fetchone()[0]
    assert "ciphertext" not in key_row and "nonce" not in key_row and key_row["last_four"] == "abcd"
    memory_row = admin.execute(
        "SELECT new_row FROM app.audit_log WHERE table_name = 'memory.memories'"
    ).fetchone()[0]
    assert "embedding" not in memory_row and memory_row["memory"] == "Alice likes tea"


def test_truncate_is_audited(admin):
    admin.execute("TRUNCATE app.api_usage")
    assert admin.execute(
        "SELECT operation FROM app.audit_log WHERE table_name = 'app.api_usage'"
    ).fetchall() == [("TRUNCATE",)]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE app.audit_log SET operation = 'DELETE'",
        "DELETE FROM app.audit_log",
        "TRUNCATE app.audit_log",
        "SELECT count(*) FROM app.audit_log",
    ],
)
def test_application_roles_cannot_read_change_or_delete_the_audit_log(
    people, session_as, statement
):
    a = session_as(people.a)
    a.execute("INSERT INTO travel.trips (owner_id, title) VALUES (%s, 'Lisbon')", (people.a,))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        a.execute(statement)


def test_a_forged_audit_row_in_someone_elses_name_is_refused(people, session_as):
    a = session_as(people.a)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        a.execute(
            "INSERT INTO app.audit_log (table_name, operation, app_user_id) VALUES ('x', 'DELETE', %s)",
            (str(people.b),),
        )
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        a.execute(
            "INSERT INTO app.audit_log (table_name, operation, db_role) VALUES ('x', 'DELETE', 'service_role')"
        )
