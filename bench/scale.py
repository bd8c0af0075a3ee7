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

try:  # pgvector-python >= 0.4 exports it at the top; 0.3 had it in pgvector.utils only
    from pgvector import HalfVector
except ImportError:
    from pgvector.utils import HalfVector  # type: ignore[no-redef]

from bench import scale_layouts
from runner import embedded
from runner.config import Project, SessionSettings
from runner.migrate import Runner
from runner.operations import (
    build_user_indexes,
    bulk_load_memories,
    create_database,
    drop_database,
    with_database,
)

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
    conn: psycopg.Connection,
    counts: dict[int, int],
    centres: np.ndarray,
    seed: int,
    embedding_type: str = "vector",
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
        copy.set_types(["text", "text", embedding_type])  # binary: the column's own type
        for size, users in sorted(counts.items(), reverse=True):
            for u in range(users):
                user = f"u{size}_{u}"
                for start in range(0, size, 10_000):
                    block = unit_rows(rng, centres, min(10_000, size - start))
                    for i, row in enumerate(block):
                        value = HalfVector(row) if embedding_type == "halfvec" else row
                        copy.write_row((user, f"memory {start + i} of {user}", value))
                    loaded += len(block)
                if size >= 10_000 or u == users - 1:
                    log(f"loaded {loaded} rows")
    figures.update(
        load_seconds=timings["load_seconds"], hnsw_build_seconds=timings["index_build_seconds"]
    )
    conn.execute("VACUUM ANALYZE memory.memories")
    figures.update(sizes(conn, mwm))
    # kept in the database, for a later --database run
    conn.execute(
        "CREATE TABLE public.bench_scale_load AS SELECT %s::jsonb AS figures",
        (json.dumps(figures),),
    )
    return figures


def sizes(conn: psycopg.Connection, mwm: str) -> dict[str, Any]:
    row = conn.execute(
        "SELECT count(*), pg_relation_size('memory.memories'), pg_total_relation_size('memory.memories'),"
        " pg_relation_size('memory.memories_embedding_ann'), pg_size_bytes(%s) FROM memory.memories",
        (mwm,),
    ).fetchone()
    return {
        "rows": row[0],
        "heap_bytes": row[1],
        "total_bytes": row[2],
        "hnsw_bytes": row[3],
        "bytes_per_memory": round(row[2] / max(row[0], 1)),
        "hnsw_bytes_per_memory": round(row[3] / max(row[0], 1)),
        "graph_fits_maintenance_work_mem": row[3] <= row[4],
    }


def loaded_figures(conn: psycopg.Connection) -> dict[str, Any]:
    """The figures load() kept in a database loaded earlier with --keep."""
    return conn.execute("SELECT figures FROM public.bench_scale_load").fetchone()[0]


def timed(conn: psycopg.Connection, query: str, params: tuple) -> tuple[float, list[str]]:
    started = time.perf_counter()
    ids = [str(r[0]) for r in conn.execute(query, params).fetchall()]
    return (time.perf_counter() - started) * 1000, ids


MEMPG = "SELECT id FROM memory.search_memories(%s, %s, 10, similarity_threshold => 0)"
EXACT = "SELECT id FROM memory.search_memories_exact(%s, %s, 10, '{}', '{}', 0)"


def as_array(value: Any) -> np.ndarray:
    """A vector column's value as numpy (pgvector's adapter returns numpy or its Vector)."""
    return np.asarray(value.to_numpy() if hasattr(value, "to_numpy") else value, np.float32)


