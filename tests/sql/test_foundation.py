"""0001_foundation in the database: identity, roles, privileges, settings, search_path."""

from __future__ import annotations

import psycopg
import pytest

from helpers import Database, run_mempg


def as_role(conn: psycopg.Connection, role: str, **settings: str) -> None:
    """Act as `role` for the rest of this transaction, like supabase-test-helpers' authenticate_as."""
    conn.execute("SELECT set_config('role', %s, true)", (role,))
    for key, value in settings.items():
        conn.execute("SELECT set_config(%s, %s, true)", (key.replace("__", "."), value))


def current_user_id(conn: psycopg.Connection) -> str | None:
    row = conn.execute("SELECT app.current_user_id()").fetchone()
    return row[0] if row else None


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, None),
        ({"app__user_id": "alice"}, "alice"),
        ({"app__user_id": ""}, None),
        ({"request__jwt__claims": '{"sub": "bob", "role": "authenticated"}'}, "bob"),
        ({"request__jwt__claims": '{"role": "anon"}'}, None),
        ({"request__jwt__claims": '{"sub": ""}'}, None),
        ({"request__jwt__claims": ""}, None),
        ({"app__user_id": "alice", "request__jwt__claims": '{"sub": "bob"}'}, "alice"),
    ],
)
def test_current_user_id_reads_app_user_id_then_the_jwt_sub_and_fails_closed(
    db: Database, settings, expected
):
    with db.connect() as conn:
        as_role(conn, "authenticated", **settings)
        assert current_user_id(conn) == expected


def test_current_user_id_is_transaction_local(db: Database):
    with db.connect() as conn:
        as_role(conn, "authenticated", app__user_id="alice")
        conn.commit()
        assert current_user_id(conn) is None


def test_malformed_jwt_claims_raise_rather_than_guess(db: Database):
    with db.connect() as conn:
        as_role(conn, "authenticated", request__jwt__claims="{not json")
        with pytest.raises(psycopg.errors.InvalidTextRepresentation):
            current_user_id(conn)


@pytest.mark.parametrize("role", ["anon", "authenticated", "service_role"])
def test_every_application_role_may_ask_who_it_is(db: Database, role: str):
    with db.connect() as conn:
        as_role(conn, role, app__user_id="u1")
        assert current_user_id(conn) == "u1"


def test_roles_follow_supabase(db: Database):
    with db.connect() as conn:
        roles = conn.execute(
            "SELECT rolname, rolbypassrls, rolcanlogin, rolinherit FROM pg_roles"
            " WHERE rolname IN ('anon', 'authenticated', 'service_role') ORDER BY 1"
        ).fetchall()
    assert roles == [
        ("anon", False, False, False),
        ("authenticated", False, False, False),
        ("service_role", True, False, False),
    ]


def test_no_project_function_is_executable_by_public(db: Database):
    with db.connect() as conn:
        leaks = conn.execute(
            "SELECT p.oid::regprocedure::text FROM pg_proc p"
            " WHERE p.pronamespace::regnamespace::text = ANY (ops.project_schemas())"
            "   AND has_function_privilege('public', p.oid, 'EXECUTE')",
        ).fetchall()
    assert leaks == []


def test_new_functions_are_not_executable_by_public_by_default(db: Database):
    with db.connect() as conn:
        conn.execute("CREATE FUNCTION app.fresh() RETURNS int LANGUAGE sql AS 'SELECT 1'")
        row = conn.execute(
            "SELECT has_function_privilege('public', 'app.fresh()', 'EXECUTE')"
        ).fetchone()
    assert row == (False,)


def test_security_definer_functions_pin_search_path(db: Database):
    with db.connect() as conn:
        unpinned = conn.execute(
            "SELECT p.oid::regprocedure::text FROM pg_proc p"
            " WHERE p.prosecdef AND p.pronamespace::regnamespace::text = ANY (ops.project_schemas())"
            "   AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%pg_temp')",
        ).fetchall()
    assert unpinned == []


