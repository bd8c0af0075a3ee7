"""Catalog lints as tests (ports of Supabase's splinter checks): what a reviewer would check by hand."""

from __future__ import annotations

import re

SCHEMAS = ["memory", "app", "travel", "agent"]
# SECURITY DEFINER functions that application roles may call, and why.
DEFINER_ALLOWLIST = {
    "travel.my_trip_ids(text)": "policies of trips and collaborators refer to each other",
    "memory.take_token(text, text)": "the rate-limit hook of the search functions: it writes the"
    " caller's bucket, which application roles must not write themselves (they could refill it)",
    "agent.full_text_candidates(text, text, integer, text[], text, text)": "as"
    " memory.full_text_candidates, over chunks and messages (0015)",
    "memory.full_text_candidates(text, vector, text, integer, jsonb, text[], search_scope)": "the full-text ranking: under row-level security the per-user term index (&&, @> on text[], not"
    " LEAKPROOF) cannot serve the application's role; it reads memory.lookup_scope()'s user only (0015)",
    **{
        f"memory.{name}": "entity index lookups: under row-level security the non-LEAKPROOF operators"
        " of these indexes (&&, pg_trgm's %, @@) cannot be index conditions; each reads only the"
        " entities memory.entity_lookup_scope() lets the caller see (entity_lookup.sql)"
        for name in [
            "entities_named(text, text[], text)",
            "entities_like(text, text, text, integer, real)",
            "entities_matching(text, tsquery, text, integer)",
        ]
    },
}


def test_every_table_has_rls_enabled_forced_and_a_policy(admin):
    rows = admin.execute(
        "SELECT c.oid::regclass::text, c.relrowsecurity, c.relforcerowsecurity,"
        " (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid)"
        " FROM pg_class c WHERE c.relnamespace::regnamespace::text = ANY(%s) AND c.relkind IN ('r', 'p')"
        " AND NOT c.relispartition",  # partitions: test_partitions_are_reached_only_through_their_table
        (SCHEMAS,),
    ).fetchall()
    assert len(rows) >= 22
    bad = [r for r in rows if not (r[1] and r[2] and r[3] >= 1)]
    assert bad == []


def test_partitions_are_reached_only_through_their_table(admin):
    """A partition has RLS on and forced and no grants: its parent's policies are the way in."""
    rows = admin.execute(
        "SELECT c.oid::regclass::text, c.relrowsecurity, c.relforcerowsecurity,"
        " has_table_privilege('authenticated', c.oid, 'SELECT,INSERT,UPDATE,DELETE'),"
        " has_table_privilege('anon', c.oid, 'SELECT')"
        " FROM pg_class c WHERE c.relnamespace::regnamespace::text = ANY(%s) AND c.relispartition"
        " AND c.relkind = 'r'",
        (SCHEMAS,),
    ).fetchall()
    assert rows
    assert [r for r in rows if r[1:] != (True, True, False, False)] == []


def test_security_definer_functions_pin_search_path_and_are_not_public(admin):
    rows = admin.execute(
        "SELECT p.pronamespace::regnamespace || '.' || p.proname"
        " || '(' || array_to_string(p.proargtypes::regtype[], ', ') || ')',"
        " p.proconfig,"
        " has_function_privilege('public', p.oid, 'EXECUTE'),"
        " has_function_privilege('anon', p.oid, 'EXECUTE'),"
        " has_function_privilege('authenticated', p.oid, 'EXECUTE')"
        " FROM pg_proc p WHERE p.prosecdef AND p.pronamespace::regnamespace::text = ANY(%s)",
        (["memory", "app", "travel", "ops", "mempg", "agent"],),
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
        " FROM pg_policy WHERE polrelid::regclass::text ~ '^(memory|app|travel|agent)\\.'"
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
        ("agent.conversations", "user_id"),
        ("agent.documents", "user_id"),
        ("agent.chunks", "user_id"),
        ("agent.ingestions", "user_id"),
        ("agent.workflow_executions", "user_id"),
        ("agent.metrics", "user_id"),
    ]:
        leading = admin.execute(
            "SELECT count(*) FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
            " AND a.attnum = i.indkey[0] WHERE i.indrelid = %s::regclass AND a.attname = %s",
            (table, column),
        ).fetchone()
        assert leading[0] >= 1, (table, column)