def query_work(
    conn: psycopg.Connection, counts: dict[int, int], dim: int, queries: int, seed: int
) -> dict[int, list[tuple[str, np.ndarray]]]:
    """Per size class, `queries` (user, query) pairs over up to 5 of its users: each query is one
    of the user's own memories, perturbed (a question about something they said)."""
    rng = np.random.default_rng(seed)
    work: dict[int, list[tuple[str, np.ndarray]]] = {}
    for size in sorted(counts):
        users = [f"u{size}_{i}" for i in range(min(counts[size], 5))]
        work[size] = []
        for i in range(queries):
            user = users[i % len(users)]
            row = conn.execute(
                # id::text: by id itself the planner walks the primary key through the whole table
                "SELECT embedding FROM memory.memories WHERE user_id = %s ORDER BY id::text"
                " OFFSET %s LIMIT 1",
                (user, int(rng.integers(0, size))),
            ).fetchone()
            near = as_array(row[0]) + 0.5 * rng.normal(size=dim).astype(np.float32) / math.sqrt(dim)
            work[size].append((user, near / np.linalg.norm(near)))
    return work


def measure(
    conn: psycopg.Connection, counts: dict[int, int], work: dict[int, list]
) -> tuple[list[dict[str, Any]], dict[int, list[list[str]]]]:
    """Per size class: search_memories beside the exact path; returns the classes and the exact
    answers (the truth the other layouts are scored against)."""
    out, truth = [], {}
    for size, items in sorted(work.items()):
        for user, query in items[:2]:  # warm both paths: untimed
            conn.execute(MEMPG, (query, user)).fetchall()
            conn.execute(EXACT, (query, user)).fetchall()
        result: dict[str, Any] = {
            "memories_per_user": size,
            "users": counts[size],
            "queries": len(items),
        }
        returned: dict[str, list[list[str]]] = {}
        for name, query_text in (("mempg", MEMPG), ("exact", EXACT)):
            latencies, returned[name] = [], []
            began = time.perf_counter()
            for user, query in items:
                ms, ids = timed(conn, query_text, (query, user))
                latencies.append(ms)
                returned[name].append(ids)
            wall = time.perf_counter() - began
            result[name] = {
                "p50_ms": round(float(np.percentile(latencies, 50)), 3),
                "p95_ms": round(float(np.percentile(latencies, 95)), 3),
                "qps": round(len(items) / wall, 1),
            }
        truth[size] = returned["exact"]
        recalls = [
            len(set(got) & set(want)) / max(1, len(want))
            for got, want in zip(returned["mempg"], returned["exact"], strict=True)
        ]
        result["recall_at_10"] = round(float(np.mean(recalls)), 4)
        result["p95_ratio_to_exact"] = round(
            result["mempg"]["p95_ms"] / result["exact"]["p95_ms"], 3
        )
        log(
            f"{size:>7} memories/user: mempg p95 {result['mempg']['p95_ms']} ms,"
            f" exact {result['exact']['p95_ms']} ms, recall@10 {result['recall_at_10']}"
        )
        out.append(result)
    return out, truth


def inserts(
    conn: psycopg.Connection, counts: dict[int, int], centres: np.ndarray, n: int, seed: int
) -> dict[str, Any]:
    """add_memory's rate into a heavy and a light user; the memories it adds are deleted after, so
    that what is measured next (the layouts) searches the rows the exact answers were taken on."""
    rng = np.random.default_rng(seed)
    out = {}
    heavy = max(counts)
    for label, user in (("heavy", f"u{heavy}_0"), ("light", "u10_0")):
        rows = unit_rows(rng, centres, n)
        events: dict[str, int] = {}
        added = []
        began = time.perf_counter()
        for i, row in enumerate(rows):
            memory_id, event = conn.execute(
                "SELECT id, event FROM memory.add_memory(%s, %s, %s)",
                (user, f"new fact {uuid.uuid4()} {i}", row),
            ).fetchone()
            events[event] = events.get(event, 0) + 1
            if event == "ADD":
                added.append(memory_id)
        seconds = time.perf_counter() - began
        conn.execute("DELETE FROM memory.memories WHERE id = ANY(%s)", (added,))
        out[label] = {
            "user_memories": heavy if label == "heavy" else 10,
            "inserts": n,
            "events": events,
            "per_second": round(n / seconds, 1),
        }
        log(f"add_memory into a {label} user: {out[label]['per_second']}/s {events}")
    return out


