"""The storage type of embeddings, chosen at install (`mempg apply --embedding-type`, 0024):
halfvec stores every embedding column and HNSW index in 2-byte floats, every function keeps
taking vector, a component a half float cannot hold is refused, and the choice is fixed.

These tests install databases of their own, so `make test-halfvec` (which reruns tests/sql on a
halfvec template) skips them: `make test` runs them once.
"""

from __future__ import annotations

import re

import numpy as np
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import Database, ledger, run_mempg
from vectors import (
    DIM,
    EMBEDDING_TYPE,
    add_memory,
    connect_as,
    filled,
    nested_plans,
    owner,
    unit,
)

pytestmark = pytest.mark.skipif(
    EMBEDDING_TYPE == "halfvec", reason="installs its own databases; make test runs it"
)

ALICE = "alice"
EMBEDDING_COLUMNS = """
    SELECT a.attrelid::regclass::text, pg_catalog.format_type(a.atttypid, a.atttypmod)
    FROM pg_catalog.pg_attribute AS a JOIN pg_catalog.pg_class AS c ON c.oid = a.attrelid
    WHERE a.attname = 'embedding' AND NOT a.attisdropped AND c.relkind IN ('r', 'p')
    ORDER BY 1
"""
HNSW_INDEXES = """
    SELECT c.relname, pg_catalog.pg_get_indexdef(c.oid)
    FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_am AS am ON am.oid = c.relam
    WHERE am.amname = 'hnsw' ORDER BY 1
"""

TRIGGER_STATES = """
    SELECT g.tgrelid::regclass::text, g.tgname::text, g.tgenabled::text FROM pg_catalog.pg_trigger AS g
    JOIN pg_catalog.pg_class AS c ON c.oid = g.tgrelid
    WHERE NOT g.tgisinternal AND c.relnamespace::regnamespace::text IN ('memory', 'agent')
    ORDER BY 1, 2
"""


def columns_and_indexes(url: str) -> tuple[set[str], list[str]]:
    with owner(url) as conn:
        types = {row[1] for row in conn.execute(EMBEDDING_COLUMNS)}
        indexes = [row[1] for row in conn.execute(HNSW_INDEXES)]
    return types, indexes


@pytest.fixture(scope="module")
def halfvec_db(module_empty_db: Database) -> Database:
    done = run_mempg("apply", "--embedding-type", "halfvec", url=module_empty_db.url, timeout=300)
    assert done.returncode == 0, done.stderr
    return module_empty_db


def test_halfvec_stores_every_embedding_column_and_index_in_half_floats(halfvec_db: Database):
    types, indexes = columns_and_indexes(halfvec_db.url)
    assert types == {f"halfvec({DIM})"}
    assert len(indexes) >= 4 and all("halfvec_cosine_ops" in i for i in indexes), indexes
    with owner(halfvec_db.url) as conn:
        assert conn.execute("SELECT memory.embedding_type()").fetchone() == ("halfvec",)
        setting = "SELECT value FROM mempg.settings WHERE key = 'embedding_type'"
        assert conn.execute(setting).fetchone() == ("halfvec",)
        # the CHECK that refuses a zero embedding, in halfvec's own norm function
        checks = conn.execute(
            "SELECT count(*) FROM pg_catalog.pg_constraint WHERE conname = 'embedding_not_zero'"
            " AND pg_catalog.pg_get_constraintdef(oid) LIKE '%l2_norm(embedding)%'"
        ).fetchone()
        assert checks is not None and checks[0] == len(types_by_table(conn))
    verified = run_mempg("verify", url=halfvec_db.url)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def types_by_table(conn: psycopg.Connection) -> dict[str, str]:
    return dict(conn.execute(EMBEDDING_COLUMNS).fetchall())


