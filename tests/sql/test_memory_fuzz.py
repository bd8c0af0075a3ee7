"""Property-based fuzzing of the memory API with hypothesis: hundreds of calls of add, update,
search, hybrid search, list, get and delete with random mixes of good and bad arguments.

For every call: it fails only with a SQLSTATE documented for that function (README, "Bad input"),
it changes no memory but the one it names (a refused call changes nothing at all), and it takes
under 2 seconds. The run is derandomised in CI (HYPOTHESIS_PROFILE=explore for a random one).
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.types.json import Jsonb

from helpers import Database
from vectors import DIM, connect_as, filled, owner, unit, vector_literal

settings.register_profile(
    "ci",
    max_examples=600,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile(
    "explore",
    max_examples=3000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# What pgvector's own input parser raises for a bad literal, before any function runs:
# 22000 NaN or infinity, 22003 a component out of float4 range, 22P02 malformed.
VECTOR_LITERAL = {"22000", "22003", "22P02"}
# ... and PostgreSQL's for a bad tstzrange literal (malformed, a bad timestamp, bounds reversed).
RANGE_LITERAL = {"22P02", "22007", "22008", "22000"}
# PGRST: a quota or rate limit refused the call (docs/memory.md, "Quotas and rate limits").
DOCUMENTED = {
    "add_memory": {"22004", "22023", "22001", "42501", "PGRST"} | VECTOR_LITERAL,
    "update_memory": {"22004", "22023", "22001", "P0002", "23505", "PGRST"} | VECTOR_LITERAL,
    "search_memories": {"22004", "22023", "22001", "PGRST"} | VECTOR_LITERAL | RANGE_LITERAL,
    "hybrid_search_memories": {"22004", "22023", "22001", "PGRST"} | VECTOR_LITERAL | RANGE_LITERAL,
    "text_search_memories": {"22004", "22023", "22001", "PGRST"} | RANGE_LITERAL,
    "list_memories": {"22004", "22023", "22001"},
    "get_memory": {"22004", "P0002"},
    "delete_memory": {"22004", "P0002", "PGRST"},
}


def one_hot(value: str) -> str:
    return vector_literal([value] + ["0"] * (DIM - 1))


# PostgreSQL text cannot hold NUL; psycopg refuses it before sending (not a server error).
CHARS = st.characters(exclude_characters="\x00", exclude_categories=("Cs",))
# Embeddings by name (short in hypothesis' reports), turned into vector literals at call time.
SPECIAL_VECTORS = {
    "zeros": filled("0"),
    "all 1e38": filled("1e38"),
    "all 1e-23": filled("1e-23"),
    "all 1e-45": filled("1e-45"),
    "all 1e19": filled("1e19"),
    "all 3e38": filled("3e38"),
    "one 1e-40": one_hot("1e-40"),
    "one 1e38": one_hot("1e38"),
    "3 dims": filled("1", 3),
    "dim + 1": filled("1", DIM + 1),
    "NaN": filled("NaN"),
    "Infinity": one_hot("Infinity"),
    "-Infinity": one_hot("-Infinity"),
    "1e39": filled("1e39"),
    "malformed": "[1,2",
    "empty": "[]",
    "text": "not a vector",
}
EMBEDDINGS = st.one_of(
    st.integers(0, 50).map(lambda seed: f"unit {seed}"),
    st.sampled_from([None, *SPECIAL_VECTORS]),
)


def vector_text(name: str | None) -> str | None:
    if name is None or not name.startswith("unit "):
        return None if name is None else SPECIAL_VECTORS[name]
    return vector_literal(unit(int(name.split()[1])))


TEXTS = st.one_of(
    st.text(CHARS, max_size=40),
    st.sampled_from(
        [
            None,
            "",
            "   ",
            "\t\n",
            "Alice is allergic to peanuts",  # a victim's text: duplicates
            "x" * 10_000,
            "x" * 10_001,
            "word " * 200_000,
            "ünïcödé " * 2000,
            "a-b " * 5000,
            "!!! & | <-> :* ()",
        ]
    ),
)
LABELS = st.one_of(
    st.text(CHARS, min_size=1, max_size=12),
    st.sampled_from([None, "", " ", "\t", "a" * 255, "a" * 256, "r" * 1_000_000, "agent-1", "bob"]),
)
METADATA = st.one_of(
    st.dictionaries(
        st.text(CHARS, max_size=8), st.integers() | st.text(CHARS, max_size=8), max_size=5
    ).map(Jsonb),
    st.sampled_from(
        [
            None,
            "{}",
            "[]",
            '"text"',
            "null",
            "3",
            '{"a":' * 20 + "1" + "}" * 20,
            '{"a":' * 21 + "1" + "}" * 21,
            '{"a":' * 10_000 + "1" + "}" * 10_000,
            "[" * 5000 + "]" * 5000,
            '{"v": "' + "x" * 1_000_000 + '"}',
            "{" + ",".join(f'"k{i}": {i}' for i in range(100_000)) + "}",
            '{"nested": {"list": [1, 2, {"deep": true}]}}',
        ]
    ),
)
CATEGORIES = st.one_of(
    st.lists(st.text(CHARS, max_size=10), max_size=5),
    st.sampled_from(
        [
            None,
            [],
            [None],
            ["", " "],
            [f"c{i}" for i in range(100)],
            [f"c{i}" for i in range(101)],
            ["c" * 100],
            ["c" * 101],
            ["c" * 1_000_000],
            ["Food", "food", " FOOD "],
        ]
    ),
)
TIMES = st.sampled_from([None, "2000-01-01", "2999-01-01", "infinity", "-infinity", "now", "epoch"])
WINDOWS = st.sampled_from(
    [
        None,
        "[2000-01-01,2999-01-01)",
        "empty",
        "(,)",
        "[2999-01-01,)",
        "(,1970-01-01]",
        "x",
        "[2,1]",
    ]
)
# Mem0-style filters: well-formed trees mixed with arbitrary JSON (docs/memory.md, "Filters").
FILTER_LEAF = st.dictionaries(
    st.sampled_from(["topic", "month", "agent_id", "created_at", "user_id", "categories", "x"]),
    st.one_of(
        st.integers(),
        st.text(CHARS, max_size=6),
        st.dictionaries(
            st.sampled_from(
                ["eq", "ne", "in", "nin", "gt", "lte", "contains", "icontains", "like"]
            ),
            st.one_of(
                st.integers(), st.text(CHARS, max_size=6), st.lists(st.integers(), max_size=2)
            ),
            min_size=1,
            max_size=2,
        ),
    ),
    min_size=1,
    max_size=2,
)
FILTERS = st.one_of(
    st.none(),
    st.recursive(
        FILTER_LEAF,
        lambda inner: st.dictionaries(
            st.sampled_from(["AND", "OR", "NOT"]), st.lists(inner, max_size=3) | inner, max_size=2
        ),
        max_leaves=5,
    ),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(CHARS, max_size=5),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.text(CHARS, max_size=4), inner, max_size=3)
        ),
        max_leaves=6,
    ),
).map(lambda value: None if value is None else Jsonb(value))
COUNTS = st.one_of(st.integers(-5, 1005), st.sampled_from([None, 0, 2**31 - 1, -(2**31)]))
FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([None, 0.0, 0.3, 1.0, -0.0, 1e308, 5e-324]),
)


def snapshot(url: str) -> dict[str, str]:
    with owner(url) as conn:
        rows = conn.execute("SELECT m.id::text, m::text FROM memory.memories AS m").fetchall()
        history = conn.execute(
            "SELECT 'h' || h.id, h.memory_id::text || ' ' || h::text FROM memory.memory_history AS h"
        ).fetchall()
    return dict(rows + history)


def changed_memories(before: dict[str, str], after: dict[str, str]) -> set[str]:
    """Ids of the memories whose row or history changed."""
    ids = set()
    for key in before.keys() | after.keys():
        if before.get(key) != after.get(key):
            row = after.get(key) or before.get(key) or ""
            ids.add(key if not key.startswith("h") else row.split(" ", 1)[0])
    return ids


@pytest.fixture
def world(db: Database) -> dict[str, str]:
    """Alice's three memories and Bob's two, which no call of Alice's may touch."""
    ids = {}
    for user, texts in (
        (
            "alice",
            [
                "Alice is allergic to peanuts",
                "Alice's passport is X1234567",
                "Alice sits by the aisle",
            ],
        ),
        ("bob", ["Bob likes jazz", "Bob flies to Oslo"]),
    ):
        with connect_as(db.url, user) as conn:
            for i, text in enumerate(texts):
                row = conn.execute(
                    "SELECT id::text FROM memory.add_memory(%s, %s, %s)",
                    (user, text, unit(100 + len(ids) + i)),
                ).fetchone()
                assert row is not None
                ids[text] = row[0]
    return ids


