"""`make bench-scale`: mempg at a million memories on one machine.

Clustered synthetic 384-dimensional vectors (users share topics: every user's memories are drawn
around the same global centres), users from 10 to 100,000 memories, bulk-loaded by COPY through
runner.operations.bulk_load_memories (triggers off, the HNSW index built after the load with the
server's maintenance_work_mem), into a scratch database installed with `--embedding-dim 384`.
Reported, in one run: load and HNSW build time, index size against maintenance_work_mem (the
build is fast while the graph fits), bytes per memory; per user size class, p50/p95 and QPS of
`search_memories` (similarity threshold 0 on both) beside mempg's exact path on the same filter (`search_memories_exact`: the
btree on user_id, every distance computed), and recall@10 against it; the insert rate through
`add_memory` (deduplication trigger and all) into a heavy and a light user at that table size.

`--rows` below the default gives a smoke run, labelled so in the JSON, written to
bench/results/scale-smoke.json unless `--out` says otherwise. Single-threaded queries.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from pgvector.psycopg import register_vector

from runner import embedded
from runner.config import Project, SessionSettings
from runner.migrate import Runner
from runner.operations import bulk_load_memories, create_database, drop_database

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
FULL_ROWS = 1_000_000
# Share of the rows held by each user size class (memories per user).
CLASSES = {100_000: 0.30, 10_000: 0.20, 1_000: 0.20, 100: 0.15, 10: 0.15}
CENTRES = 256
SPREAD = 0.6


def log(message: str) -> None:
    print(f"[scale] {message}", file=sys.stderr, flush=True)


def users_for(rows: int) -> dict[int, int]:
    """Size class -> number of users; a class needs at most half the table; the rest are 10s.
    Every class that fits gets at least one user, so a small --rows can overshoot (200,000 loads
    240,000: one user of 100,000); the JSON reports the rows loaded. 1,000,000 is exact."""
    counts = {
        size: max(1, int(share * rows) // size)
        for size, share in CLASSES.items()
        if size <= rows // 2
    }
    used = sum(size * n for size, n in counts.items())
    counts[10] = counts.get(10, 0) + max(0, rows - used) // 10
    return counts


def unit_rows(rng: np.random.Generator, centres: np.ndarray, count: int) -> np.ndarray:
    picks = centres[rng.integers(0, len(centres), count)]
    points = picks + SPREAD * rng.normal(size=picks.shape) / math.sqrt(centres.shape[1])
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


def load(
    conn: psycopg.Connection, counts: dict[int, int], centres: np.ndarray, seed: int
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    mwm = conn.execute("SELECT current_setting('maintenance_work_mem')").fetchone()[0]
    figures: dict[str, Any] = {"maintenance_work_mem": mwm}
    loaded = 0
    with (
        bulk_load_memories(conn, maintenance_work_mem=mwm) as timings,
        conn.cursor().copy(
            "COPY memory.memories (user_id, memory, embedding) FROM STDIN WITH (FORMAT BINARY)"
        ) as copy,
    ):
        copy.set_types(["text", "text", "vector"])
        for size, users in sorted(counts.items(), reverse=True):
            for u in range(users):
                user = f"u{size}_{u}"
                for start in range(0, size, 10_000):
                    block = unit_rows(rng, centres, min(10_000, size - start))
                    for i, row in enumerate(block):
                        copy.write_row((user, f"memory {start + i} of {user}", row))
                    loaded += len(block)
                if size >= 10_000 or u == users - 1:
                    log(f"loaded {loaded} rows")
    figures.update(
        load_seconds=timings["load_seconds"], hnsw_build_seconds=timings["index_build_seconds"]
    )
    conn.execute("VACUUM ANALYZE memory.memories")
    row = conn.execute(
        "SELECT count(*), pg_relation_size('memory.memories'), pg_total_relation_size('memory.memories'),"
        " pg_relation_size('memory.memories_embedding_ann'), pg_size_bytes(%s) FROM memory.memories",
        (mwm,),
    ).fetchone()
    figures.update(
        rows=row[0],
        heap_bytes=row[1],
        total_bytes=row[2],
        hnsw_bytes=row[3],
        bytes_per_memory=round(row[2] / max(row[0], 1)),
        hnsw_bytes_per_memory=round(row[3] / max(row[0], 1)),
        graph_fits_maintenance_work_mem=row[3] <= row[4],
    )
    return figures


def timed(conn: psycopg.Connection, query: str, params: tuple) -> tuple[float, list[str]]:
    started = time.perf_counter()
    ids = [str(r[0]) for r in conn.execute(query, params).fetchall()]
    return (time.perf_counter() - started) * 1000, ids


MEMPG = "SELECT id FROM memory.search_memories(%s, %s, 10, similarity_threshold => 0)"
EXACT = "SELECT id FROM memory.search_memories_exact(%s, %s, 10, '{}', '{}', 0)"


def measure(
    conn: psycopg.Connection, counts: dict[int, int], centres: np.ndarray, queries: int, seed: int
) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    out = []
    for size in sorted(counts):
        users = [f"u{size}_{i}" for i in range(min(counts[size], 5))]
        # a query near one of the user's own memories (a question about something they said)
        work = []
        for i in range(queries):
            user = users[i % len(users)]
            row = conn.execute(
                "SELECT embedding FROM memory.memories WHERE user_id = %s OFFSET %s LIMIT 1",
                (user, int(rng.integers(0, size))),
            ).fetchone()
            near = row[0].to_numpy().astype(np.float32) + 0.5 * rng.normal(
                size=centres.shape[1]
            ).astype(np.float32) / math.sqrt(centres.shape[1])
            work.append((user, near / np.linalg.norm(near)))
        for user, query in work[:2]:  # warm both paths: untimed
            conn.execute(MEMPG, (query, user)).fetchall()
            conn.execute(EXACT, (query, user)).fetchall()
        result: dict[str, Any] = {
            "memories_per_user": size,
            "users": counts[size],
            "queries": queries,
        }
        recalls = []
        for name, query_text in (("mempg", MEMPG), ("exact", EXACT)):
            latencies, returned = [], []
            began = time.perf_counter()
            for user, query in work:
                ms, ids = timed(conn, query_text, (query, user))
                latencies.append(ms)
                returned.append(ids)
            wall = time.perf_counter() - began
            result[name] = {
                "p50_ms": round(float(np.percentile(latencies, 50)), 3),
                "p95_ms": round(float(np.percentile(latencies, 95)), 3),
                "qps": round(len(work) / wall, 1),
            }
            result[f"_{name}_ids"] = returned
        for got, truth in zip(result.pop("_mempg_ids"), result.pop("_exact_ids"), strict=True):
            recalls.append(len(set(got) & set(truth)) / max(1, len(truth)))
        result["recall_at_10"] = round(float(np.mean(recalls)), 4)
        result["p95_ratio_to_exact"] = round(
            result["mempg"]["p95_ms"] / result["exact"]["p95_ms"], 3
        )
        log(
            f"{size:>7} memories/user: mempg p95 {result['mempg']['p95_ms']} ms,"
            f" exact {result['exact']['p95_ms']} ms, recall@10 {result['recall_at_10']}"
        )
        out.append(result)
    return out


def inserts(
    conn: psycopg.Connection, counts: dict[int, int], centres: np.ndarray, n: int, seed: int
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    out = {}
    heavy = max(counts)
    for label, user in (("heavy", f"u{heavy}_0"), ("light", "u10_0")):
        rows = unit_rows(rng, centres, n)
        began = time.perf_counter()
        for i, row in enumerate(rows):
            conn.execute(
                "SELECT memory.add_memory(%s, %s, %s)", (user, f"new fact {uuid.uuid4()} {i}", row)
            )
        seconds = time.perf_counter() - began
        out[label] = {
            "user_memories": heavy if label == "heavy" else 10,
            "inserts": n,
            "per_second": round(n / seconds, 1),
        }
        log(f"add_memory into a {label} user: {out[label]['per_second']}/s")
    return out


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    classes = results["classes"]
    sizes = [c["memories_per_user"] for c in classes]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(sizes, [c["mempg"]["p95_ms"] for c in classes], "o-", label="search_memories p95")
    ax.plot(sizes, [c["exact"]["p95_ms"] for c in classes], "s--", label="exact path p95")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("memories of the user")
    ax.set_ylabel("p95 latency (ms)")
    label = "smoke run, " if results["smoke"] else ""
    ax.set_title(f"{label}{results['load']['rows']:,} memories, {results['dim']} dims")
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rows", type=int, default=FULL_ROWS, help="memories in the table (default 1,000,000)"
    )
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=40, help="queries per user size class")
    parser.add_argument(
        "--inserts", type=int, default=200, help="add_memory calls per user measured"
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="results JSON (default bench/results/scale.json, or scale-smoke.json)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args(argv)
    smoke = args.rows < FULL_ROWS
    out = args.out or RESULTS / ("scale-smoke.json" if smoke else "scale.json")
    began = time.perf_counter()
    server = embedded.start(ROOT).url("postgres")
    name = f"mempg_scale_{uuid.uuid4().hex[:8]}"
    url = create_database(server, name)
    try:
        report = Runner(
            Project(ROOT), url, SessionSettings(statement_timeout="0"), lambda _m: None
        ).apply(embedding_dim=args.dim, show_sql=False)
        if report.failed:
            raise SystemExit(report.message)
        counts = users_for(args.rows)
        log(f"{args.rows} rows, users per class: {counts}")
        centres = unit_rows(np.random.default_rng(7), np.eye(args.dim, dtype=np.float32), CENTRES)
        with psycopg.connect(url, autocommit=True) as conn:
            register_vector(conn)
            conn.execute("SET statement_timeout = 0")
            figures = load(conn, counts, centres, seed=11)
            log(
                f"loaded in {figures['load_seconds']} s, HNSW built in {figures['hnsw_build_seconds']} s"
            )
            classes = measure(conn, counts, centres, args.queries, seed=13)
            rate = inserts(conn, counts, centres, args.inserts, seed=17)
            settings = dict(
                conn.execute(
                    "SELECT name, current_setting(name) FROM pg_settings WHERE name IN"
                    " ('shared_buffers', 'maintenance_work_mem', 'work_mem', 'max_parallel_maintenance_workers')"
                ).fetchall()
            )
    finally:
        if not args.keep:
            drop_database(server, name)
    results = {
        "smoke": smoke,
        "label": (
            f"smoke run at {figures['rows']:,} rows (--rows {args.rows:,}; not the 1M run)"
            if smoke
            else f"{figures['rows']:,} rows"
        ),
        "dim": args.dim,
        "machine": {
            "cpus": len(__import__("os").sched_getaffinity(0)),
            "python": platform.python_version(),
        },
        "server_settings": settings,
        "users_per_class": {str(k): v for k, v in sorted(counts.items())},
        "load": figures,
        "classes": classes,
        "add_memory": rate,
        "seconds": round(time.perf_counter() - began, 1),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    plot(results, out.with_suffix(".png"))
    log(f"wrote {out} and {out.with_suffix('.png')} in {results['seconds']} s")


if __name__ == "__main__":
    main()