def test_functions_take_vectors_and_an_embedding_takes_half_the_bytes(halfvec_db: Database):
    base = unit(1)
    with connect_as(halfvec_db.url, ALICE) as conn:
        memory_id, event = add_memory(conn, "Alice is allergic to peanuts", base)
        assert event == "ADD"
        # the same text again is a duplicate, found through the halfvec HNSW index
        assert add_memory(conn, "Alice is allergic to peanuts", base)[1] == "NOOP"
        rows = conn.execute(
            "SELECT id::text, similarity FROM memory.search_memories(%s, %s)", (base, ALICE)
        ).fetchall()
        assert rows[0][0] == memory_id and rows[0][1] == pytest.approx(1.0, abs=1e-3)
        hybrid = conn.execute(
            "SELECT id::text FROM memory.hybrid_search_memories('peanuts', %s, %s)", (base, ALICE)
        ).fetchall()
        assert hybrid == [(memory_id,)]
    with owner(halfvec_db.url) as conn:
        row = conn.execute(
            "SELECT embedding::vector, pg_column_size(embedding) FROM memory.memories"
            " WHERE id = %s::uuid",
            (memory_id,),
        ).fetchone()
    assert row is not None
    np.testing.assert_allclose(row[0], base, atol=1e-3)
    assert row[1] == 2 * DIM + 8  # vector's is 4 * DIM + 8


# a query parameter cast to halfvec in the plan: evaluated again for every row it is compared with
PER_ROW_CAST = re.compile(r"\(\$\d+\)::(?:extensions\.)?halfvec")


def test_a_query_is_cast_to_halfvec_once_not_for_every_row(halfvec_db: Database):
    """Exact, hybrid, entity and unified search compare the query with each row of the
    user; a vector parameter compared with a halfvec column would be cast again per row (3x the
    cost on 5,000 rows). memory.stored_embedding makes it one cast per call."""
    with connect_as(halfvec_db.url, "caster") as conn:
        for i in range(30):
            add_memory(conn, f"caster fact number {i}", unit(100 + i), "caster")
    query = str(unit(7).tolist()).replace(" ", "")
    for statement in SEARCHES:
        plans = nested_plans(halfvec_db.url, "caster", statement, (query,), calls=7, verbose=True)
        assert "<=>" in plans, statement
        assert not PER_ROW_CAST.search(plans), statement


SEARCHES = [
    "SELECT * FROM memory.search_memories(%s::vector, 'caster')",
    "SELECT * FROM memory.hybrid_search_memories('fact', %s::vector, 'caster')",
    "SELECT * FROM memory.search_entities('fact', %s::vector, 'caster')",
    "SELECT * FROM agent.unified_search('fact', %s::vector, 'caster')",
]


@pytest.mark.parametrize("statement", SEARCHES)
def test_a_bad_query_is_refused_by_its_check_before_any_cast(halfvec_db: Database, statement):
    """The one cast of the query to the stored type comes after the argument checks, so a wrong
    dimension or a component beyond a half float gets check_embedding's 22023 naming
    query_embedding, not the cast's own error."""
    for query in ("[1,2,3]", "[" + ",".join(["70000"] + ["0.01"] * (DIM - 1)) + "]"):
        with connect_as(halfvec_db.url, "caster") as conn, pytest.raises(psycopg.Error) as caught:
            conn.execute(statement, (query,))
        assert caught.value.sqlstate == "22023", (query[:20], str(caught.value))
        assert "query_embedding" in str(caught.value)


