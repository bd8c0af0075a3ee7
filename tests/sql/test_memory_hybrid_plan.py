"""Hybrid search costs what the user's memories cost, not what the table costs: on 60,000 memories
of 600 users, a user with 20 memories is answered without a sequential scan of memory.memories.

The plan shape does not depend on the dimension, so this database is installed at 8 dimensions
(60,000 rows load in a second); the statements are read from auto_explain, nested ones included.
"""

from __future__ import annotations

import numpy as np
import psycopg
import pytest
from pgvector.psycopg import register_vector

from helpers import Database, run_mempg
from runner.operations import bulk_load_memories
from vectors import nested_plans

USERS = 600
PER_USER = 100
SMALL = "small"
WORDS = [
    "tea",
    "coffee",
    "lisbon",
    "flight",
    "hotel",
    "peanut",
    "allergy",
    "seat",
    "aisle",
    "passport",
]


@pytest.fixture(scope="module")
def big_table(module_empty_db: Database) -> Database:
    applied = run_mempg("apply", "--embedding-dim", "8", url=module_empty_db.url)
    assert applied.returncode == 0, applied.stderr
    rng = np.random.default_rng(3)
    with psycopg.connect(module_empty_db.url, autocommit=True) as conn:
        register_vector(conn)
        with (
            bulk_load_memories(conn),
            conn.cursor().copy(
                "COPY memory.memories (user_id, memory, embedding) FROM STDIN WITH (FORMAT BINARY)"
            ) as copy,
        ):
            copy.set_types(["text", "text", "vector"])
            users = [f"user{u}" for u in range(USERS) for _ in range(PER_USER)] + [SMALL] * 20
            for i, user in enumerate(users):
                copy.write_row((user, f"{' '.join(rng.choice(WORDS, 4))} {i}", rng.normal(size=8)))
    return module_empty_db


def plans_of_hybrid(url: str, calls: int) -> str:
    return nested_plans(
        url,
        SMALL,
        "SELECT * FROM memory.hybrid_search_memories('tea with lisbon', %s, %s, 10)",
        (np.ones(8, dtype=np.float32), SMALL),
        calls,
    )


@pytest.mark.parametrize("calls", [1, 8], ids=["first call", "cached plans"])
def test_hybrid_search_of_a_small_user_reads_no_other_users_rows(big_table: Database, calls):
    plans = plans_of_hybrid(big_table.url, calls)
    assert "Function Scan on search_memories" in plans  # the nested plans were logged
    assert "Seq Scan on memories" not in plans, plans
    # the per-user term index serves the application's role too (0015: under RLS it could not)
    assert "memories_user_terms" in plans, plans
