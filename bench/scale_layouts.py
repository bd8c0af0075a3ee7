"""The layout `make bench-scale` weighs against mempg's own (one table, one shared HNSW index and
the heavy users' own indexes, 0022), on the same rows and the same queries (bench/scale.py calls
it after its own measurements): hash partitions of the rows by user_id (a scratch copy,
`bench_layout.memories_hashed`, PARTITIONS tables, one HNSW index each), searched by the query
mempg's path runs (exact for the classes it searches exactly, else the iterative HNSW scan with
ef_search / max_scan_tuples from the user's share: of their partition there, of the table here).
Reported: copy and build time, index size, p50/p95 and recall@10 per size class against the exact
answers bench/scale.py measured, and a plain single-row INSERT rate into each layout.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

PARTITIONS = 16
# the HNSW path's query, on any table with (id, user_id, embedding); {table} is composed in
ANN = """
WITH candidates AS MATERIALIZED (
    SELECT m.id, m.embedding <=> %(q)s AS distance
    FROM {table} AS m
    WHERE m.user_id = %(user)s{live}
    ORDER BY m.embedding <=> %(q)s
    LIMIT 30
)
SELECT c.id FROM candidates AS c ORDER BY c.distance + 0, c.id LIMIT 10
"""
# the exact path's query, for the size classes mempg searches exactly (at most exact_search_max_rows)
EXACT = """
WITH scoped AS MATERIALIZED (
    SELECT m.id, m.embedding <=> %(q)s AS distance
    FROM {table} AS m
    WHERE m.user_id = %(user)s{live}
)
SELECT s.id FROM scoped AS s ORDER BY s.distance, s.id LIMIT 10
"""


def log(message: str) -> None:
    import sys

    print(f"[scale] {message}", file=sys.stderr, flush=True)


def summary(latencies: list[float], returned: list[list[str]], truth: list[list[str]]) -> dict:
    recalls = [len(set(g) & set(t)) / max(1, len(t)) for g, t in zip(returned, truth, strict=True)]
    return {
        "p50_ms": round(float(np.percentile(latencies, 50)), 3),
        "p95_ms": round(float(np.percentile(latencies, 95)), 3),
        "recall_at_10": round(float(np.mean(recalls)), 4),
    }


def light_user(work: dict[int, list]) -> str:
    return work[min(work)][0][0]


def new_vectors(work: dict[int, list], n: int = 300) -> list:
    """Vectors like the rows (the queries are perturbed rows) to insert."""
    return [q for items in work.values() for _, q in items][:n]


def index_options(conn: psycopg.Connection) -> str:
    """The main HNSW index's access method, operator class and WITH options, to build alike."""
    definition = conn.execute(
        "SELECT pg_get_indexdef('memory.memories_embedding_ann'::regclass)"
    ).fetchone()[0]
    return definition[definition.index("USING") :]


def ann_settings(conn: psycopg.Connection, share: float | None) -> tuple[int, int]:
    return conn.execute(
        "SELECT ef_search, max_scan_tuples FROM memory.ann_scan_settings(%s, 30)", (share,)
    ).fetchone()


def ann_measure(
    conn: psycopg.Connection,
    table: str,
    items: list,
    truth: list,
    share_of: dict[str, float],
    exact: bool,
) -> dict[str, Any]:
    """The HNSW path's query (or, with exact, the exact path's) on table, as mempg runs it."""
    # the main index's predicate
    live = " AND NOT m.is_deleted" if table == "memory.memories" else ""
    query = sql.SQL(EXACT if exact else ANN).format(table=sql.SQL(table), live=sql.SQL(live))
    latencies, returned = [], []
    for n, (user, q) in enumerate(items + items[:1]):
        ef, max_tuples = ann_settings(conn, share_of[user])
        with conn.transaction():
            conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            conn.execute(f"SET LOCAL hnsw.ef_search = {ef}")
            conn.execute(f"SET LOCAL hnsw.max_scan_tuples = {max_tuples}")
            conn.execute(f"SET LOCAL enable_sort = {'on' if exact else 'off'}")
            started = time.perf_counter()
            ids = [str(r[0]) for r in conn.execute(query, {"q": q, "user": user}).fetchall()]
            ms = (time.perf_counter() - started) * 1000
        if n:  # the first call warms; the last re-runs it
            latencies.append(ms)
            returned.append(ids)
    return summary(latencies, returned, truth[1:] + truth[:1])