@pytest.mark.parametrize("component", ["65505", "-70000", "1e38"])
def test_a_component_beyond_a_half_float_is_refused_naming_the_parameter(
    halfvec_db: Database, component: str
):
    vector = "[" + ",".join([component] + ["0.01"] * (DIM - 1)) + "]"
    with connect_as(halfvec_db.url, ALICE) as conn:
        before = conn.execute("SELECT count(*) FROM memory.memories").fetchone()
        with pytest.raises(psycopg.Error) as caught:
            conn.execute(
                "SELECT * FROM memory.add_memory(%s, 'too large', %s::vector)", (ALICE, vector)
            )
        assert caught.value.sqlstate == "22023"
        assert "embedding" in str(caught.value) and "65504" in str(caught.value)
        assert conn.execute("SELECT count(*) FROM memory.memories").fetchone() == before


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    position=st.integers(0, DIM - 1),
    magnitude=st.one_of(
        st.floats(0, 3.4e38),  # any float a vector holds (its input refuses more, 22003)
        st.floats(65000, 66000),  # around the largest half float, 65504
        st.sampled_from([65504.0, 65519.0, 65520.0]),
    ),
    negative=st.booleans(),
)
def test_any_component_is_stored_or_refused_with_22023_and_nothing_else(
    halfvec_db: Database, position: int, magnitude: float, negative: bool
):
    """One component of any size among ordinary ones: the memory is added (its component stored
    to half precision) or refused with 22023 naming the parameter, never PostgreSQL's 22003
    from the cast, and nothing else changes."""
    vector = np.full(DIM, 0.01, dtype=np.float64)
    vector[position] = -magnitude if negative else magnitude
    literal = "[" + ",".join(repr(float(x)) for x in vector) + "]"
    with connect_as(halfvec_db.url, "fuzz") as conn:
        before = conn.execute("SELECT count(*) FROM memory.memories").fetchone()
        try:
            memory_id, _ = add_memory(conn, f"fuzz {position} {magnitude}", literal, "fuzz")
        except psycopg.Error as caught:
            assert caught.sqlstate == "22023", (caught.sqlstate, str(caught))
            assert "embedding" in str(caught)
            assert conn.execute("SELECT count(*) FROM memory.memories").fetchone() == before
            return
    assert abs(np.float32(magnitude)) <= 65504  # the largest half float
    with owner(halfvec_db.url) as conn:
        row = conn.execute(
            "SELECT (embedding::vector::real[])[%s] FROM memory.memories WHERE id = %s::uuid",
            (position + 1, memory_id),
        ).fetchone()
    assert row is not None
    assert row[0] == pytest.approx(vector[position], rel=1e-3, abs=1e-4)


def test_a_vector_that_loses_its_direction_in_half_precision_is_refused(halfvec_db: Database):
    """Components below the smallest half float (6e-8) round to zero or to a few of its steps:
    a vector of norm 1e-6 is refused with 22023 naming the parameter, as a search query too; one
    of norm 1e-2 keeps its direction and is stored."""
    direction = unit(11)
    with connect_as(halfvec_db.url, "tiny") as conn:
        for norm in (1e-6, 1e-5):
            with pytest.raises(psycopg.Error) as caught:
                add_memory(conn, f"tiny {norm}", direction * norm, "tiny")
            assert caught.value.sqlstate == "22023", str(caught.value)
            assert "embedding" in str(caught.value) and "halfvec" in str(caught.value)
            with pytest.raises(psycopg.Error) as caught:
                conn.execute(
                    "SELECT * FROM memory.search_memories(%s, 'tiny')", (direction * norm,)
                )
            assert caught.value.sqlstate == "22023" and "query_embedding" in str(caught.value)
        assert add_memory(conn, "small but whole", direction * 1e-2, "tiny")[1] == "ADD"


def test_resolving_an_entity_by_name_needs_no_usable_embedding(halfvec_db: Database):
    """resolve_entity() matches by name first: an embedding it never reaches (another
    dimension, here) is not cast, so the name still resolves."""
    with connect_as(halfvec_db.url, "resolver") as conn:
        made = conn.execute(
            "SELECT id::text FROM memory.upsert_entity('resolver', 'Ada Lovelace', 'person')"
        ).fetchone()
        assert made is not None
        found = conn.execute(
            "SELECT id::text, matched_by FROM memory.resolve_entity('resolver', 'person',"
            " 'Ada Lovelace', '{}', '[1,2,3]'::vector)"
        ).fetchall()
    assert found == [(made[0], "name")]