@pytest.mark.parametrize("role", ["anon", "authenticated", "service_role"])
def test_application_roles_cannot_touch_the_runner_schema(db: Database, role: str):
    with db.connect() as conn:
        as_role(conn, role)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM mempg.settings")


def test_anon_cannot_use_the_memory_schema(db: Database):
    with db.connect() as conn:
        row = conn.execute(
            "SELECT has_schema_privilege('anon', 'memory', 'USAGE'),"
            " has_schema_privilege('authenticated', 'memory', 'USAGE'),"
            " has_schema_privilege('authenticated', 'ops', 'USAGE')"
        ).fetchone()
    assert row == (False, True, False)


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE mempg.settings SET value = '768' WHERE key = 'embedding_dim'",
        "DELETE FROM mempg.settings WHERE key = 'embedding_dim'",
    ],
)
def test_the_embedding_dimension_cannot_be_changed_in_sql(db: Database, change: str):
    with (
        db.connect() as conn,
        pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="embedding_dim is fixed"),
    ):
        conn.execute(change)


def test_other_settings_may_change_and_are_stamped(db: Database):
    with db.connect() as conn:
        conn.execute(
            "INSERT INTO mempg.settings (key, value, updated_at) VALUES ('demo', '1', '2000-01-01')"
        )
        conn.execute("UPDATE mempg.settings SET value = '2' WHERE key = 'demo'")
        row = conn.execute(
            "SELECT value, updated_at > '2000-01-02' FROM mempg.settings WHERE key = 'demo'"
        ).fetchone()
    assert row == ("2", True)


def test_extensions_are_installed_with_pgvector_0_8_or_newer(db: Database):
    with db.connect() as conn:
        versions = dict(conn.execute("SELECT extname, extversion FROM pg_extension").fetchall())
    assert {"vector", "pg_trgm"} <= set(versions)
    assert tuple(int(x) for x in versions["vector"].split(".")[:2]) >= (0, 8)


def test_pg_stat_statements_is_installed_where_preloaded(db: Database):
    with db.connect() as conn:
        preload = conn.execute("SHOW shared_preload_libraries").fetchone()
        installed = conn.execute(
            "SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'"
        ).fetchone()
    assert preload is not None and installed is not None
    assert installed[0] == (1 if "pg_stat_statements" in preload[0] else 0)


def test_psql_finds_the_functions_unqualified(empty_db: Database):
    assert run_mempg("apply", url=empty_db.url).returncode == 0
    with empty_db.connect() as conn:  # a new session picks up the database's search_path
        conn.execute("SELECT set_config('app.user_id', 'carol', true)")
        assert conn.execute("SELECT current_user_id()").fetchone() == ("carol",)
        assert conn.execute("SHOW search_path").fetchone() == (
            '"$user", public, memory, app, travel, ops, extensions',
        )


def test_rollback_keeps_roles_that_existed_before(db: Database, empty_db: Database):
    # `db` comes from the template, so the roles are on this server before `empty_db` is migrated,
    # whichever database created them (on a fresh server, the template did).
    assert run_mempg("apply", url=empty_db.url).returncode == 0
    with empty_db.connect() as conn:
        created_here = conn.execute(
            "SELECT name FROM mempg.foundation_created WHERE kind = 'role'"
        ).fetchall()
    assert created_here == []
    assert run_mempg("rollback", "--all", url=empty_db.url).returncode == 0
    with db.connect() as conn:
        count = conn.execute(
            "SELECT count(*) FROM pg_roles"
            " WHERE rolname IN ('anon', 'authenticated', 'service_role')"
        ).fetchone()
    assert count == (3,)


def test_an_existing_database_search_path_is_restored_by_the_rollback(empty_db: Database):
    with empty_db.connect(autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{empty_db.name}" SET search_path = public, pg_catalog')
    assert run_mempg("apply", url=empty_db.url).returncode == 0
    assert run_mempg("rollback", "--all", url=empty_db.url).returncode == 0
    with empty_db.connect() as conn:
        assert conn.execute("SHOW search_path").fetchone() == ("public, pg_catalog",)