def growth(baseline: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """The smaller table's figures and, per size class in both, p95 at the larger size over p95
    at the smaller (the target: light users within 1.5x)."""
    small = {c["memories_per_user"]: c for c in baseline["classes"]}
    return {
        "rows": baseline["load"]["rows"],
        "load": baseline["load"],
        "classes": baseline["classes"],
        "p95_ratio_to_baseline": {
            str(c["memories_per_user"]): round(
                c["mempg"]["p95_ms"] / small[c["memories_per_user"]]["mempg"]["p95_ms"], 3
            )
            for c in body["classes"]
            if c["memories_per_user"] in small
        },
    }


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    classes = results["classes"]
    sizes_ = [c["memories_per_user"] for c in classes]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.5))
    ax.plot(sizes_, [c["mempg"]["p95_ms"] for c in classes], "o-", label="search_memories p95")
    ax.plot(sizes_, [c["exact"]["p95_ms"] for c in classes], "s--", label="exact path p95")
    before = (results.get("before_0022") or {}).get("classes")
    if before:  # a run on the same database before the per-user indexes (0022), merged in
        ax.plot(
            [c["memories_per_user"] for c in before],
            [c["mempg"]["p95_ms"] for c in before],
            "x:",
            label="search_memories p95 before 0022",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("memories of the user")
    ax.set_ylabel("p95 latency (ms)")
    label = "smoke run, " if results["smoke"] else ""
    ax.set_title(f"{label}{results['load']['rows']:,} memories, {results['dim']} dims")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    baseline = results.get("baseline")
    if baseline:
        small = {c["memories_per_user"]: c for c in baseline["classes"]}
        for c in classes:
            if c["memories_per_user"] in small:
                bx.plot(
                    [baseline["rows"], results["load"]["rows"]],
                    [small[c["memories_per_user"]]["mempg"]["p95_ms"], c["mempg"]["p95_ms"]],
                    "o-",
                    label=f"user of {c['memories_per_user']:,}",
                )
        bx.set_xscale("log")
        bx.set_yscale("log")
        bx.set_xlabel("memories in the table")
        bx.set_ylabel("search_memories p95 (ms)")
        bx.set_title("p95 against table size")
        bx.legend(fontsize=8)
        bx.grid(True, which="both", alpha=0.3)
    else:
        bx.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def measure_database(
    url: str, args: argparse.Namespace, rows: int, loaded: bool, layouts: bool
) -> dict[str, Any]:
    """Load (unless already loaded) and measure one scratch database; the results' body."""
    counts = users_for(rows)
    log(f"{rows} rows, users per class: {counts}")
    centres = unit_rows(np.random.default_rng(7), np.eye(args.dim, dtype=np.float32), CENTRES)
    with psycopg.connect(url, autocommit=True) as conn:
        register_vector(conn)
        conn.execute("SET statement_timeout = 0")
        figures = loaded_figures(conn) if loaded else load(conn, counts, centres, seed=11)
        log(f"loaded: {figures}")
        # what an operator runs after a bulk load: `mempg maintain` builds the per-user indexes
        began = time.perf_counter()
        built = build_user_indexes(conn, log)
        if built:
            conn.execute("ANALYZE memory.memories")
            figures["user_indexes"] = {
                "built": sum(b["action"] == "create" for b in built),
                "seconds": round(time.perf_counter() - began, 2),
                "bytes": int(
                    conn.execute(
                        "SELECT coalesce(sum(pg_relation_size(i.indexrelid)), 0) FROM pg_index i"
                        " JOIN pg_class c ON c.oid = i.indexrelid"
                        " WHERE i.indrelid = 'memory.memories'::regclass"
                        " AND c.relname LIKE 'memories\\_ann\\_user\\_%'"
                    ).fetchone()[0]
                ),
            }
            log(f"per-user indexes: {figures['user_indexes']}")
        work = query_work(conn, counts, args.dim, args.queries, seed=13)
        classes, truth = measure(conn, counts, work)
        # inserts before the layouts: their hashed copy of the table (another 2 GB heap and
        # 2 GB of graphs at 1M rows) pushes the shared graph out of shared_buffers, and add_memory
        # into a heavy user (two graphs) measured 9.8/s after it against 76.0/s before it
        rate = inserts(conn, counts, centres, args.inserts, seed=17)
        compared = (
            {"hash_partitions": scale_layouts.hashed_copy(conn, work, truth, args.dim)}
            if layouts
            else None
        )
        settings = dict(
            conn.execute(
                "SELECT name, current_setting(name) FROM pg_settings WHERE name IN ('shared_buffers',"
                " 'maintenance_work_mem', 'work_mem', 'max_parallel_maintenance_workers')"
            ).fetchall()
        )
    return {
        "server_settings": settings,
        "users_per_class": {str(k): v for k, v in sorted(counts.items())},
        "load": figures,
        "classes": classes,
        "add_memory": rate,
        "layouts": compared,
    }


def run(server: str, args: argparse.Namespace, rows: int, layouts: bool) -> dict[str, Any]:
    """One table size in its own scratch database (dropped afterwards unless --keep), or the
    database --database names, already loaded by an earlier --keep run."""
    if args.database:
        url = with_database(server, args.database)
        return measure_database(url, args, rows, loaded=True, layouts=layouts)
    name = f"mempg_scale_{uuid.uuid4().hex[:8]}"
    url = create_database(server, name)
    try:
        report = Runner(
            Project(ROOT), url, SessionSettings(statement_timeout="0"), lambda _m: None
        ).apply(embedding_dim=args.dim, show_sql=False)
        if report.failed:
            raise SystemExit(report.message)
        return measure_database(url, args, rows, loaded=False, layouts=layouts)
    finally:
        if args.keep:
            log(f"kept database {name}")
        else:
            drop_database(server, name)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rows", type=int, default=FULL_ROWS, help="memories in the table (default 1,000,000)"
    )
    parser.add_argument(
        "--baseline-rows",
        type=int,
        default=100_000,
        help="first measure a table of this size (the full run only; 0 skips): light users'"
        " p95 at --rows against theirs at this size",
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
    parser.add_argument(
        "--database",
        help="measure this database, loaded by an earlier run with --keep (same --rows and --dim)",
    )
    parser.add_argument(
        "--no-layouts",
        dest="layouts",
        action="store_false",
        help="skip the partial-index and hash-partition comparison (bench/scale_layouts.py)",
    )
    args = parser.parse_args(argv)
    smoke = args.rows < FULL_ROWS
    out = args.out or RESULTS / ("scale-smoke.json" if smoke else "scale.json")
    began = time.perf_counter()
    server = embedded.start(ROOT).url("postgres")
    baseline = None
    if not smoke and args.baseline_rows:
        database, args.database = args.database, None
        keep, args.keep = args.keep, False
        baseline = run(server, args, args.baseline_rows, layouts=False)
        args.database, args.keep = database, keep
    body = run(server, args, args.rows, layouts=args.layouts)
    rows = body["load"]["rows"]
    results: dict[str, Any] = {
        "smoke": smoke,
        "label": (
            f"smoke run at {rows:,} rows (--rows {args.rows:,}; not the 1M run)"
            if smoke
            else f"{rows:,} rows"
        ),
        "dim": args.dim,
        "machine": {"cpus": len(os.sched_getaffinity(0)), "python": platform.python_version()},
        **body,
        "baseline": baseline and growth(baseline, body),
        "seconds": round(time.perf_counter() - began, 1),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    plot(results, out.with_suffix(".png"))
    log(f"wrote {out} and {out.with_suffix('.png')} in {results['seconds']} s")


if __name__ == "__main__":
    main()
