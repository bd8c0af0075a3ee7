"""Per-user HNSW indexes (0022): who gets one, `mempg maintain` building and dropping them, the
HNSW path taking a user's own index, and the rest of the routing left as it was."""

from __future__ import annotations

import json
import re

import numpy as np
import psycopg
import pytest

from helpers import Database, run_mempg
from runner.operations import bulk_load_memories
from vectors import DIM, EMBEDDING_TYPE, clustered, connect_as, nested_plans, owner

BIG, SMALLER = "heavy_big", "heavy_smaller"  # 4,200 and 3,600 memories: above the exact bound
LIGHT = [f"light{i:02d}" for i in range(30)]  # 40 memories each
SIZES = {BIG: 4200, SMALLER: 3600, **dict.fromkeys(LIGHT, 40)}
CENTRES = np.random.default_rng(11).normal(size=(30, DIM)).astype(np.float32)


@pytest.fixture(scope="module")
def loaded(module_db: Database) -> dict[str, np.ndarray]:
    vectors = {
        user: clustered(size, CENTRES, spread=0.8, seed=300 + i)
        for i, (user, size) in enumerate(SIZES.items())
    }
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


@pytest.fixture
def settings(module_db: Database, loaded):
    """memory.settings for this test: the bounds sized to the data; put back afterwards."""
    conn = owner(module_db.url)
    before = conn.execute("SELECT to_jsonb(s) FROM memory.settings AS s").fetchone()[0]

    def change(**values: object) -> None:
        assignments = ", ".join(f"{name} = %({name})s" for name in values)
        conn.execute(f"UPDATE memory.settings SET {assignments}", values)

    change(user_index_min_memories=3500, user_index_max_share=0.6, user_index_max_count=1)
    yield change
    conn.execute(
        "UPDATE memory.settings SET user_index_min_memories = %s, user_index_max_share = %s,"
        " user_index_max_count = %s, user_index_ef_search = %s, exact_search_max_share = %s",
        tuple(
            before[k]
            for k in (
                "user_index_min_memories",
                "user_index_max_share",
                "user_index_max_count",
                "user_index_ef_search",
                "exact_search_max_share",
            )
        ),
    )
    for (name,) in conn.execute(
        "SELECT indexrelid::regclass::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
        " WHERE indrelid = 'memory.memories'::regclass AND c.relname LIKE 'memories\\_ann\\_user\\_%'"
    ).fetchall():
        conn.execute(f"DROP INDEX {name}")
    conn.close()


def plan(url: str) -> list[tuple[str, str | None, str, str]]:
    with owner(url) as conn:
        conn.execute("ANALYZE memory.memories")
        return conn.execute("SELECT * FROM memory.user_index_plan()").fetchall()


def index_name(url: str, user: str) -> str:
    with owner(url) as conn:
        return conn.execute("SELECT memory.user_index_name(%s)", (user,)).fetchone()[0]


def has_index(url: str, user: str) -> bool:
    with owner(url) as conn:
        return conn.execute("SELECT memory.has_user_index(%s)", (user,)).fetchone()[0]


def maintain(url: str) -> dict:
    result = run_mempg("maintain", "--json", url=url)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_plan_builds_the_largest_qualifying_user_an_index_like_the_shared_one(
    module_db: Database, settings
):
    steps = plan(module_db.url)
    assert [(action, user) for action, user, _name, _sql in steps] == [("create", BIG)]
    _action, _user, name, statement = steps[0]
    assert name == index_name(module_db.url, BIG) and re.fullmatch(
        r"memories_ann_user_[0-9a-f]{16}", name
    )
    with owner(module_db.url) as conn:
        shared = conn.execute(
            "SELECT pg_get_indexdef('memory.memories_embedding_ann'::regclass)"
        ).fetchone()[0]
    using = shared[shared.index("USING") :]
    assert statement == (
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON memory.memories {using}"
        f" AND user_id = '{BIG}'"
    )
    settings(user_index_max_count=2)  # SMALLER (3,600) is above the 3,500 minimum too
    assert sorted(user for _a, user, _n, _s in plan(module_db.url)) == sorted([BIG, SMALLER])
    settings(user_index_max_share=0.2)  # BIG holds 4,200 / 9,000 of the rows: too large a share
    assert plan(module_db.url) == []
    settings(user_index_max_count=0)
    assert plan(module_db.url) == []


