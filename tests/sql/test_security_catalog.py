"""Catalog lints as tests (ports of Supabase's splinter checks): what a reviewer would check by hand."""

from __future__ import annotations

import re

SCHEMAS = ["memory", "app", "travel"]
# SECURITY DEFINER functions that application roles may call, and why.
DEFINER_ALLOWLIST = {
    "travel.my_trip_ids(text)": "policies of trips and collaborators refer to each other",
}


def test_every_table_has_rls_enabled_forced_and_a_policy(admin):
    rows = admin.execute(
        "SELECT c.oid::regclass::text, c.relrowsecurity, c.relforcerowsecurity,"
        " (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid)"
        " FROM pg_class c WHERE c.relnamespace::regnamespace::text = ANY(%s) AND c.relkind IN ('r', 'p')",
        (SCHEMAS,),
    ).fetchall()
    assert len(rows) >= 15
    bad = [r for r in rows if not (r[1] and r[2] and r[3] >= 1)]
    assert bad == []


def test_security_definer_functions_pin_search_path_and_are_not_public(admin):
    rows = admin.execute(
        "SELECT p.pronamespace::regnamespace || '.' || p.proname"
        " || '(' || array_to_string(p.proargtypes::regtype[], ', ') || ')',"
        " p.proconfig,"
        " has_function_privilege('public', p.oid, 'EXECUTE'),"
        " has_function_privilege('anon', p.oid, 'EXECUTE'),"
        " has_function_privilege('authenticated', p.oid, 'EXECUTE')"
        " FROM pg_proc p WHERE p.prosecdef AND p.pronamespace::regnamespace::text = ANY(%s)",
        (["memory", "app", "travel", "ops", "mempg"],),
    ).fetchall()
    for name, config, public, anon, authenticated in rows:
        assert any(re.match(r"search_path=.*pg_temp$", c) for c in config or []), name
        assert not public and not anon, name
        assert not authenticated or name in DEFINER_ALLOWLIST, name


def test_views_for_the_application_are_security_invoker(admin):
    rows = admin.execute(
        "SELECT c.oid::regclass::text, coalesce(c.reloptions, '{}')"
        " FROM pg_class c WHERE c.relkind = 'v' AND c.relnamespace::regnamespace::text = ANY(%s)"
        " AND has_table_privilege('authenticated', c.oid, 'SELECT')",
        (SCHEMAS,),
    ).fetchall()
    assert rows
    assert [name for name, options in rows if "security_invoker=true" not in options] == []


def test_authenticated_owns_nothing_and_has_no_dangerous_privileges(admin):
    role = admin.execute(
        "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles"
        " WHERE rolname = 'authenticated'"
    ).fetchone()
    assert role == (False, False, False, False)
    owned = admin.execute(
        "SELECT count(*) FROM pg_class WHERE relowner = 'authenticated'::regrole"
    ).fetchone()
    assert owned == (0,)
    dangerous = admin.execute(
        "SELECT c.oid::regclass::text, p.privilege FROM pg_class c,"
        " unnest(ARRAY['TRUNCATE', 'REFERENCES', 'TRIGGER']) AS p(privilege)"
        " WHERE c.relnamespace::regnamespace::text = ANY(%s) AND c.relkind IN ('r', 'v', 'p')"
        " AND has_table_privilege('authenticated', c.oid, p.privilege)",
        (SCHEMAS,),
    ).fetchall()
    assert dangerous == []


def test_policies_ask_for_the_identity_once_per_query(admin):
    rows = admin.execute(
        "SELECT polrelid::regclass::text, polname,"
        " coalesce(pg_get_expr(polqual, polrelid), '') || ' ' || coalesce(pg_get_expr(polwithcheck, polrelid), '')"
        " FROM pg_policy WHERE polrelid::regclass::text ~ '^(memory|app|travel)\\.'"
    ).fetchall()
    for table, name, expression in rows:
        calls = re.findall(r"(SELECT )?app\.current_user_(?:id|uuid)\(\)", expression)
        assert all(select for select in calls), (table, name, expression)


def test_every_column_a_policy_filters_on_leads_an_index(admin):
    for table, column in [
        ("memory.memories", "user_id"),
        ("memory.memory_history", "user_id"),
        ("memory.session_memories", "user_id"),
        ("app.users", "id"),
        ("app.user_api_keys", "user_id"),
        ("app.api_usage", "user_id"),
        ("app.chat_sessions", "user_id"),
        ("app.chat_messages", "user_id"),
        ("travel.trips", "owner_id"),
        ("travel.trips", "id"),
        ("travel.trip_collaborators", "trip_id"),
        ("travel.trip_collaborators", "user_id"),
        ("travel.flights", "trip_id"),
        ("travel.accommodations", "trip_id"),
        ("travel.activities", "trip_id"),
    ]:
        leading = admin.execute(
            "SELECT count(*) FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
            " AND a.attnum = i.indkey[0] WHERE i.indrelid = %s::regclass AND a.attname = %s",
            (table, column),
        ).fetchone()
        assert leading[0] >= 1, (table, column)