CALLS = {
    "add_memory": (
        "SELECT id::text FROM memory.add_memory(%(user_id)s, %(memory)s, %(embedding)s::vector,"
        " %(metadata)s::jsonb, %(categories)s::text[], %(agent_id)s, %(run_id)s, %(memory_type)s,"
        " %(expires_at)s::timestamptz)"
    ),
    "update_memory": (
        "SELECT memory_id::text FROM memory.update_memory(%(id)s::uuid, %(memory)s,"
        " %(embedding)s::vector, %(metadata)s::jsonb, %(categories)s::text[])"
    ),
    "search_memories": (
        "SELECT id::text FROM memory.search_memories(%(embedding)s::vector, %(user_id)s, %(count)s,"
        " %(metadata)s::jsonb, %(categories)s::text[], %(threshold)s, %(agent_id)s, %(run_id)s,"
        " %(filters)s::jsonb, %(window)s::tstzrange, %(window_b)s::tstzrange)"
    ),
    "hybrid_search_memories": (
        "SELECT id::text FROM memory.hybrid_search_memories(%(memory)s, %(embedding)s::vector,"
        " %(user_id)s, %(count)s, %(metadata)s::jsonb, %(categories)s::text[], %(weight_a)s,"
        " %(weight_b)s, %(count_b)s, %(agent_id)s, %(run_id)s, %(filters)s::jsonb,"
        " %(window)s::tstzrange, %(window_b)s::tstzrange, %(fusion)s, %(depth)s)"
    ),
    "text_search_memories": (
        "SELECT id::text FROM memory.text_search_memories(%(memory)s, %(user_id)s, %(count)s,"
        " %(metadata)s::jsonb, %(categories)s::text[], %(agent_id)s, %(run_id)s,"
        " %(filters)s::jsonb, %(window)s::tstzrange, %(window_b)s::tstzrange)"
    ),
    "list_memories": (
        "SELECT id::text FROM memory.list_memories(%(user_id)s, %(agent_id)s, %(run_id)s,"
        " %(expires_at)s::timestamptz, %(maybe_id)s::uuid, %(count)s)"
    ),
    "get_memory": "SELECT id::text FROM memory.get_memory(%(id)s::uuid)",
    "delete_memory": "SELECT memory_id::text FROM memory.delete_memory(%(id)s::uuid)",
}
WRITES = {"add_memory", "update_memory", "delete_memory"}