def test_maintain_builds_it_and_search_takes_the_users_own_index(module_db: Database, settings):
    report = maintain(module_db.url)
    name = index_name(module_db.url, BIG)
    assert report["user_indexes"] == [{"action": "create", "user_id": BIG, "index": name}]
    assert has_index(module_db.url, BIG) and not has_index(module_db.url, SMALLER)
    assert maintain(module_db.url)["user_indexes"] == []  # nothing left to do
    verified = run_mempg("verify", url=module_db.url)  # data, not schema: not a difference
    assert verified.returncode == 0, verified.stdout + verified.stderr
    query = clustered(1, CENTRES, spread=0.8, seed=5)[0]
    statement = "SELECT * FROM memory.search_memories(%s, %s, 10, '{}', '{}', 0)"
    own = nested_plans(module_db.url, BIG, statement, (query, BIG))
    assert f"Index Scan using {name}" in own
    assert "memories_user_" not in own  # no routing count: the user's own index decides
    shared = nested_plans(module_db.url, SMALLER, statement, (query, SMALLER))
    assert "Index Scan using memories_embedding_ann" in shared and name not in shared
    light = nested_plans(module_db.url, LIGHT[0], statement, (query, LIGHT[0]))
    assert "memories_embedding_ann" not in light and name not in light
    # a filtered search counts the user's matching rows as before (exact for a small match)
    filtered = nested_plans(
        module_db.url,
        BIG,
        "SELECT * FROM memory.search_memories(%s, %s, 10, '{\"k\": 1}', '{}', 0)",
        (query, BIG),
    )
    assert name not in filtered and "memories_user_" in filtered


def test_search_through_the_users_own_index_returns_the_exact_top_10(
    module_db: Database, loaded, settings
):
    settings(user_index_ef_search=40)
    maintain(module_db.url)
    assert has_index(module_db.url, BIG)
    queries = clustered(20, CENTRES, spread=0.8, seed=77)
    found = []
    with connect_as(module_db.url, BIG) as conn:
        for q in queries:
            rows = conn.execute(
                "SELECT memory FROM memory.search_memories(%s, %s, 10, '{}', '{}', 0)", (q, BIG)
            ).fetchall()
            got = [int(r[0].split()[1]) for r in rows]
            sims = loaded[BIG] @ q
            expected = [int(i) for i in np.argsort(-sims)[:10]]
            found.append(len(set(got) & set(expected)) / 10)
    assert np.mean(found) >= 0.99, found


def test_the_first_pass_grows_with_the_log_of_the_users_graph(module_db: Database, settings):
    """ef x (1 + 1.5 log10(rows / user_index_min_memories)), at least ef, at most 1,000."""

    def ef(user: str) -> int:
        with owner(module_db.url) as conn:
            return conn.execute("SELECT memory.user_index_ef_search(%s)", (user,)).fetchone()[0]

    settings(user_index_ef_search=40)
    assert ef(BIG) == 45  # 4,200 rows against a minimum of 3,500: ceil(40 x 1.119)
    assert ef(LIGHT[0]) == ef("nobody") == 40  # never below the setting
    settings(user_index_min_memories=420)
    assert ef(BIG) == 100  # ten times the minimum
    settings(user_index_min_memories=1, user_index_ef_search=1000)
    assert ef(BIG) == 1000  # pgvector's bound


