"""The systems measured side by side, each a function (connection, user, query) -> ids returned.

mempg's own search as an application user (row-level security) and as service_role; exact search
on the same filters (the recall reference and the correctness floor); and the SQL that Mem0's and
LangChain's pgvector stores send, on tables of their own shape holding the same vectors: these are
re-created from the projects' source (mem0/vector_stores/pgvector.py; langchain's PGVector v1
with a jsonb_path_match filter), not driven through the packages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import psycopg

Search = Callable[[psycopg.Connection, str, np.ndarray], list[str]]


@dataclass(frozen=True)
class System:
    name: str
    role: str  # the session role: authenticated sets app.user_id per query (untimed)
    search: Search
    plan_sql: str | None  # the statement to EXPLAIN, or None when auto_explain captures it


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

SYSTEMS = [
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
        "exact search (same filters)", "service_role", lambda c, u, q: _ids(c, EXACT, (q, u)), None
    ),
    System(
        "Mem0 pgvector shape (HNSW, ef_search 40)",
        "postgres",
        lambda c, u, q: _ids(c, MEM0, (q, u)),
        MEM0,
    ),
    System(
        "LangChain PGVector shape (jsonb_path_match)",
        "postgres",
        lambda c, u, q: _ids(c, LANGCHAIN, (LANGCHAIN_COLLECTION, u, q)),
        LANGCHAIN,
    ),
]

PEER_TABLES = """
CREATE SCHEMA IF NOT EXISTS bench;
DROP TABLE IF EXISTS bench.mem0_memories, bench.langchain_pg_embedding;
CREATE TABLE bench.mem0_memories (id uuid PRIMARY KEY, vector vector({dim}), payload jsonb);
CREATE TABLE bench.langchain_pg_embedding (
    id varchar PRIMARY KEY, collection_id uuid, embedding vector({dim}), document varchar, cmetadata jsonb);
"""
PEER_INDEXES = "CREATE INDEX mem0_memories_hnsw_idx ON bench.mem0_memories USING hnsw (vector vector_cosine_ops)"
