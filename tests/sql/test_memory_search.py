"""search_memories and hybrid_search_memories: results, filters, bad input, recall and plans."""

from __future__ import annotations

import re

import numpy as np
import psycopg
import pytest

from helpers import Database
from runner.operations import bulk_load_memories
from vectors import (
    DIM,
    EMBEDDING_TYPE,
    add_memory,
    as_stored,
    clustered,
    connect_as,
    nested_plans,
    owner,
    unit,
    vector_literal,
    with_similarity,
)

ALICE = "alice"


def add(conn, text, embedding, **kwargs) -> str:
    return add_memory(conn, text, embedding, ALICE, **kwargs)[0]


def search(conn, query, *args, **kwargs) -> list[tuple[str, float]]:
    params = "".join(f", {k} => %({k})s" for k in kwargs)
    rows = conn.execute(
        f"SELECT memory, similarity FROM memory.search_memories(%(q)s, %(u)s{params})",
        {"q": query, "u": ALICE, **kwargs},
    ).fetchall()
    return [(m, round(s, 4)) for m, s in rows]


def test_results_come_best_first_above_the_threshold(alice):
    base = unit(1)
    for similarity, text in [(0.5, "half"), (0.9, "close"), (0.2, "far"), (0.7, "middle")]:
        add(alice, text, with_similarity(base, similarity, seed=int(similarity * 10)))
    assert search(alice, base) == [("close", 0.9), ("middle", 0.7), ("half", 0.5)]
    assert search(alice, base, match_count=2) == [("close", 0.9), ("middle", 0.7)]
    assert [m for m, _ in search(alice, base, similarity_threshold=0.0)] == [
        "close",
        "middle",
        "half",
        "far",
    ]


def test_deleted_and_expired_memories_are_not_found(db: Database, alice):
    base = unit(1)
    gone = add(alice, "deleted", with_similarity(base, 0.9, seed=1))
    add(alice, "expiring", with_similarity(base, 0.8, seed=2), expires_at="2999-01-01")
    add(alice, "kept", with_similarity(base, 0.7, seed=3))
    alice.execute("SELECT memory.delete_memory(%s)", (gone,))
    with owner(db.url) as admin:
        admin.execute(
            "UPDATE memory.memories SET expires_at = now() - interval '1 second' WHERE memory = 'expiring'"
        )
    assert [m for m, _ in search(alice, base)] == ["kept"]
    # one definition of live (memory.is_live) for every reader: hybrid search, list and get too
    hybrid = alice.execute(
        "SELECT memory FROM memory.hybrid_search_memories('deleted expiring kept', %s, 'alice')",
        (base,),
    ).fetchall()
    assert hybrid == [("kept",)]
    listed = alice.execute("SELECT memory FROM memory.list_memories('alice')").fetchall()
    assert listed == [("kept",)]
    expired = alice.execute("SELECT id FROM memory.memories WHERE memory = 'expiring'").fetchone()
    assert expired is not None
    with pytest.raises(psycopg.errors.NoDataFound):
        alice.execute("SELECT * FROM memory.get_memory(%s)", (expired[0],))


def test_metadata_and_category_filters(alice):
    base = unit(1)
    add(
        alice,
        "trip",
        with_similarity(base, 0.9, seed=1),
        metadata='{"topic": "travel", "year": 2026}',
        categories=["Plans"],
    )
    add(
        alice,
        "food",
        with_similarity(base, 0.8, seed=2),
        metadata='{"topic": "food"}',
        categories=["diet"],
    )
    assert [m for m, _ in search(alice, base, metadata_filter='{"topic": "travel"}')] == ["trip"]
    assert [m for m, _ in search(alice, base, metadata_filter='{"year": 2026}')] == ["trip"]
    assert [m for m, _ in search(alice, base, category_filter=[" DIET", "none"])] == ["food"]
    assert search(alice, base, metadata_filter='{"topic": "food"}', category_filter=["plans"]) == []
    assert len(search(alice, base, metadata_filter="{}", category_filter=[])) == 2


def test_another_users_memories_are_not_found(db: Database, alice):
    add(alice, "alice's secret", unit(1))
    with connect_as(db.url, "bob") as bob:
        rows = bob.execute(
            "SELECT * FROM memory.search_memories(%s, 'alice')", (unit(1),)
        ).fetchall()
        assert rows == []


