"""Upgrade test, as pgmq's CI does it: install the previous release (its migrations only), fill
every table through that release's API, apply the rest, and compare with a fresh install.

(a) the schema fingerprint equals a fresh install's, (b) every row is still there, unchanged, and
readable through the API as its owner, (c) `mempg verify` is clean. Every later migration keeps
this green: it is what makes immutable migrations safe.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from helpers import ROOT, Database, fingerprint, run_mempg, scratch_database
from runner.config import Project
from runner.keys import Keyring, generate_master_key, read_key, store_key
from runner.releases import PREVIOUS_RELEASE, RELEASES
from vectors import connect_as, owner, unit

# The project's schemas at any release: one folder of sql/ each (ops.project_schemas() came later).
SCHEMAS = Project(ROOT).sql_schemas()
# Tables whose rows a migration may rightly change: the runner's books, and settings tables that
# gain columns or rows.
BOOKKEEPING = {
    "mempg.schema_migrations",
    "mempg._yoyo_migration",
    "mempg._yoyo_log",
    "mempg._yoyo_version",
    "mempg.yoyo_lock",
    "mempg.extension_moves",
}
SETTINGS = {
    "memory.settings",
    "ops.settings",
    "ops.thresholds",
    "mempg.settings",
    "memory.quota_plans",
    "memory.rate_limits",
    "memory.quota_settings",
    "agent.settings",
    "memory.entity_types",
    "memory.relation_kinds",
    "memory.entity_resolution_settings",
    "mempg.extensions_created",
}
# Tables a migration fills from the data already there (0011 counts each user's memories).
DERIVED = {"memory.quota_usage"}


def load_release_data(url: str, keyring: Keyring) -> dict[str, object]:
    """Data in every table, written as the previous release's users and jobs would."""
    alice, bob = uuid.uuid4(), uuid.uuid4()
    with owner(url) as conn:
        for user, name in ((alice, "alice"), (bob, "bob")):
            conn.execute(
                "INSERT INTO app.users (id, email, display_name, preferences) VALUES (%s, %s, %s, %s)",
                (user, f"{name}@example.com", name, '{"theme": "dark"}'),
            )
    facts: dict[str, object] = {"alice": alice, "bob": bob}
    with connect_as(url, str(alice)) as conn:
        me = str(alice)
        first = conn.execute(
            "SELECT id FROM memory.add_memory(%s, 'Alice is allergic to peanuts', %s,"
            " '{\"source\": \"chat\"}', '{health}')",
            (me, unit(1)),
        ).fetchone()
        assert first is not None
        facts["memory"] = first[0]
        conn.execute(
            "SELECT memory.add_memory(%s, 'alice is ALLERGIC to peanuts', %s)", (me, unit(1))
        )
        conn.execute(
            "SELECT memory.update_memory(%s, 'Alice is allergic to peanuts and shellfish', %s)",
            (first[0], unit(2)),
        )
        second = conn.execute(
            "SELECT id FROM memory.add_memory(%s, 'Alice flies to Lisbon in May', %s, agent_id => 'planner')",
            (me, unit(3)),
        ).fetchone()
        assert second is not None
        conn.execute("SELECT memory.delete_memory(%s)", (second[0],))
        conn.execute("SELECT memory.restore_memory(%s)", (second[0],))
        conn.execute(
            "INSERT INTO memory.session_memories (user_id, run_id, memory, embedding)"
            " VALUES (%s, 'run-1', 'wants a window seat today', %s)",
            (me, unit(4)),
        )
        store_key(conn, keyring, alice, "openai", "sk-upgrade-test-1234")
        conn.execute("SELECT app.record_api_usage(%s, 'openai', 3, 1200, 0.02)", (alice,))
        session = conn.execute(
            "INSERT INTO app.chat_sessions (user_id, title) VALUES (%s, 'Lisbon') RETURNING id",
            (alice,),
        ).fetchone()
        assert session is not None
        facts["chat"] = session[0]
        for role, content in (("user", "Plan Lisbon"), ("assistant", "Here is a plan")):
            conn.execute(
                "INSERT INTO app.chat_messages (session_id, role, content) VALUES (%s, %s, %s)",
                (session[0], role, content),
            )
        trip = conn.execute(
            "INSERT INTO travel.trips (owner_id, title) VALUES (%s, 'Lisbon') RETURNING id",
            (alice,),
        ).fetchone()
        assert trip is not None
        facts["trip"] = trip[0]
        conn.execute(
            "INSERT INTO travel.trip_collaborators (trip_id, user_id, role) VALUES (%s, %s, 'viewer')",
            (trip[0], bob),
        )
        conn.execute(
            "INSERT INTO travel.flights (trip_id, airline, flight_number, departure_airport,"
            " arrival_airport, departure_time, arrival_time, price) VALUES"
            " (%s, 'TAP', 'TP1350', 'LIS', 'LHR', '2027-05-01 08:00Z', '2027-05-01 10:45Z', 120)",
            (trip[0],),
        )
        conn.execute(
            "INSERT INTO travel.accommodations (trip_id, name, check_in, check_out)"
            " VALUES (%s, 'Alfama flat', '2027-05-01', '2027-05-05')",
            (trip[0],),
        )
        conn.execute(
            "INSERT INTO travel.activities (trip_id, name, starts_at) VALUES (%s, 'Tram 28', '2027-05-02 10:00Z')",
            (trip[0],),
        )
        conn.execute("UPDATE travel.trips SET status = 'booked' WHERE id = %s", (trip[0],))
    with connect_as(url, str(bob)) as conn:
        conn.execute("SELECT memory.add_memory(%s, 'Bob likes jazz', %s)", (str(bob), unit(5)))
    return facts


