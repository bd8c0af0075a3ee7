"""The memory defects of issue 9: NaN similarities, validation skipped for duplicates, unbounded
metadata, errors outside the documented SQLSTATEs. Each test failed on 0004's main."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest

from helpers import Database
from vectors import DIM, EMBEDDING_TYPE, add_memory, filled, owner, unit

ALICE = "alice"


def add(conn: psycopg.Connection, text: str, embedding, **kwargs) -> tuple[str, str]:
    return add_memory(conn, text, embedding, kwargs.pop("user_id", ALICE), **kwargs)


def snapshot(url: str) -> list[tuple]:
    """Every column of every memory and every history row, as the owner sees them."""
    with owner(url) as conn:
        rows = conn.execute("SELECT m.*::text FROM memory.memories AS m ORDER BY m.id").fetchall()
        history = conn.execute(
            "SELECT h.*::text FROM memory.memory_history AS h ORDER BY h.id"
        ).fetchall()
    return rows + history


UNUSABLE = {"1e38": filled("1e38"), "1e-23": filled("1e-23"), "1e-45": filled("1e-45")}


def three_real_memories(conn: psycopg.Connection) -> None:
    add(conn, "Alice is allergic to peanuts", unit(1))
    add(conn, "Alice's passport number is X1234567", unit(2))
    add(conn, "Alice prefers aisle seats", unit(3), metadata='{"topic": "travel"}')


@pytest.mark.parametrize("vector", UNUSABLE.values(), ids=UNUSABLE.keys())
def test_an_embedding_with_a_nan_similarity_changes_none_of_the_users_memories(
    db: Database, alice, vector
):
    three_real_memories(alice)
    before = snapshot(db.url)
    with pytest.raises(psycopg.Error) as caught:
        add(alice, "Alice is allergic to shellfish", vector)
    assert caught.value.sqlstate == "22023"
    assert "embedding" in str(caught.value)
    assert snapshot(db.url) == before


@pytest.mark.parametrize("vector", UNUSABLE.values(), ids=UNUSABLE.keys())
def test_a_plain_insert_or_update_with_an_unusable_embedding_is_refused(
    db: Database, alice, vector
):
    three_real_memories(alice)
    before = snapshot(db.url)
    # halfvec storage cannot hold 1e38: pgvector's cast refuses it (22003) before any trigger
    # sees the row; the functions (add_memory, ...) report 22023 naming their parameter
    expected = "22003" if EMBEDDING_TYPE == "halfvec" and "e38" in vector else "22023"
    with pytest.raises(psycopg.Error) as caught:
        alice.execute(
            "INSERT INTO memory.memories (user_id, memory, embedding) VALUES ('alice', 'x', %s)",
            (vector,),
        )
    assert caught.value.sqlstate == expected
    with pytest.raises(psycopg.Error) as caught:
        alice.execute("UPDATE memory.memories SET embedding = %s", (vector,))
    assert caught.value.sqlstate == expected
    assert snapshot(db.url) == before


@pytest.mark.parametrize("vector", UNUSABLE.values(), ids=UNUSABLE.keys())
def test_search_and_hybrid_search_refuse_an_unusable_query(alice, vector):
    three_real_memories(alice)
    for call in (
        "SELECT * FROM memory.search_memories(%s::vector, 'alice')",
        "SELECT * FROM memory.hybrid_search_memories('peanuts', %s::vector, 'alice')",
    ):
        with pytest.raises(psycopg.Error) as caught:
            alice.execute(call, (vector,))
        assert caught.value.sqlstate == "22023"
        assert "query_embedding" in str(caught.value)


@pytest.fixture
def legacy(db: Database, alice) -> dict[str, str]:
    """Memories stored before 0005 with unusable embeddings (triggers bypassed, as a restore of an
    old dump would): similarities with the 1e38 one are NaN or 0, with the 1e-23 one NaN or,
    once pgvector clamps an infinite ratio, exactly 1. A halfvec column cannot hold either (1e38
    is out of its range, 1e-23 rounds to zero, which its CHECK refuses), nor any vector whose
    similarities overflow or underflow: test_embedding_type shows both refused."""
    if EMBEDDING_TYPE == "halfvec":
        pytest.skip("a halfvec column cannot store an unusable embedding (test_embedding_type)")
    three_real_memories(alice)
    ids = {}
    with owner(db.url) as conn:
        conn.execute("SET session_replication_role = replica")
        for name, vector in (("1e38", UNUSABLE["1e38"]), ("1e-23", UNUSABLE["1e-23"])):
            row = conn.execute(
                "INSERT INTO memory.memories (user_id, memory, embedding) VALUES ('alice', %s, %s)"
                " RETURNING id::text",
                (f"legacy {name}", vector),
            ).fetchone()
            assert row is not None
            ids[name] = row[0]
    return ids


def test_a_nan_similarity_never_passes_a_search_threshold(alice, legacy):
    uniform = np.full(DIM, 1 / np.sqrt(DIM), dtype=np.float32)  # its dot with 1e38s overflows
    for threshold in (0.3, 0.0, 0.99):
        rows = alice.execute(
            "SELECT id::text, similarity FROM memory.search_memories(%s, 'alice', 10, '{}', '{}', %s)",
            (uniform, threshold),
        ).fetchall()
        assert legacy["1e38"] not in [r[0] for r in rows]
        assert all(not np.isnan(r[1]) for r in rows)
    rows = alice.execute(
        "SELECT id::text, semantic_rank FROM memory.hybrid_search_memories('legacy', %s, 'alice')",
        (uniform,),
    ).fetchall()
    assert (legacy["1e38"], None) in rows  # found by its text only, never by a NaN similarity


@pytest.mark.parametrize("embedding", ["uniform", "random"])
def test_a_memory_with_an_unusable_embedding_is_never_a_duplicate(
    db: Database, alice, legacy, embedding
):
    vector = np.full(DIM, 1 / np.sqrt(DIM), dtype=np.float32) if embedding == "uniform" else unit(9)
    before = snapshot(db.url)
    _, event = add(alice, "Alice collects stamps", vector)
    assert event == "ADD"
    after = snapshot(db.url)
    assert all(row in after for row in before)  # nothing changed, one memory and its history added


# An argument that is refused for a new memory must be refused the same way when the text matches
# an existing memory (a NOOP), and the existing memory must not change.
REFUSED_WHATEVER_THE_OUTCOME = [
    ("empty run_id", {"run_id": ""}, "22023"),
    ("megabyte run_id", {"run_id": "r" * 1_000_000}, "22001"),
    ("empty agent_id", {"agent_id": ""}, "22023"),
    ("blank agent_id", {"agent_id": " \t"}, "22023"),
    ("long memory_type", {"memory_type": "t" * 10_001}, "22001"),
    ("empty memory_type", {"memory_type": ""}, "22023"),
    ("megabyte category", {"categories": ["c" * 1_000_000]}, "22001"),
    ("101 categories", {"categories": [f"c{i}" for i in range(101)]}, "22001"),
    ("100,000 metadata keys", {"metadata": "KEYS"}, "22001"),
    ("deep metadata", {"metadata": '{"a":' * 21 + "1" + "}" * 21}, "22001"),
    ("metadata array", {"metadata": "[1]"}, "22023"),
]


@pytest.mark.parametrize(
    ("case", "override", "sqlstate"),
    REFUSED_WHATEVER_THE_OUTCOME,
    ids=[c[0] for c in REFUSED_WHATEVER_THE_OUTCOME],
)
@pytest.mark.parametrize("outcome", ["new text", "duplicate text"])
def test_arguments_are_checked_before_deduplication_decides(
    db: Database, alice, case, override, sqlstate, outcome
):
    three_real_memories(alice)
    before = snapshot(db.url)
    if override.get("metadata") == "KEYS":
        override = {"metadata": '{"k' + '": 1, "k'.join(str(i) for i in range(100_000)) + '": 1}'}
    text = "Alice prefers aisle seats" if outcome == "duplicate text" else "Alice has a cat"
    with pytest.raises(psycopg.Error) as caught:
        add(alice, text, unit(3), **override)
    assert caught.value.sqlstate == sqlstate, str(caught.value)
    assert snapshot(db.url) == before


def test_an_empty_agent_id_never_lands_in_the_scope_without_an_agent(alice):
    first, _ = add(alice, "Alice likes tea", unit(1))
    with pytest.raises(psycopg.Error):
        add(alice, "Alice likes tea", unit(1), agent_id="")
    rows = alice.execute("SELECT id::text, agent_id FROM memory.memories").fetchall()
    assert rows == [(first, None)]


def metadata_of(size_keys: int, prefix: str) -> str:
    return "{" + ", ".join(f'"{prefix}{i}": "{"v" * 20}"' for i in range(size_keys)) + "}"


def test_a_merge_that_would_exceed_the_metadata_bound_is_refused(db: Database, alice):
    # about 30 KB each: either fits the 64 KB bound alone, both together do not
    memory_id, _ = add(alice, "Alice likes tea", unit(1), metadata=metadata_of(1000, "a"))
    add(alice, "Alice likes tea", unit(1), metadata=metadata_of(1000, "b"))
    before = snapshot(db.url)
    with pytest.raises(psycopg.Error) as caught:
        add(alice, "Alice likes tea", unit(1), metadata=metadata_of(1000, "c"))
    assert caught.value.sqlstate == "22001"
    assert f"merged into memory {memory_id}" in str(caught.value)
    assert snapshot(db.url) == before


def test_a_merge_that_would_exceed_the_category_bound_is_refused(db: Database, alice):
    add(alice, "Alice likes tea", unit(1), categories=[f"a{i}" for i in range(60)])
    before = snapshot(db.url)
    with pytest.raises(psycopg.Error) as caught:
        add(alice, "Alice likes tea", unit(1), categories=[f"b{i}" for i in range(60)])
    assert caught.value.sqlstate == "22001"
    assert snapshot(db.url) == before


def test_eight_merges_of_many_new_keys_cannot_grow_a_memory_without_bound(db: Database, alice):
    memory_id, _ = add(alice, "Alice likes tea", unit(1))
    refused = 0
    for round_ in range(8):
        try:
            add(alice, "Alice likes tea", unit(1), metadata=metadata_of(400, f"r{round_}_"))
        except psycopg.errors.StringDataRightTruncation:
            refused += 1
    size = alice.execute(
        "SELECT octet_length(metadata::text) FROM memory.memories WHERE id = %s", (memory_id,)
    ).fetchone()
    assert size is not None and size[0] <= 65536
    assert refused > 0


def test_the_bounds_are_settings_an_operator_can_change(db: Database, alice):
    with owner(db.url) as conn:
        conn.execute("UPDATE memory.settings SET max_metadata_bytes = 100, max_categories = 2")
    with pytest.raises(psycopg.errors.StringDataRightTruncation):
        add(alice, "Alice likes tea", unit(1), metadata='{"note": "' + "x" * 100 + '"}')
    with pytest.raises(psycopg.errors.StringDataRightTruncation):
        add(alice, "Alice likes tea", unit(1), categories=["a", "b", "c"])
    assert add(alice, "Alice likes tea", unit(1), categories=["a", "b"])[1] == "ADD"
    with owner(db.url) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("UPDATE memory.settings SET max_memory_chars = 10001")  # the table's ceiling


def test_metadata_at_the_depth_bound_is_stored_and_read_back(alice):
    deep = '{"a":' * 20 + "1" + "}" * 20
    memory_id, _ = add(alice, "Alice likes tea", unit(1), metadata=deep)
    rows = alice.execute("SELECT * FROM memory.list_memories('alice')").fetchall()
    # psycopg decodes it (10,000 levels it could not)
    assert [str(r[0]) for r in rows] == [memory_id]


@pytest.mark.parametrize(
    ("text", "sqlstate"),
    [("word " * 200_000, "22001"), ("x" * 10_001, "22001"), ("", "22023")],
    ids=["megabyte of words", "one long word", "empty"],
)
def test_text_over_the_bound_gets_its_documented_code_never_54000(alice, text, sqlstate):
    memory_id, _ = add(alice, "Alice likes tea", unit(1))
    for call, args in (
        ("SELECT * FROM memory.add_memory('alice', %s, %s)", (text, unit(2))),
        ("SELECT * FROM memory.update_memory(%s, %s, %s)", (memory_id, text, unit(2))),
    ):
        with pytest.raises(psycopg.Error) as caught:
            alice.execute(call, args)
        assert caught.value.sqlstate == sqlstate, str(caught.value)