def test_an_unusable_embedding_cannot_be_stored_even_with_triggers_bypassed(halfvec_db: Database):
    """On vector an old dump can hold embeddings whose similarities overflow (1e38) or underflow
    (1e-23); test_memory_input_safety tests that search ignores them. A halfvec column refuses
    both: out of range, and rounded to zero, which the CHECK refuses."""
    with owner(halfvec_db.url) as conn:
        conn.execute("SET session_replication_role = replica")
        for value, sqlstate in (("1e38", "22003"), ("1e-23", "23514")):
            with pytest.raises(psycopg.Error) as caught:
                conn.execute(
                    "INSERT INTO memory.memories (user_id, memory, embedding) VALUES (%s, 'x', %s)",
                    (ALICE, filled(value)),
                )
            assert caught.value.sqlstate == sqlstate, value


def test_the_embedding_type_is_fixed_once_installed(halfvec_db: Database):
    changed = run_mempg("apply", "--embedding-type", "vector", url=halfvec_db.url)
    assert changed.returncode == 1
    assert "installed with embedding type halfvec" in changed.stderr
    assert run_mempg("apply", "--embedding-type", "halfvec", url=halfvec_db.url).returncode == 0
    with owner(halfvec_db.url) as conn, pytest.raises(psycopg.Error) as caught:
        conn.execute("UPDATE mempg.settings SET value = 'vector' WHERE key = 'embedding_type'")
    assert caught.value.sqlstate == "55000"


def test_an_unknown_embedding_type_stops_the_install_at_0024(empty_db: Database):
    done = run_mempg("apply", "--embedding-type", "float8", url=empty_db.url, timeout=300)
    assert done.returncode == 1
    assert "embedding_type must be vector or halfvec, got float8" in done.stdout + done.stderr
    state = dict(ledger(empty_db))
    assert state.get("0024_embedding_type") != "applied"
    assert state["0023_decay_when_read"] == "applied"
    types, indexes = columns_and_indexes(empty_db.url)
    assert types == {f"vector({DIM})"} and all("vector_cosine_ops" in i for i in indexes)


def test_an_installed_database_converts_to_halfvec_and_back_keeping_its_memories(
    empty_db: Database,
):
    """A database at 0023 takes --embedding-type halfvec with 0024 (its columns, CHECKs and
    indexes converted, its memories kept), and rolling back to 0023 returns it to vector."""
    assert run_mempg("apply", "--to", "0023_decay_when_read", url=empty_db.url).returncode == 0
    embeddings = [unit(seed) for seed in range(20)]
    with connect_as(empty_db.url, ALICE) as conn:
        ids = [add_memory(conn, f"memory {i}", e)[0] for i, e in enumerate(embeddings)]
    done = run_mempg("apply", "--embedding-type", "halfvec", url=empty_db.url)
    assert done.returncode == 0, done.stderr
    assert columns_and_indexes(empty_db.url)[0] == {f"halfvec({DIM})"}

    def nearest_each() -> list[str]:
        with connect_as(empty_db.url, ALICE) as conn:
            return [
                conn.execute(
                    "SELECT id::text FROM memory.search_memories(%s, %s, 1)", (e, ALICE)
                ).fetchone()[0]
                for e in embeddings
            ]

    assert nearest_each() == ids
    with owner(empty_db.url) as conn:  # a disabled trigger on the column stays disabled
        on_embedding = conn.execute(
            "SELECT g.tgrelid::regclass::text, g.tgname FROM pg_catalog.pg_trigger AS g"
            " JOIN pg_catalog.pg_depend AS d"
            " ON d.classid = 'pg_catalog.pg_trigger'::regclass AND d.objid = g.oid"
            " JOIN pg_catalog.pg_attribute AS a"
            " ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid"
            " WHERE a.attname = 'embedding' LIMIT 1"
        ).fetchone()
        assert on_embedding is not None  # entities_30_history, on UPDATE OF embedding and more
        conn.execute(f'ALTER TABLE {on_embedding[0]} DISABLE TRIGGER "{on_embedding[1]}"')
        states = conn.execute(TRIGGER_STATES).fetchall()
        assert (on_embedding[0], on_embedding[1], "D") in states
    back = run_mempg("rollback", "--to", "0023_decay_when_read", url=empty_db.url)
    assert back.returncode == 0, back.stderr
    types, indexes = columns_and_indexes(empty_db.url)
    assert types == {f"vector({DIM})"} and all("vector_cosine_ops" in i for i in indexes)
    assert nearest_each() == ids
    with owner(empty_db.url) as conn:
        assert conn.execute("SELECT count(*) FROM memory.memories").fetchone() == (20,)
        assert conn.execute(TRIGGER_STATES).fetchall() == states
        gone = "SELECT count(*) FROM mempg.settings WHERE key = 'embedding_type'"
        assert conn.execute(gone).fetchone() == (0,)