def hashed_copy(
    conn: psycopg.Connection, work: dict[int, list], truth: dict[int, list], dim: int
) -> dict[str, Any]:
    """The rows hash-partitioned by user_id into PARTITIONS tables, one HNSW index each; the
    HNSW path's query against it and against memory.memories, side by side."""
    using = index_options(conn).split(" WHERE ")[0]  # the copy holds live rows only
    conn.execute("DROP SCHEMA IF EXISTS bench_layout CASCADE")
    conn.execute("CREATE SCHEMA bench_layout")
    conn.execute(
        f"CREATE TABLE bench_layout.memories_hashed (id uuid NOT NULL, user_id text NOT NULL,"
        f" embedding extensions.vector({dim}) NOT NULL) PARTITION BY HASH (user_id)"
    )
    for p in range(PARTITIONS):
        conn.execute(
            f"CREATE TABLE bench_layout.memories_hashed_{p} PARTITION OF bench_layout.memories_hashed"
            f" FOR VALUES WITH (MODULUS {PARTITIONS}, REMAINDER {p})"
        )
    began = time.perf_counter()
    conn.execute(
        "INSERT INTO bench_layout.memories_hashed SELECT id, user_id, embedding FROM memory.memories"
        " WHERE NOT is_deleted"
    )
    load = time.perf_counter() - began
    conn.execute("CREATE INDEX ON bench_layout.memories_hashed (user_id)")
    began = time.perf_counter()
    conn.execute(
        sql.SQL("CREATE INDEX memories_hashed_ann ON bench_layout.memories_hashed {}").format(
            sql.SQL(using)
        )
    )
    build = time.perf_counter() - began
    conn.execute("VACUUM ANALYZE bench_layout.memories_hashed")
    sizes = conn.execute(
        "SELECT sum(pg_relation_size(i.indexrelid)), max(c.reltuples), min(c.reltuples)"
        " FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid"
        " JOIN pg_index i ON i.indrelid = h.inhrelid"
        " JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = ic.relam"
        " WHERE h.inhparent = 'bench_layout.memories_hashed'::regclass AND am.amname = 'hnsw'"
    ).fetchone()
    out: dict[str, Any] = {
        "partitions": PARTITIONS,
        "copy_seconds": round(load, 2),
        "hnsw_build_seconds": round(build, 2),
        "hnsw_bytes": int(sizes[0]),
        "partition_rows": {"max": int(sizes[1]), "min": int(sizes[2])},
        "classes": {},
    }
    bound = conn.execute("SELECT exact_search_max_rows FROM memory.settings").fetchone()[0]
    log(f"hash partitions: copied in {out['copy_seconds']} s, HNSW built in {build:.1f} s")
    for size_class, items in sorted(work.items()):
        users = {user for user, _ in items}
        table_share = {
            u: conn.execute("SELECT memory.user_share(%s)", (u,)).fetchone()[0] for u in users
        }
        partition_share = {
            u: conn.execute(
                "SELECT count(*) / (SELECT c.reltuples FROM pg_class c WHERE c.oid = tableoid)"
                " FROM bench_layout.memories_hashed WHERE user_id = %s GROUP BY tableoid",
                (u,),
            ).fetchone()[0]
            for u in users
        }
        exact = size_class <= bound
        one = ann_measure(conn, "memory.memories", items, truth[size_class], table_share, exact)
        hashed = ann_measure(
            conn, "bench_layout.memories_hashed", items, truth[size_class], partition_share, exact
        )
        out["classes"][str(size_class)] = {
            "path": "exact" if exact else "hnsw",
            "one_table": one,
            "hashed": hashed,
        }
        log(f"{size_class} memories/user: one table {one}, hash partitions {hashed}")
    heavy = work[max(work)][0][0]  # with an index of their own on the one table (0022)
    out["insert_per_second"] = {
        "one_table": {
            "light_user": insert_rate(conn, "memory.memories", light_user(work), new_vectors(work)),
            "heavy_user": insert_rate(conn, "memory.memories", heavy, new_vectors(work)),
        },
        "hashed": {
            "light_user": insert_rate(
                conn, "bench_layout.memories_hashed", light_user(work), new_vectors(work)
            ),
            "heavy_user": insert_rate(
                conn, "bench_layout.memories_hashed", heavy, new_vectors(work)
            ),
        },
    }
    conn.execute("DROP SCHEMA bench_layout CASCADE")
    return out


def insert_rate(conn: psycopg.Connection, table: str, user: str, vectors: list) -> float:
    """Plain single-row INSERTs (autocommit, triggers off: no deduplication) of vectors for one
    user into table, with the table's indexes; the rows are deleted afterwards."""
    marker = f"bench insert {time.time_ns()}"
    if table == "memory.memories":
        statement = "INSERT INTO memory.memories (user_id, memory, embedding) VALUES (%s, %s, %s)"
        rows = [(user, f"{marker} {i}", q) for i, q in enumerate(vectors)]
    else:
        statement = (
            f"INSERT INTO {table} (id, user_id, embedding) VALUES (gen_random_uuid(), %s, %s)"
        )
        rows = [(user, q) for q in vectors]
    conn.execute("SET session_replication_role = replica")
    try:
        began = time.perf_counter()
        for row in rows:
            conn.execute(statement, row)
        return round(len(rows) / (time.perf_counter() - began), 1)
    finally:
        conn.execute("SET session_replication_role = origin")
        if table == "memory.memories":
            conn.execute("DELETE FROM memory.memories WHERE memory LIKE %s", (marker + "%",))
