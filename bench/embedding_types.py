"""`make bench-halfvec`: embeddings stored as vector against halfvec, side by side in one run.

The same clustered 1536-dimensional memories (bench/scale.py's generator and user classes, 100,000
rows by default) are bulk-loaded into two scratch databases, one installed with
`--embedding-type vector` and one with `--embedding-type halfvec`; each gets its HNSW index and
the per-user indexes `mempg maintain` builds. Reported per type: bytes per memory (heap, HNSW,
total), HNSW build time, and per user size class p50/p95 of `search_memories` beside the exact
path of the same database, with recall@10 against the exact answer in full precision (the vector
database's exact path: what halfvec's rounding costs shows there), and the add_memory rate.
Then halfvec / vector: the bytes per memory (target <= 0.6) and the recall difference (target
within 0.005). Results in bench/results/embedding-types.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from pgvector.psycopg import register_vector

from bench import scale
from runner import embedded
from runner.config import Project, SessionSettings
from runner.migrate import Runner
from runner.operations import build_user_indexes, create_database, drop_database

ROOT = Path(__file__).resolve().parents[1]
TYPES = ("vector", "halfvec")
# by text: ids are drawn afresh in each database, the texts ("memory 7 of u10_3") are the same
MEMPG_TEXTS = scale.MEMPG.replace("SELECT id", "SELECT memory")
EXACT_TEXTS = scale.EXACT.replace("SELECT id", "SELECT memory")


def log(message: str) -> None:
    print(f"[halfvec] {message}", file=sys.stderr, flush=True)


def install(server: str, embedding_type: str, dim: int) -> tuple[str, str]:
    name = f"mempg_types_{embedding_type}_{uuid.uuid4().hex[:6]}"
    url = create_database(server, name)
    report = Runner(
        Project(ROOT), url, SessionSettings(statement_timeout="0"), lambda _m: None
    ).apply(embedding_dim=dim, embedding_type=embedding_type, show_sql=False)
    if report.failed:
        drop_database(server, name)
        raise SystemExit(report.message)
    return name, url


def answers(conn: psycopg.Connection, query: str, work: dict[int, list]) -> dict[int, list]:
    return {
        size: [scale.timed(conn, query, (q, user))[1] for user, q in items]
        for size, items in work.items()
    }


def recall(got: list[list[str]], want: list[list[str]]) -> float:
    return round(
        float(
            np.mean([len(set(g) & set(w)) / max(1, len(w)) for g, w in zip(got, want, strict=True)])
        ),
        4,
    )


def measure_type(
    conn: psycopg.Connection,
    embedding_type: str,
    counts: dict[int, int],
    centres: np.ndarray,
    work: dict[int, list] | None,
    args: argparse.Namespace,
) -> tuple[dict[str, Any], dict[int, list]]:
    figures = scale.load(conn, counts, centres, seed=11, embedding_type=embedding_type)
    began = time.perf_counter()
    built = build_user_indexes(conn, log)
    conn.execute("ANALYZE memory.memories")
    figures["user_indexes"] = {
        "built": sum(b["action"] == "create" for b in built),
        "seconds": round(time.perf_counter() - began, 2),
    }
    figures.update(scale.sizes(conn, figures["maintenance_work_mem"]))
    figures["all_index_bytes"] = conn.execute(
        "SELECT pg_indexes_size('memory.memories')"
    ).fetchone()[0]
    log(f"{embedding_type}: {figures}")
    if work is None:  # the queries come from the first database, the same for both
        work = scale.query_work(conn, counts, args.dim, args.queries, seed=13)
    classes, _ = scale.measure(conn, counts, work)
    return {"load": figures, "classes": classes}, work


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=1536)
    parser.add_argument("--queries", type=int, default=40, help="queries per user size class")
    parser.add_argument("--inserts", type=int, default=100, help="add_memory calls per user")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/embedding-types.json")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    server = embedded.start(ROOT).url("postgres")
    counts = scale.users_for(args.rows)
    centres = scale.unit_rows(
        np.random.default_rng(7), np.eye(args.dim, dtype=np.float32), scale.CENTRES
    )
    results: dict[str, Any] = {}
    work: dict[int, list] | None = None
    truth: dict[int, list] = {}
    for embedding_type in TYPES:
        name, url = install(server, embedding_type, args.dim)
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                register_vector(conn)
                conn.execute("SET statement_timeout = 0")
                results[embedding_type], work = measure_type(
                    conn, embedding_type, counts, centres, work, args
                )
                exact = answers(conn, EXACT_TEXTS, work)
                if embedding_type == "vector":
                    truth = exact
                found = answers(conn, MEMPG_TEXTS, work)
                for entry in results[embedding_type]["classes"]:
                    size = entry["memories_per_user"]
                    entry["recall_at_10_full_precision"] = recall(found[size], truth[size])
                    entry["exact_recall_at_10_full_precision"] = recall(exact[size], truth[size])
                # last: add_memory changes the users the queries above are about (and where
                # a similarity falls near the merge thresholds, the two types merge differently)
                results[embedding_type]["add_memory"] = scale.inserts(
                    conn, counts, centres, args.inserts, seed=17
                )
        finally:
            drop_database(server, name)
    vector, half = results["vector"], results["halfvec"]
    compared = {
        "bytes_per_memory": round(
            half["load"]["bytes_per_memory"] / vector["load"]["bytes_per_memory"], 3
        ),
        "hnsw_bytes": round(half["load"]["hnsw_bytes"] / vector["load"]["hnsw_bytes"], 3),
        "heap_bytes": round(half["load"]["heap_bytes"] / vector["load"]["heap_bytes"], 3),
        "hnsw_build_seconds": round(
            half["load"]["hnsw_build_seconds"] / vector["load"]["hnsw_build_seconds"], 3
        ),
        "classes": [
            {
                "memories_per_user": v["memories_per_user"],
                "p95_ratio": round(h["mempg"]["p95_ms"] / v["mempg"]["p95_ms"], 3),
                "exact_p95_ratio": round(h["exact"]["p95_ms"] / v["exact"]["p95_ms"], 3),
                "recall_difference": round(
                    h["recall_at_10_full_precision"] - v["recall_at_10_full_precision"], 4
                ),
            }
            for v, h in zip(vector["classes"], half["classes"], strict=True)
        ],
        "add_memory_heavy": round(
            half["add_memory"]["heavy"]["per_second"] / vector["add_memory"]["heavy"]["per_second"],
            3,
        ),
    }
    out = {
        "rows": args.rows,
        "dim": args.dim,
        "users_per_class": {str(k): v for k, v in sorted(counts.items())},
        "machine": {"cpus": len(os.sched_getaffinity(0)), "python": platform.python_version()},
        "vector": vector,
        "halfvec": half,
        "halfvec_over_vector": compared,
        "seconds": round(time.perf_counter() - began, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    log(f"halfvec / vector: {json.dumps(compared)}")
    log(f"wrote {args.out} in {out['seconds']} s")


if __name__ == "__main__":
    main()
