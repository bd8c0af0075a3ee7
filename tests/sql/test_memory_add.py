"""memory.add_memory and the deduplicate_memories trigger: every path, its history, bad input."""

from __future__ import annotations

import hashlib

import numpy as np
import psycopg
import pytest

from helpers import Database
from vectors import (
    DIM,
    STORED_ATOL,
    add_memory,
    connect_as,
    owner,
    unit,
    vector_literal,
    with_similarity,
)

ALICE = "alice"


def add(conn: psycopg.Connection, text: str, embedding: np.ndarray, **kwargs) -> tuple[str, str]:
    return add_memory(conn, text, embedding, kwargs.pop("user_id", ALICE), **kwargs)


def memories(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        "SELECT id::text, memory, metadata, categories, version FROM memory.memories ORDER BY created_at, id"
    ).fetchall()


def history(conn: psycopg.Connection, memory_id: str) -> list[tuple]:
    return conn.execute(
        "SELECT event, old_memory, new_memory, old_version, new_version, db_role, app_user_id"
        " FROM memory.memory_history WHERE memory_id = %s ORDER BY id",
        (memory_id,),
    ).fetchall()


def test_a_new_memory_is_added_with_a_history_row(alice):
    memory_id, event = add(alice, "Alice likes green tea", unit(1))
    assert event == "ADD"
    assert history(alice, memory_id) == [
        ("ADD", None, "Alice likes green tea", None, 1, "authenticated", ALICE)
    ]


def test_the_hash_is_sha256_of_the_normalised_text(alice):
    memory_id, _ = add(alice, "  Alice   LIKES\tgreen tea ", unit(1))
    expected = hashlib.sha256(b"alice likes green tea").hexdigest()
    row = alice.execute("SELECT hash FROM memory.memories WHERE id = %s", (memory_id,)).fetchone()
    assert row == (expected,)


def test_categories_are_trimmed_lower_cased_and_deduplicated(alice):
    memory_id, _ = add(alice, "x", unit(1), categories=[" Food", "food ", "DRINKS", "", "  "])
    row = alice.execute(
        "SELECT categories FROM memory.memories WHERE id = %s", (memory_id,)
    ).fetchone()
    assert row == (["drinks", "food"],)


def test_the_same_normalised_text_is_a_noop_that_refreshes_and_merges(db: Database, alice):
    first, _ = add(
        alice, "Alice likes green tea", unit(1), metadata='{"a": 1, "b": 1}', categories=["food"]
    )
    with owner(db.url) as admin:
        admin.execute(
            "UPDATE memory.memories SET relevance_score = 0.2, last_accessed_at = now() - interval '9 days'"
        )
    second, event = add(
        alice,
        "  alice LIKES green   tea ",
        unit(2),
        metadata='{"b": 2, "c": 3}',
        categories=["Tea"],
    )
    assert (second, event) == (first, "NOOP")
    row = alice.execute(
        "SELECT memory, metadata, categories, version, relevance_score, access_count,"
        " last_accessed_at > now() - interval '1 minute' FROM memory.memories"
    ).fetchall()
    assert row == [
        ("Alice likes green tea", {"a": 1, "b": 2, "c": 3}, ["food", "tea"], 1, 1.0, 1, True)
    ]
    assert [h[0] for h in history(alice, first)] == ["ADD"]


def test_near_identical_content_replaces_the_text_in_place(alice):
    base = unit(1)
    first, _ = add(alice, "Alice likes green tea", base, metadata='{"a": 1}')
    second, event = add(
        alice, "Alice loves green tea", with_similarity(base, 0.99), metadata='{"b": 2}'
    )
    assert (second, event) == (first, "UPDATE")
    assert memories(alice) == [(first, "Alice loves green tea", {"a": 1, "b": 2}, [], 2)]
    stored = alice.execute("SELECT embedding FROM memory.memories").fetchone()
    assert stored is not None
    vector = (
        stored[0].to_numpy() if hasattr(stored[0], "to_numpy") else stored[0]
    )  # pgvector 0.4 / 0.3
    assert np.allclose(vector, with_similarity(base, 0.99), atol=STORED_ATOL)
    assert history(alice, first)[-1][:5] == (
        "UPDATE",
        "Alice likes green tea",
        "Alice loves green tea",
        1,
        2,
    )