def call_args(world_ids: list[str]) -> st.SearchStrategy[dict]:
    """Good arguments with one to three of them replaced by random, mostly bad, values."""
    ids = st.sampled_from([*world_ids, None, str(uuid.UUID(int=0))]) | st.uuids().map(str)
    randomised = {
        "user_id": LABELS,
        "memory": TEXTS,
        "embedding": EMBEDDINGS,
        "metadata": METADATA,
        "categories": CATEGORIES,
        "agent_id": LABELS,
        "run_id": LABELS,
        "memory_type": LABELS,
        "expires_at": TIMES,
        "id": ids,
        "maybe_id": ids,
        "count": COUNTS,
        "count_b": COUNTS,
        "threshold": FLOATS,
        "weight_a": FLOATS,
        "weight_b": FLOATS,
        "filters": FILTERS,
        "window": WINDOWS,
        "window_b": WINDOWS,
        "fusion": st.sampled_from([None, "", "rrf", "weighted", "RRF", "max"]),
        "depth": COUNTS,
    }

    @st.composite
    def build(draw: st.DrawFn) -> dict:
        args = {
            "user_id": "alice",
            "memory": draw(
                st.sampled_from(
                    ["Alice likes tea", "Alice is allergic to peanuts", "Alice owns a red car"]
                )
            ),
            "embedding": f"unit {draw(st.integers(0, 50))}",
            "metadata": "{}",
            "categories": [],
            "agent_id": None,
            "run_id": None,
            "memory_type": None,
            "expires_at": None,
            "id": draw(st.sampled_from(world_ids)),
            "maybe_id": None,
            "count": 5,
            "count_b": 60,
            "threshold": 0.3,
            "weight_a": 1.0,
            "weight_b": 1.0,
            "filters": None,
            "window": None,
            "window_b": None,
            "fusion": "rrf",
            "depth": 20,
        }
        for name in draw(st.sets(st.sampled_from(sorted(randomised)), min_size=1, max_size=3)):
            args[name] = draw(randomised[name])
        return args

    return build()


def test_random_bad_arguments_get_documented_errors_and_change_nothing_else(
    db: Database, world: dict[str, str]
):
    alice = connect_as(db.url, "alice")
    bob_ids = {world["Bob likes jazz"], world["Bob flies to Oslo"]}
    seen: dict[str, int] = {}

    @given(function=st.sampled_from(sorted(CALLS)), args=call_args(list(world.values())))
    def one_call(function: str, args: dict) -> None:
        before = snapshot(db.url)
        started = time.monotonic()
        try:
            rows = alice.execute(
                CALLS[function], {**args, "embedding": vector_text(args["embedding"])}
            ).fetchall()
            outcome = "ok"
        except psycopg.Error as exc:
            rows, outcome = [], exc.sqlstate or "no sqlstate"
            assert outcome in DOCUMENTED[function], f"{function}: {outcome} {exc}"
        elapsed = time.monotonic() - started
        assert elapsed < 2, f"{function} took {elapsed:.2f} s"
        seen[f"{function} {outcome}"] = seen.get(f"{function} {outcome}", 0) + 1
        changed = changed_memories(before, snapshot(db.url))
        if outcome != "ok" or function not in WRITES:
            assert changed == set(), f"{function} ({outcome}) changed {changed}"
        else:
            assert changed <= {r[0] for r in rows}, f"{function} changed {changed}, named {rows}"
        assert not changed & bob_ids
        if function == "delete_memory" and outcome == "ok":  # keep the world for the next calls
            with contextlib.suppress(psycopg.errors.UniqueViolation):  # its text was added anew
                alice.execute("SELECT memory.restore_memory(%s)", (args["id"],))

    try:
        one_call()
    finally:
        alice.close()
    print(sorted(seen.items()))
    assert sum(seen.values()) >= 500
    # the fuzzing reached both sides: refusals and successes of the writes
    assert any(k.startswith("add_memory ") and not k.endswith(" ok") for k in seen)
    assert "add_memory ok" in seen