def test_rows_halfvec_cannot_hold_stop_the_conversion_naming_the_table(empty_db: Database):
    """A database at 0023 with embeddings stored when nothing checked them (a restore with
    triggers off): one with a component beyond a half float, one that rounds to zero. apply
    --embedding-type halfvec refuses with 22023 naming the table and both counts, and changes
    nothing: still at 0023, still vector, every row as it was."""
    assert run_mempg("apply", "--to", "0023_decay_when_read", url=empty_db.url).returncode == 0
    with connect_as(empty_db.url, ALICE) as conn:
        add_memory(conn, "an ordinary memory", unit(1))
    with owner(empty_db.url) as conn:
        conn.execute("SET session_replication_role = replica")
        for value in ("70000", "1e-9"):
            conn.execute(
                "INSERT INTO memory.memories (user_id, memory, embedding) VALUES (%s, %s, %s)",
                (ALICE, f"legacy {value}", filled(value)),
            )
        before = conn.execute(
            "SELECT count(*), sum(vector_norm(embedding)) FROM memory.memories"
        ).fetchone()
    done = run_mempg("apply", "--embedding-type", "halfvec", url=empty_db.url)
    assert done.returncode == 1
    out = done.stdout + done.stderr
    assert "memory.memories holds 1 embeddings with a component beyond +-65504 and 1" in out, out
    assert dict(ledger(empty_db)).get("0024_embedding_type") != "applied"
    assert columns_and_indexes(empty_db.url)[0] == {f"vector({DIM})"}
    with owner(empty_db.url) as conn:
        after = conn.execute(
            "SELECT count(*), sum(vector_norm(embedding)) FROM memory.memories"
        ).fetchone()
    assert after == before


def test_halfvec_indexes_what_vector_cannot_from_2001_to_4000_dimensions(empty_db: Database):
    """pgvector's HNSW takes vector up to 2,000 dimensions and halfvec up to 4,000: at 3,072
    (text-embedding-3-large) a halfvec install gets the four HNSW indexes and a search uses
    them; rolled back to vector, they go, as vector cannot have them."""
    done = run_mempg(
        "apply", "--embedding-dim", "3072", "--embedding-type", "halfvec", url=empty_db.url
    )
    assert done.returncode == 0, done.stderr
    _, indexes = columns_and_indexes(empty_db.url)
    assert len(indexes) == 4 and all("halfvec_cosine_ops" in i for i in indexes), indexes
    query = unit(3, 3072)
    with connect_as(empty_db.url, ALICE) as conn:
        memory_id, _ = add_memory(conn, "Alice prefers aisle seats", query)
        found = conn.execute(
            "SELECT id::text FROM memory.search_memories(%s, %s)", (query, ALICE)
        ).fetchall()
        assert found == [(memory_id,)]
    with owner(empty_db.url) as conn:
        conn.execute("SET enable_seqscan = off")
        plan = "\n".join(
            row[0]
            for row in conn.execute(
                "EXPLAIN SELECT id FROM memory.memories WHERE NOT is_deleted"
                " ORDER BY embedding <=> %s::vector LIMIT 10",
                (query,),
            )
        )
        assert "memories_embedding_ann" in plan, plan
    assert run_mempg("verify", url=empty_db.url).returncode == 0
    assert run_mempg("rollback", "--to", "0023_decay_when_read", url=empty_db.url).returncode == 0
    types, indexes = columns_and_indexes(empty_db.url)
    assert types == {"vector(3072)"} and indexes == []