def test_similar_content_is_merged_into_the_existing_memory(alice):
    base = unit(1)
    first, _ = add(
        alice, "Alice likes green tea", base, metadata='{"a": 1, "k": "old"}', categories=["food"]
    )
    second, event = add(
        alice,
        "Alice drinks green tea daily",
        with_similarity(base, 0.96),
        metadata='{"k": "new"}',
        categories=["habit"],
    )
    assert (second, event) == (first, "MERGE")
    assert memories(alice) == [
        (first, "Alice likes green tea", {"a": 1, "k": "new"}, ["food", "habit"], 2)
    ]
    assert history(alice, first)[-1][:5] == (
        "MERGE",
        "Alice likes green tea",
        "Alice likes green tea",
        1,
        2,
    )


def test_dissimilar_content_is_a_new_memory(alice):
    base = unit(1)
    add(alice, "Alice likes green tea", base)
    _, event = add(alice, "Alice flies to Lisbon", with_similarity(base, 0.94))
    assert event == "ADD"
    assert len(memories(alice)) == 2


def test_thresholds_are_read_from_the_settings_table(db: Database, alice):
    with owner(db.url) as admin:
        admin.execute("UPDATE memory.settings SET merge_threshold = 0.5, replace_threshold = 0.9")
    base = unit(1)
    first, _ = add(alice, "one", base)
    assert add(alice, "two", with_similarity(base, 0.6)) == (first, "MERGE")
    assert add(alice, "three", with_similarity(base, 0.91, seed=5)) == (first, "UPDATE")


def test_a_plain_insert_from_psql_is_deduplicated_too(alice):
    insert = "INSERT INTO memory.memories (user_id, memory, embedding) VALUES (%s, %s, %s)"
    assert alice.execute(insert, (ALICE, "Alice likes tea", unit(1))).rowcount == 1
    with alice.transaction():  # the outcome is transaction-local
        assert (
            alice.execute(insert, (ALICE, "alice likes tea", unit(1))).rowcount == 0
        )  # INSERT 0 0
        result = alice.execute("SELECT current_setting('memory.dedup_result', true)").fetchone()
    assert result is not None and result[0].endswith(" NOOP")
    assert len(memories(alice)) == 1


def test_agents_are_separate_scopes(alice):
    base = unit(1)
    ids = {
        add(alice, "Alice likes tea", base, agent_id="planner"),
        add(alice, "Alice likes tea", base, agent_id="booker"),
        add(alice, "Alice likes tea", base),
    }
    assert {event for _id, event in ids} == {"ADD"}
    assert len(memories(alice)) == 3
    assert add(alice, "alice likes tea", base, agent_id="planner")[1] == "NOOP"


def test_two_users_never_merge(db: Database):
    base = unit(1)
    with connect_as(db.url, "alice") as alice, connect_as(db.url, "bob") as bob:
        a = add(alice, "likes tea", base, user_id="alice")
        b = add(bob, "likes tea", base, user_id="bob")
    assert a[1] == b[1] == "ADD" and a[0] != b[0]


def test_an_exact_duplicate_keeps_the_longest_expiry(alice):
    first, _ = add(alice, "short lived", unit(1), expires_at="2999-01-01")
    add(alice, "short lived", unit(1), expires_at="2998-01-01")
    add(alice, "short lived", unit(1))
    row = alice.execute("SELECT expires_at FROM memory.memories WHERE id = %s", (first,)).fetchone()
    assert row == (None,)  # a claim without expiry never expires


def test_the_default_dimension_is_1536(alice):
    row = alice.execute("SELECT memory.embedding_dim()").fetchone()
    assert row == (DIM,)