GOOD = {
    "q": vector_literal(["0.5"] * DIM),
    "u": ALICE,
    "n": 5,
    "meta": "{}",
    "cats": "{}",
    "th": 0.3,
}
SEARCH_BAD_INPUT = [
    ("query NULL", {"q": None}, "22004"),
    ("user NULL", {"u": None}, "22004"),
    ("wrong dimension", {"q": vector_literal(["1", "2"])}, "22023"),
    ("NaN", {"q": vector_literal(["NaN"] * DIM)}, "22000"),
    ("zero query", {"q": vector_literal(["0"] * DIM)}, "22023"),
    ("match_count 0", {"n": 0}, "22023"),
    ("match_count negative", {"n": -5}, "22023"),
    ("match_count 1001", {"n": 1001}, "22023"),
    ("match_count NULL", {"n": None}, "22023"),
    ("threshold below 0", {"th": -0.1}, "22023"),
    ("threshold above 1", {"th": 1.5}, "22023"),
    ("threshold NaN", {"th": float("nan")}, "22023"),
    ("threshold NULL", {"th": None}, "22023"),
    ("metadata filter array", {"meta": "[]"}, "22023"),
    ("metadata filter NULL", {"meta": None}, "22023"),
    ("category filter NULL", {"cats": None}, "22004"),
]


@pytest.mark.parametrize(
    ("case", "override", "sqlstate"), SEARCH_BAD_INPUT, ids=[c[0] for c in SEARCH_BAD_INPUT]
)
def test_search_refuses_bad_input(alice, case, override, sqlstate):
    with pytest.raises(psycopg.Error) as caught:
        alice.execute(
            "SELECT * FROM memory.search_memories(%(q)s::vector, %(u)s, %(n)s, %(meta)s::jsonb,"
            " %(cats)s::text[], %(th)s)",
            {**GOOD, **override},
        )
    assert caught.value.sqlstate == sqlstate, str(caught.value)


# ------------------------------------------------------------------ hybrid search
def hybrid(conn, text, query, **kwargs) -> list[tuple]:
    params = "".join(f", {k} => %({k})s" for k in kwargs)
    return conn.execute(
        "SELECT memory, full_text_rank, semantic_rank, score, similarity"
        f" FROM memory.hybrid_search_memories(%(t)s, %(q)s, %(u)s{params})",
        {"t": text, "q": query, "u": ALICE, **kwargs},
    ).fetchall()


def test_hybrid_search_fuses_full_text_and_vector_ranks(alice):
    base = unit(1)
    add(alice, "Alice flies to Lisbon in May", with_similarity(base, -0.3, seed=1))  # text only
    add(alice, "Alice likes green tea", with_similarity(base, 0.9, seed=2))
    add(
        alice,
        "Alice booked a hotel in Lisbon near the tea house",
        with_similarity(base, 0.6, seed=3),
    )
    rows = hybrid(alice, "Lisbon", base)
    by_text = {r[0]: r for r in rows}
    both = by_text["Alice booked a hotel in Lisbon near the tea house"]
    assert both[1] is not None and both[2] is not None
    assert both[3] == pytest.approx(1 / (10 + both[1]) + 1 / (10 + both[2]))
    assert rows[0][0] == "Alice booked a hotel in Lisbon near the tea house"  # found by both
    text_only = by_text["Alice flies to Lisbon in May"]
    assert text_only[1] is not None and text_only[2] is None
    assert text_only[3] == pytest.approx(1 / (10 + text_only[1]))
    assert [r[3] for r in rows] == sorted((r[3] for r in rows), reverse=True)
    tea_only = by_text["Alice likes green tea"]
    assert tea_only[1] is None and tea_only[2] == 1
    assert tea_only[4] == pytest.approx(0.9, abs=1e-4)


def test_hybrid_weights_and_rrf_k_shape_the_score(alice):
    base = unit(1)
    add(alice, "Lisbon trip", with_similarity(base, 0.1, seed=1))
    add(alice, "green tea", with_similarity(base, 0.9, seed=2))
    text_first = hybrid(alice, "Lisbon", base, full_text_weight=1.0, semantic_weight=0.0)
    assert text_first[0][0] == "Lisbon trip"
    vector_first = hybrid(alice, "Lisbon", base, full_text_weight=0.0, semantic_weight=1.0)
    assert vector_first[0][0] == "green tea"
    [row] = [r for r in hybrid(alice, "Lisbon", base, rrf_k=1) if r[0] == "green tea"]
    assert row[3] == pytest.approx(1 / (1 + 1))


