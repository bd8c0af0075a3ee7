"""The systems measured side by side, each a function (connection, user, query) -> ids returned.

mempg's own search as an application user (row-level security) and as service_role; exact search
on the same filters (the recall reference and the correctness floor); and Mem0's and LangChain's
pgvector stores holding the same vectors: driven through their packages when installed (see
bench/peers.py), else the SQL they send, re-created from their source
(mem0/vector_stores/pgvector.py; langchain-postgres' PGVector v1 with a jsonb_path_match filter).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg

from bench.peers import LANGCHAIN_COLLECTION_NAME

Search = Callable[[psycopg.Connection, str, np.ndarray], list[str]]


@dataclass(frozen=True)
class System:
    name: str
    role: str  # the session role: authenticated sets app.user_id per query (untimed)
    search: Search
    plan_sql: str | None  # the statement to EXPLAIN, or None when auto_explain captures it
    plan_params: Callable[[str, np.ndarray], tuple] | None = None
    driver: str = "SQL"


def _ids(conn: psycopg.Connection, query: str, params: tuple) -> list[str]:
    return [str(row[0]) for row in conn.execute(query, params).fetchall()]


MEMPG = "SELECT id FROM memory.search_memories(%s, %s, 10, '{}', '{}', 0)"
EXACT = "SELECT id FROM memory.search_memories_exact(%s, %s, 10, '{}', '{}', 0)"
MEM0 = (
    "SELECT id, vector <=> %s::vector AS distance, payload FROM bench.mem0_memories"
    " WHERE payload->>'user_id' = %s ORDER BY distance LIMIT 10"
)
LANGCHAIN = (
    "SELECT id FROM bench.langchain_pg_embedding WHERE collection_id = %s"
    " AND jsonb_path_match(cmetadata, '$.user_id == $user', jsonb_build_object('user', %s::text))"
    " ORDER BY embedding <=> %s::vector LIMIT 10"
)
LANGCHAIN_COLLECTION = "00000000-0000-0000-0000-00000000c011"

LANGCHAIN_PACKAGE = (
    "SELECT e.id FROM bench.langchain_pg_embedding AS e"
    " JOIN bench.langchain_pg_collection AS c ON e.collection_id = c.uuid"
    " WHERE e.collection_id = (SELECT uuid FROM bench.langchain_pg_collection WHERE name = %s)"
    " AND jsonb_path_match(e.cmetadata, '$.user_id == $value', jsonb_build_object('value', %s::text))"
    " ORDER BY e.embedding <=> %s::vector LIMIT 10"
)
MEM0_NAME = "Mem0 pgvector shape (HNSW, ef_search 40)"
LANGCHAIN_NAME = "LangChain PGVector shape (jsonb_path_match)"


def systems(stores: dict[str, Any], versions: dict[str, str]) -> list[System]:
    """mempg, exact search, and each peer: its package's store when open, else its SQL."""
    found = [
        System(
            "mempg search_memories (authenticated, RLS)",
            "authenticated",
            lambda c, u, q: _ids(c, MEMPG, (q, u)),
            None,
        ),
        System(
            "mempg search_memories (service_role)",
            "service_role",
            lambda c, u, q: _ids(c, MEMPG, (q, u)),
            None,
        ),
        System(
            "exact search (same filters)",
            "service_role",
            lambda c, u, q: _ids(c, EXACT, (q, u)),
            None,
        ),
    ]
    if "mem0" in stores:
        mem0 = stores["mem0"]
        found.append(
            System(MEM0_NAME, "postgres", lambda _c, u, q: mem0.search(u, q), MEM0,
                   lambda u, q: (q, u), f"mem0ai {versions['mem0ai']} PGVector.search")
        )  # fmt: skip
    else:
        found.append(
            System(MEM0_NAME, "postgres", lambda c, u, q: _ids(c, MEM0, (q, u)), MEM0,
                   lambda u, q: (q, u), "SQL re-created from mem0/vector_stores/pgvector.py")
        )  # fmt: skip
    if "langchain" in stores:
        chain = stores["langchain"]
        found.append(
            System(LANGCHAIN_NAME, "postgres", lambda _c, u, q: chain.search(u, q),
                   LANGCHAIN_PACKAGE, lambda u, q: (LANGCHAIN_COLLECTION_NAME, u, q),
                   f"langchain-postgres {versions['langchain-postgres']} PGVector.similarity_search_with_score_by_vector")
        )  # fmt: skip
    else:
        found.append(
            System(LANGCHAIN_NAME, "postgres",
                   lambda c, u, q: _ids(c, LANGCHAIN, (LANGCHAIN_COLLECTION, u, q)), LANGCHAIN,
                   lambda u, q: (LANGCHAIN_COLLECTION, u, q),
                   "SQL re-created from langchain-postgres' PGVector v1")
        )  # fmt: skip
    return found


# The peers' tables when their packages are not installed, as the packages would create them.
MEM0_TABLE = (
    "CREATE TABLE bench.mem0_memories (id uuid PRIMARY KEY, vector vector({dim}), payload jsonb)"
)
MEM0_INDEX = "CREATE INDEX mem0_memories_hnsw_idx ON bench.mem0_memories USING hnsw (vector vector_cosine_ops)"
LANGCHAIN_TABLE = """CREATE TABLE bench.langchain_pg_embedding (
    id varchar PRIMARY KEY, collection_id uuid, embedding vector({dim}), document varchar, cmetadata jsonb)"""