def test_a_user_keeps_the_index_near_the_bound_and_loses_it_well_below(
    module_db: Database, settings
):
    maintain(module_db.url)
    name = index_name(module_db.url, BIG)
    settings(user_index_min_memories=8000)  # BIG's 4,200 is above half of it: kept
    assert plan(module_db.url) == []
    settings(user_index_min_memories=9000)  # below half: dropped
    assert plan(module_db.url) == [
        ("drop", None, name, f"DROP INDEX CONCURRENTLY IF EXISTS memory.{name}")
    ]
    report = maintain(module_db.url)
    assert report["user_indexes"] == [{"action": "drop", "user_id": None, "index": name}]
    assert not has_index(module_db.url, BIG)


def test_an_invalid_index_from_a_failed_build_is_dropped_and_built_again(
    module_db: Database, settings
):
    maintain(module_db.url)
    name = index_name(module_db.url, BIG)
    with owner(module_db.url) as conn:  # what a CREATE INDEX CONCURRENTLY that failed leaves
        conn.execute(
            "UPDATE pg_index SET indisvalid = false WHERE indexrelid = %s::regclass",
            (f"memory.{name}",),
        )
    assert not has_index(module_db.url, BIG)
    assert [(a, n) for a, _u, n, _s in plan(module_db.url)] == [("drop", name), ("create", name)]
    maintain(module_db.url)
    assert has_index(module_db.url, BIG)


def test_a_users_own_index_is_not_the_shared_index(module_db: Database, settings):
    """Without the shared index, everyone else is searched exactly; the indexed user keeps theirs."""
    maintain(module_db.url)
    with owner(module_db.url) as conn, conn.transaction(force_rollback=True):
        conn.execute("DROP INDEX memory.memories_embedding_ann")
        assert conn.execute(
            "SELECT memory.has_ann_index(), memory.takes_exact_path(%s, '{}', '{}'),"
            " memory.takes_exact_path(%s, '{}', '{}')",
            (BIG, SMALLER),
        ).fetchone() == (False, False, True)
        # no shared definition to copy: nothing to build (SMALLER qualifies with two allowed)
        conn.execute("UPDATE memory.settings SET user_index_max_count = 2")
        assert conn.execute("SELECT count(*) FROM memory.user_index_plan()").fetchone() == (0,)


def test_a_small_share_of_the_table_is_searched_exactly_unless_the_user_has_an_index(
    module_db: Database, settings
):
    """exact_search_max_share: SMALLER holds 3,600 of 9,000 rows (40%), BIG 4,200 (47%)."""
    maintain(module_db.url)  # BIG's own index

    def exact(user: str) -> bool:
        with owner(module_db.url) as conn:
            return conn.execute(
                "SELECT memory.takes_exact_path(%s, '{}', '{}')", (user,)
            ).fetchone()[0]

    assert (exact(BIG), exact(SMALLER), exact(LIGHT[0])) == (False, False, True)
    settings(exact_search_max_share=0.45)
    assert (exact(BIG), exact(SMALLER)) == (False, True)
    query = clustered(1, CENTRES, spread=0.8, seed=6)[0]
    plans = nested_plans(
        module_db.url,
        SMALLER,
        "SELECT * FROM memory.search_memories(%s, %s, 10, '{}', '{}', 0)",
        (query, SMALLER),
    )
    assert "memories_embedding_ann" not in plans and "memories_user_" in plans


def test_the_plan_is_for_the_service_role_and_the_settings_are_checked(
    module_db: Database, settings
):
    with connect_as(module_db.url, BIG) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM memory.user_index_plan()")
        assert conn.execute("SELECT memory.has_user_index(%s)", (BIG,)).fetchone() == (False,)
    with owner(module_db.url) as conn:
        for column, value in [
            ("user_index_min_memories", 0),
            ("user_index_max_share", 0),
            ("user_index_max_share", 1.5),
            ("user_index_max_count", -1),
            ("user_index_max_count", 1001),
            ("user_index_ef_search", 0),
            ("exact_search_max_share", -0.1),
            ("exact_search_max_share", 1.1),
        ]:
            with pytest.raises(psycopg.errors.CheckViolation) as caught:
                conn.execute(f"UPDATE memory.settings SET {column} = %s", (value,))
            assert column in caught.value.diag.constraint_name