HYBRID_BAD_INPUT = [
    ("text NULL", {"t": None}, "22004"),
    ("text blank", {"t": "   "}, "22023"),
    ("text oversized", {"t": "x" * 10_001}, "22001"),
    ("match_count 0", {"n": 0}, "22023"),
    ("negative weight", {"fw": -1.0}, "22023"),
    ("both weights 0", {"fw": 0.0, "sw": 0.0}, "22023"),
    ("NaN weight", {"sw": float("nan")}, "22023"),
    ("rrf_k 0", {"k": 0}, "22023"),
    ("wrong dimension", {"q": vector_literal(["1"])}, "22023"),
    ("metadata filter scalar", {"meta": "3"}, "22023"),
]


@pytest.mark.parametrize(
    ("case", "override", "sqlstate"), HYBRID_BAD_INPUT, ids=[c[0] for c in HYBRID_BAD_INPUT]
)
def test_hybrid_search_refuses_bad_input(alice, case, override, sqlstate):
    args = {
        "t": "tea",
        "q": vector_literal(["0.5"] * DIM),
        "u": ALICE,
        "n": 10,
        "meta": "{}",
        "cats": "{}",
        "fw": 1.0,
        "sw": 1.0,
        "k": 60,
        **override,
    }
    with pytest.raises(psycopg.Error) as caught:
        alice.execute(
            "SELECT * FROM memory.hybrid_search_memories(%(t)s, %(q)s::vector, %(u)s, %(n)s, %(meta)s::jsonb,"
            " %(cats)s::text[], %(fw)s, %(sw)s, %(k)s)",
            args,
        )
    assert caught.value.sqlstate == sqlstate, str(caught.value)


# ------------------------------------------------------- recall and plans at scale
LIGHT_USERS = [f"light{i:02d}" for i in range(40)]
LIGHT_SIZE = 40
HEAVY_USERS = ["heavy0", "heavy1"]
HEAVY_SIZE = 6000  # above the default exact_search_max_rows (3000): the HNSW path
CENTRES = np.random.default_rng(7).normal(size=(30, DIM)).astype(np.float32)


@pytest.fixture(scope="module")
def loaded(module_db: Database) -> dict[str, np.ndarray]:
    """Clustered 1536-dim memories: 40 light users, 2 heavy users, and an empty user."""
    vectors: dict[str, np.ndarray] = {}
    for index, user in enumerate(LIGHT_USERS + HEAVY_USERS):
        size = HEAVY_SIZE if user in HEAVY_USERS else LIGHT_SIZE
        vectors[user] = clustered(size, CENTRES, spread=0.8, seed=100 + index)
    with (
        owner(module_db.url) as conn,
        bulk_load_memories(conn),
        conn.cursor().copy(
            "COPY memory.memories (user_id, memory, embedding) FROM STDIN WITH (FORMAT BINARY)"
        ) as copy,
    ):
        copy.set_types(["text", "text", EMBEDDING_TYPE])
        for user, rows in vectors.items():
            for i, row in enumerate(rows):
                copy.write_row((user, f"memory {i} of {user}", row))
    return vectors


def exact_top(vectors: np.ndarray, query: np.ndarray, k: int = 10) -> list[int]:
    vectors, query = as_stored(vectors), as_stored(query)
    sims = vectors @ query / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(query))
    return [int(i) for i in np.argsort(-sims)[:k]]


@pytest.mark.parametrize("users", [LIGHT_USERS[:10], HEAVY_USERS], ids=["light", "heavy"])
def test_search_returns_the_exact_top_10_for_light_and_heavy_users(
    module_db: Database, loaded, users
):
    queries = clustered(10, CENTRES, spread=0.8, seed=999)
    misses = []
    for user in users:
        with connect_as(module_db.url, user) as conn:
            for q in queries:
                rows = conn.execute(
                    "SELECT memory FROM memory.search_memories(%s, %s, 10, '{}', '{}', 0)",
                    (q, user),
                ).fetchall()
                got = [int(r[0].split()[1]) for r in rows]
                expected = exact_top(loaded[user], q)
                if got != expected:
                    misses.append((user, len(set(got) & set(expected))))
    assert misses == []