def table_contents(url: str) -> dict[str, list[str]]:
    """Every row of every project table, as text, in a stable order (as the owner: no RLS)."""
    contents: dict[str, list[str]] = {}
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "SELECT n.nspname || '.' || c.relname FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY (%s)",
            (SCHEMAS,),
        ).fetchall()
        for (table,) in tables:
            if table in BOOKKEEPING:
                continue
            rows = conn.execute(
                sql.SQL("SELECT t::text FROM {} AS t").format(sql.SQL(table))
            ).fetchall()
            contents[table] = sorted(row for (row,) in rows)
    return contents


@pytest.fixture(scope="module")
def upgraded(
    module_empty_db: Database,
) -> Iterator[tuple[Database, dict[str, object], dict, dict, Keyring]]:
    previous = RELEASES[PREVIOUS_RELEASE]
    installed = run_mempg("apply", "--to", previous, url=module_empty_db.url)
    assert installed.returncode == 0, installed.stderr
    keyring = Keyring.from_env({"MEMPG_MASTER_KEY_1": generate_master_key()})
    facts = load_release_data(module_empty_db.url, keyring)
    before = table_contents(module_empty_db.url)
    applied = run_mempg("apply", url=module_empty_db.url)
    assert applied.returncode == 0, applied.stderr
    yield module_empty_db, facts, before, table_contents(module_empty_db.url), keyring


def test_an_upgraded_database_has_the_schema_of_a_fresh_install(upgraded):
    database, *_ = upgraded
    with scratch_database("mempg_fresh") as fresh:
        assert run_mempg("apply", url=fresh.url).returncode == 0
        assert fingerprint(database) == fingerprint(fresh)


def test_every_row_survives_the_upgrade_unchanged(upgraded):
    _, _, before, after, _ = upgraded
    assert set(after) >= set(before)
    assert sum(len(rows) for rows in before.values()) > 25
    for table, rows in before.items():
        if table in SETTINGS:
            assert len(after[table]) >= len(rows), table  # new columns or new settings, none lost
        else:
            assert after[table] == rows, table
    assert all(after[t] == [] for t in set(after) - set(before) - SETTINGS - DERIVED)


def test_the_quota_totals_are_counted_from_the_memories_stored_before_the_upgrade(upgraded):
    database, facts, _, after, _ = upgraded
    assert after["memory.quota_usage"]  # alice and bob's memories
    with owner(database.url) as conn:
        assert conn.execute("SELECT memory.recount_quota_usage()").fetchone() == (0,)
        alice = conn.execute(
            "SELECT memories FROM memory.quota_usage WHERE user_id = %s", (str(facts["alice"]),)
        ).fetchone()
    assert alice == (2,)


def test_upgraded_data_is_readable_through_the_api_as_its_owner(upgraded):
    database, facts, _, _, keyring = upgraded
    alice = str(facts["alice"])
    with connect_as(database.url, alice) as conn:
        memories = conn.execute("SELECT memory FROM memory.list_memories(%s)", (alice,)).fetchall()
        assert sorted(m for (m,) in memories) == [
            "Alice flies to Lisbon in May",
            "Alice is allergic to peanuts and shellfish",
        ]
        found = conn.execute(
            "SELECT memory FROM memory.search_memories(%s, %s, 1)", (unit(2), alice)
        ).fetchall()
        assert found == [("Alice is allergic to peanuts and shellfish",)]
        events = conn.execute(
            "SELECT event FROM memory.memory_history(%s)", (facts["memory"],)
        ).fetchall()
        assert [e for (e,) in events] == ["ADD", "UPDATE"]
        assert conn.execute(
            "SELECT event FROM memory.add_memory(%s, 'Alice is allergic to peanuts and shellfish', %s)",
            (alice, unit(2)),
        ).fetchone() == ("NOOP",)
        assert read_key(conn, keyring, facts["alice"], "openai") == "sk-upgrade-test-1234"
        messages = conn.execute("SELECT content FROM app.list_chat_messages(%s)", (facts["chat"],))
        assert len(messages.fetchall()) == 2
        assert conn.execute("SELECT count(*) FROM travel.flights").fetchone() == (1,)
    with connect_as(database.url, str(facts["bob"])) as conn:  # a collaborator reads the trip
        assert conn.execute("SELECT count(*) FROM travel.flights").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM memory.memories").fetchone() == (1,)


def test_mempg_verify_is_clean_on_an_upgraded_database(upgraded):
    database, *_ = upgraded
    result = run_mempg("verify", url=database.url)
    assert result.returncode == 0, result.stdout + result.stderr