BAD_INPUT = [
    ("user_id NULL", {"user_id": None}, "22004"),
    ("memory NULL", {"memory": None}, "22004"),
    ("embedding NULL", {"embedding": None}, "22004"),
    ("wrong dimension", {"embedding": vector_literal(["1"] * 3)}, "22023"),
    ("NaN", {"embedding": vector_literal(["NaN"] + ["1"] * (DIM - 1))}, "22000"),
    ("infinity", {"embedding": vector_literal(["Infinity"] + ["1"] * (DIM - 1))}, "22000"),
    ("zero vector", {"embedding": vector_literal(["0"] * DIM)}, "22023"),
    ("components 1e38", {"embedding": vector_literal(["1e38"] * DIM)}, "22023"),
    ("components 1e-23", {"embedding": vector_literal(["1e-23"] * DIM)}, "22023"),
    ("components 1e-45", {"embedding": vector_literal(["1e-45"] * DIM)}, "22023"),
    ("empty text", {"memory": ""}, "22023"),
    ("blank text", {"memory": " \t\n "}, "22023"),
    ("oversized text", {"memory": "x" * 10_001}, "22001"),
    ("megabyte of words", {"memory": "word " * 200_000}, "22001"),
    ("metadata array", {"metadata": "[1, 2]"}, "22023"),
    ("metadata string", {"metadata": '"x"'}, "22023"),
    ("expiry in the past", {"expires_at": "2000-01-01"}, "22023"),
    ("empty user id", {"user_id": ""}, "22023"),
    ("blank user id", {"user_id": "  "}, "22023"),
    ("empty agent id", {"agent_id": ""}, "22023"),
    ("blank agent id", {"agent_id": " "}, "22023"),
    ("oversized agent id", {"agent_id": "a" * 256}, "22001"),
    ("oversized user id", {"user_id": "u" * 256}, "22001"),
    ("deep metadata", {"metadata": '{"a":' * 21 + "1" + "}" * 21}, "22001"),
    ("10,000-level metadata", {"metadata": '{"a":' * 10_000 + "1" + "}" * 10_000}, "22001"),
    ("megabyte metadata value", {"metadata": '{"a": "' + "x" * 1_000_000 + '"}'}, "22001"),
]


@pytest.mark.parametrize(("case", "override", "sqlstate"), BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
def test_bad_input_is_refused_with_its_sqlstate_and_writes_nothing(
    db: Database, alice, case, override, sqlstate
):
    args = {
        "user_id": ALICE,
        "memory": "Alice likes tea",
        "embedding": vector_literal(["0.5"] * DIM),
        "metadata": "{}",
        "agent_id": None,
        "expires_at": None,
        **override,
    }
    with pytest.raises(psycopg.Error) as caught:
        alice.execute(
            "SELECT * FROM memory.add_memory(%(user_id)s, %(memory)s, %(embedding)s::vector,"
            " %(metadata)s::jsonb, '{}', %(agent_id)s, NULL, NULL, %(expires_at)s::timestamptz)",
            args,
        )
    assert caught.value.sqlstate == sqlstate, str(caught.value)
    with owner(db.url) as admin:
        counts = admin.execute(
            "SELECT (SELECT count(*) FROM memory.memories), (SELECT count(*) FROM memory.memory_history)"
        ).fetchone()
    assert counts == (0, 0)


@pytest.mark.parametrize("parameter", ["user_id", "memory", "embedding"])
def test_the_error_names_the_parameter(alice, parameter):
    args = {"user_id": ALICE, "memory": "m", "embedding": unit(1), parameter: None}
    with pytest.raises(psycopg.errors.NullValueNotAllowed, match=f"^{parameter} must not be NULL"):
        alice.execute(
            "SELECT * FROM memory.add_memory(%(user_id)s, %(memory)s, %(embedding)s)", args
        )


def test_a_plain_insert_reports_what_deduplication_made_of_it(alice):
    """The trigger's hand-off (dedup_outcome.sql), read after a plain INSERT, in its transaction."""
    first, _ = add(alice, "Alice likes green tea", unit(1))
    insert = "INSERT INTO memory.memories (user_id, memory, embedding) VALUES ('alice', %s, %s)"
    outcomes = []
    for text, embedding in (
        ("  alice likes GREEN tea", unit(1)),
        ("Alice loves green tea", with_similarity(unit(1), 0.99, seed=3)),
        ("Alice flies to Lisbon", unit(2)),
    ):
        with alice.transaction():
            alice.execute(insert, (text, embedding))
            outcomes.append(
                alice.execute("SELECT id::text, event FROM memory.dedup_outcome()").fetchone()
            )
    assert outcomes[0] == (first, "NOOP")
    assert outcomes[1] == (first, "UPDATE")
    assert outcomes[2] is not None and outcomes[2][1] == "ADD" and outcomes[2][0] != first
    with alice.transaction():  # nothing inserted in this transaction: no outcome
        assert alice.execute("SELECT * FROM memory.dedup_outcome()").fetchall() == []