def test_the_empty_user_gets_nothing(module_db: Database, loaded):
    with connect_as(module_db.url, "nobody") as conn:
        rows = conn.execute(
            "SELECT * FROM memory.search_memories(%s, 'nobody', 10, '{}', '{}', 0)", (unit(3),)
        ).fetchall()
    assert rows == []


def plans_of_search(url: str, user: str, query: np.ndarray, calls: int = 1) -> str:
    return nested_plans(
        url,
        user,
        "SELECT * FROM memory.search_memories(%s, %s, 10, '{}', '{}', 0)",
        (query, user),
        calls,
    )


@pytest.mark.parametrize("calls", [1, 8], ids=["first call", "cached plans"])
def test_light_users_are_searched_exactly_through_the_user_index(
    module_db: Database, loaded, calls
):
    plans = plans_of_search(module_db.url, LIGHT_USERS[0], unit(5), calls)
    assert re.search(
        r"(Index Scan using|Bitmap Index Scan on) memories_user_(created|updated)", plans
    )
    assert "memories_embedding_ann" not in plans


@pytest.mark.parametrize("calls", [1, 8], ids=["first call", "cached plans"])
def test_heavy_users_are_searched_through_the_hnsw_index(module_db: Database, loaded, calls):
    plans = plans_of_search(module_db.url, HEAVY_USERS[0], unit(5), calls)
    assert "Index Scan using memories_embedding_ann" in plans
    # the routing count reads the btree alone, never the heavy user's rows from the heap
    assert re.search(r"Index Only Scan using memories_user_(created|updated)", plans)


# ------------------------------------------------- the HNSW scan follows the user's share (0018)
def test_the_scan_settings_follow_the_users_share(module_db: Database, loaded):
    """6 x needed / share entries for the first pass (between hnsw_ef_search and twice that), 4 x
    needed / share for the walk (at least hnsw_max_scan_tuples, at most the table's rows); an
    unknown share keeps the settings."""
    with owner(module_db.url) as conn:
        conn.execute("ANALYZE memory.memories")
        table = conn.execute(
            "SELECT reltuples::integer FROM pg_class WHERE oid = 'memory.memories'::regclass"
        ).fetchone()[0]

        def scan(share, needed=30):
            return conn.execute(
                "SELECT * FROM memory.ann_scan_settings(%s, %s)", (share, needed)
            ).fetchone()

        assert scan(0.5) == (360, 20000)  # half the table
        assert scan(1.0) == (200, 20000)  # never below the setting
        assert scan(0.02) == (400, 20000)  # twice the setting at most
        for unknown in (None, 0, 1.5, float("nan"), -0.1):
            assert scan(unknown) == (200, 20000)
        assert scan(0.5, None) == scan(0.5, 0) == (200, 20000)
        assert scan(1e-300, 600_000_000) == (400, max(20000, table))  # numeric: no overflow
        conn.execute("UPDATE memory.settings SET hnsw_max_scan_tuples = 1000")
        try:
            assert scan(0.01) == (400, 12000)  # a long walk for a small share
            assert scan(2**-12) == (400, table)  # at most the table's rows
        finally:
            conn.execute("UPDATE memory.settings SET hnsw_max_scan_tuples = 20000")
        share = conn.execute("SELECT memory.user_share(%s)", (HEAVY_USERS[0],)).fetchone()[0]
        assert share == pytest.approx(HEAVY_SIZE / table, rel=0.01)
    with connect_as(module_db.url, HEAVY_USERS[0]) as heavy:
        assert heavy.execute(
            "SELECT memory.user_share(%s) > 0.4, memory.user_share(%s)",
            (HEAVY_USERS[0], HEAVY_USERS[1]),
        ).fetchone() == (True, 0)  # row-level security: another user's count is not the caller's


def test_the_relaxed_order_of_the_hnsw_scan_is_re_sorted(module_db: Database, loaded):
    """0018: the CTE's ORDER BY made the planner take its rows as sorted; `distance + 0` sorts them."""
    plans = plans_of_search(module_db.url, HEAVY_USERS[0], unit(5))
    assert "Index Scan using memories_embedding_ann" in plans
    assert re.search(r"Sort Key: \(\(c\.distance \+ '0'::double precision\)\)", plans), plans