# Functions without a SET search_path clause, so the planner can inline them; their bodies use
# built-in functions and operators and schema-qualified names only (pg_catalog is always searched
# first, and pg_temp never for functions or operators).
INLINED = {
    "memory.meets_threshold",
    "memory.text_hash",
    "memory.normalize_text",
    "memory.is_live",
    "memory.same_agent",
    "memory.matches_filters",
    "memory.in_scope",
    "memory.bucket_level",
    "memory.quota_bytes",
    "memory.normalised_score",
    "memory.fused_score",
    "memory.term_weight",
    "ops.project_schemas",
    "memory.normalize_entity_name",
    "memory.rrf_share",
    "memory.entity_boost_weight",
    "memory.facts_around",
    "memory.decayed_relevance",
}


def test_no_extension_is_installed_in_public(admin):
    rows = admin.execute(
        "SELECT extname, extnamespace::regnamespace::text FROM pg_extension WHERE extname <> 'plpgsql'"
    ).fetchall()
    assert {name for name, _ in rows} >= {"vector", "pg_trgm"}
    assert [(name, schema) for name, schema in rows if schema != "extensions"] == []


def test_every_function_pins_its_search_path_unless_inlined_and_qualified(admin):
    rows = admin.execute(
        "SELECT p.pronamespace::regnamespace || '.' || p.proname, p.proconfig, p.prosrc"
        " FROM pg_proc p WHERE p.pronamespace::regnamespace::text = ANY (ops.project_schemas())",
    ).fetchall()
    assert len(rows) > 50
    unpinned = {
        name: source
        for name, config, source in rows
        if not any(re.match(r"search_path=.*pg_temp$", c) for c in config or [])
    }
    assert set(unpinned) == INLINED
    for name, source in unpinned.items():
        # nothing of an extension, and every function call schema-qualified or built in
        assert not re.search(r"<=>|<->|<#>|\bvector|similarity\(|word_similarity", source), name
        calls = re.findall(r"\b([a-z_]+(?:\.[a-z_]+)?)\s*\(", source)
        assert all("." in call or call in BUILT_INS for call in calls), (name, calls)


BUILT_INS = {
    "normalize",
    "power",
    "lower",
    "regexp_replace",
    "btrim",
    "encode",
    "sha256",
    "convert_to",
    "coalesce",
    "now",
    "cardinality",
    "least",
    "greatest",
    "extract",
    "octet_length",
    "nullif",
    "ln",
}


def test_anon_and_authenticated_cannot_read_query_statistics(admin):
    relations = admin.execute(
        "SELECT c.oid::regclass::text FROM pg_class c"
        " WHERE c.relname IN ('pg_stat_statements', 'pg_stat_statements_info')"
    ).fetchall()
    functions = admin.execute(
        "SELECT p.oid::regprocedure::text FROM pg_proc p"
        " WHERE p.proname IN ('pg_stat_statements', 'pg_stat_statements_info', 'pg_stat_statements_reset')"
    ).fetchall()
    assert relations and functions  # the embedded server preloads it
    for role in ("anon", "authenticated"):
        for (relation,) in relations:
            row = admin.execute(
                "SELECT has_table_privilege(%s, %s, 'SELECT')", (role, relation)
            ).fetchone()
            assert row == (False,), (role, relation)
        for (function,) in functions:
            row = admin.execute(
                "SELECT has_function_privilege(%s, %s, 'EXECUTE')", (role, function)
            ).fetchone()
            assert row == (False,), (role, function)


def test_no_table_has_two_permissive_policies_for_one_role_and_command(admin):
    """splinter 0006: permissive policies are OR-ed, each evaluated on every row."""
    rows = admin.execute(
        "WITH expanded AS ("
        "  SELECT pol.polrelid::regclass::text AS tbl, r.rolname, cmd, pol.polname"
        "  FROM pg_policy pol"
        "  CROSS JOIN LATERAL unnest(CASE WHEN pol.polroles = '{0}' THEN"
        "      ARRAY(SELECT oid FROM pg_roles WHERE rolname IN ('anon', 'authenticated', 'service_role'))"
        "      ELSE pol.polroles END) AS role_oid"
        "  JOIN pg_roles r ON r.oid = role_oid"
        "  CROSS JOIN LATERAL unnest(CASE pol.polcmd WHEN '*' THEN ARRAY['r', 'a', 'w', 'd']"
        "      ELSE ARRAY[pol.polcmd::text] END) AS cmd"
        "  WHERE pol.polpermissive)"
        " SELECT tbl, rolname, cmd, array_agg(polname) FROM expanded"
        " GROUP BY 1, 2, 3 HAVING count(*) > 1"
    ).fetchall()
    assert rows == []
