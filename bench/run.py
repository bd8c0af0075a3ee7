"""`make bench`: build the data set, measure every system side by side, write JSON, PNG and the
table in docs/benchmarks.md; `--compare BASELINE` exits 1 when a ratio or a recall regresses beyond tolerance."""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from pgvector.psycopg import register_vector

from bench import peers
from bench.data import QUERY_RESERVE, Population, TextPopulation, exact_top, with_similarity
from bench.systems import (
    LANGCHAIN_COLLECTION,
    LANGCHAIN_TABLE,
    MEM0_INDEX,
    MEM0_NAME,
    MEM0_TABLE,
    MEMPG,
    System,
    systems,
)
from runner import embedded
from runner.config import Project, SessionSettings
from runner.migrate import Runner
from runner.operations import bulk_load_memories, create_database, drop_database

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
MODES = {
    "quick": {
        "heavy": {"heavy_a": 6000, "heavy_b": 12000},
        "light_users": 400,
        "light_size": 25,
        "queries": 30,
        "rounds": 3,
        "inserts": 400,
        "embeddings": "clustered",
    },
    "full": {
        "heavy": {"heavy_a": 5000, "heavy_b": 10000, "heavy_c": 20000},
        "light_users": 2000,
        "light_size": 30,
        "queries": 60,
        "rounds": 3,
        "inserts": 1000,
        "embeddings": "text",
    },
}
# `--compare` gates only on what mempg measures against itself in the same run: recalls (against
# exact search) and ratios to its own baselines (exact search on the same filters, the service
# role without RLS, a plain INSERT). A regression is a recall that drops by more than
# RECALL_TOLERANCE, or such a ratio that moves the wrong way by more than RATIO_TOLERANCE times.
# Ratios against the peers (Mem0's and LangChain's query shapes) are reported, never gated: a
# peer's sequential scan is decided by the machine's memory bandwidth (Mem0's light-user p95 was
# 20 ms on one machine and 4.4 ms on another), so such a ratio moves without mempg changing.
RECALL_TOLERANCE = 0.02
RATIO_TOLERANCE = 1.5


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


# ------------------------------------------------------------------ set up
def make_population(mode: dict[str, Any], dim: int) -> Population:
    """Clustered synthetic embeddings (quick), or embedded WordNet glosses lifted to `dim` (full)."""
    shape = {
        "dim": dim,
        "heavy": mode["heavy"],
        "light_users": mode["light_users"],
        "light_size": mode["light_size"],
    }
    if mode["embeddings"] == "clustered":
        population = Population(**shape)
    else:
        from bench import corpus

        needed = (
            QUERY_RESERVE + sum(mode["heavy"].values()) + mode["light_users"] * mode["light_size"]
        )
        texts = corpus.glosses()[:needed]
        if len(texts) < needed:
            raise SystemExit(f"the corpus holds {len(texts)} texts, the full run needs {needed}")
        pool = corpus.lift(corpus.embed(texts), dim)
        population = TextPopulation(**shape, texts=texts, pool=pool)
    population.build()
    return population


def load(
    url: str, population: Population, stores: dict[str, Any]
) -> tuple[dict[str, tuple[str, int]], dict[str, Any]]:
    """Memories (triggers off: a bulk load), then the HNSW index, then the peers' tables: created
    by their packages when installed (`stores`), else re-created here."""
    owner_of: dict[str, tuple[str, int]] = {}
    figures: dict[str, Any] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        register_vector(conn)
        conn.execute("CREATE SCHEMA IF NOT EXISTS bench")
        if "mem0" not in stores:
            conn.execute(MEM0_TABLE.format(dim=population.dim))
        if "langchain" not in stores:
            conn.execute(LANGCHAIN_TABLE.format(dim=population.dim))
        with (
            bulk_load_memories(conn, maintenance_work_mem="1GB") as timings,
            conn.cursor().copy(
                "COPY memory.memories (id, user_id, memory, embedding) FROM STDIN WITH (FORMAT BINARY)"
            ) as copy,
        ):
            copy.set_types(["uuid", "text", "text", "vector"])
            for user, rows in population.vectors.items():
                for i, row in enumerate(rows):
                    memory_id = uuid.uuid4()
                    owner_of[str(memory_id)] = (user, i)
                    copy.write_row((memory_id, user, population.memory_text(user, i), row))
        figures["load_seconds"] = timings["load_seconds"]
        figures["hnsw_build_seconds"] = timings["index_build_seconds"]
        if "mem0" in stores:
            stores["mem0"].load(conn)
        else:
            conn.execute(
                "INSERT INTO bench.mem0_memories (id, vector, payload)"
                " SELECT id, embedding, jsonb_build_object('user_id', user_id, 'data', memory) FROM memory.memories"
            )
            conn.execute(MEM0_INDEX)
        if "langchain" in stores:
            stores["langchain"].load(conn)
        else:
            conn.execute(
                "INSERT INTO bench.langchain_pg_embedding (id, collection_id, embedding, document, cmetadata)"
                " SELECT id::text, %s, embedding, memory, jsonb_build_object('user_id', user_id) FROM memory.memories",
                (LANGCHAIN_COLLECTION,),
            )
        conn.execute("VACUUM ANALYZE memory.memories")
        conn.execute("VACUUM ANALYZE bench.mem0_memories")
        conn.execute("VACUUM ANALYZE bench.langchain_pg_embedding")
        row = conn.execute(
            "SELECT count(*), pg_relation_size('memory.memories'), pg_total_relation_size('memory.memories'),"
            " pg_relation_size('memory.memories_embedding_ann') FROM memory.memories"
        ).fetchone()
        figures.update(
            rows=row[0],
            table_bytes=row[1],
            total_bytes=row[2],
            hnsw_bytes=row[3],
            bytes_per_memory=round(row[2] / max(row[0], 1)),
        )
    return owner_of, figures


# ----------------------------------------------------------------- measure
def session(url: str, role: str) -> psycopg.Connection:
    conn = psycopg.connect(url, autocommit=True)
    register_vector(conn)
    if role != "postgres":
        conn.execute("SELECT set_config('role', %s, false)", (role,))
    return conn


def run_system(
    url: str, system: System, work: list[tuple[str, np.ndarray]], threads: int
) -> dict[str, Any]:
    """Every (user, query) once, split over `threads` sessions; latencies and returned ids."""
    latencies: list[float] = []
    returned: dict[int, list[str]] = {}
    lock = threading.Lock()

    def worker(offset: int) -> None:
        with session(url, system.role) as conn:
            warm_user, warm_query = work[
                offset % len(work)
            ]  # a new session loads its caches: untimed
            conn.execute("SELECT set_config('app.user_id', %s, false)", (warm_user,))
            system.search(conn, warm_user, warm_query)
            for index in range(offset, len(work), threads):
                user, query = work[index]
                # every system gets the same untimed round trip before each query (an application
                # sets the request's identity anyway); only RLS reads it
                conn.execute("SELECT set_config('app.user_id', %s, false)", (user,))
                started = time.perf_counter()
                ids = system.search(conn, user, query)
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    latencies.append(elapsed)
                    returned[index] = ids

    started = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    wall = time.perf_counter() - started
    return {"latencies": latencies, "returned": returned, "qps": len(work) / wall}


def workloads(
    population: Population, mode: dict[str, Any]
) -> dict[str, list[tuple[str, np.ndarray]]]:
    """The (user, query) pairs of each group: light users in turn, heavy users in turn, the empty
    user once; the same pairs for every measurement."""
    queries = population.queries(mode["queries"], seed=4242)
    light = [u for u in population.users if u.startswith("light")]
    heavy = list(population.heavy)
    return {
        "light": [(light[(i * 7) % len(light)], q) for i, q in enumerate(queries)],
        "heavy": [(heavy[i % len(heavy)], q) for i, q in enumerate(queries)],
        "empty": [("nobody", queries[0])],
    }


def measure(
    url: str,
    population: Population,
    owner_of: dict[str, tuple[str, int]],
    mode: dict[str, Any],
    measured: list[System],
) -> dict[str, Any]:
    groups = workloads(population, mode)
    results: dict[str, Any] = {}
    for system in measured:
        results[system.name] = {}
        for group, work in groups.items():
            truth = [
                [str(k) for k in _truth_ids(population, owner_of, user, q)] for user, q in work
            ]
            per_threads = {}
            # one untimed pass first: the system measured first must not pay for cold caches
            # that the ones after it find warm (RLS against service_role read 1.37x from this alone)
            run_system(url, system, work, 1)
            for threads in (1, 2):
                rounds = [run_system(url, system, work, threads) for _ in range(mode["rounds"])]
                recalls = [_recall(r["returned"], truth) for r in rounds]
                short = sum(
                    1 for i, t in enumerate(truth) if len(rounds[0]["returned"][i]) < len(t)
                )
                per_threads[str(threads)] = {
                    "p50_ms": statistics.median(percentile(r["latencies"], 50) for r in rounds),
                    "p95_ms": statistics.median(percentile(r["latencies"], 95) for r in rounds),
                    "p99_ms": statistics.median(percentile(r["latencies"], 99) for r in rounds),
                    "qps": statistics.median(r["qps"] for r in rounds),
                    "recall_at_10": statistics.median(recalls),
                    "mean_rows_returned": float(
                        np.mean([len(v) for v in rounds[0]["returned"].values()])
                    ),
                    "queries_short": short,
                }
            results[system.name][group] = per_threads
            log(
                f"{system.name} / {group}: p95 {per_threads['1']['p95_ms']:.2f} ms,"
                f" recall {per_threads['1']['recall_at_10']:.3f}, qps(2) {per_threads['2']['qps']:.0f}"
            )
    return results


_ids_by_user: dict[str, list[str]] = {}


def _truth_ids(
    population: Population, owner_of: dict[str, tuple[str, int]], user: str, query: np.ndarray
) -> list[str]:
    if user not in population.vectors:
        return []
    if user not in _ids_by_user:
        ids = [""] * population.size(user)
        for memory_id, (owner, index) in owner_of.items():
            if owner == user:
                ids[index] = memory_id
        _ids_by_user[user] = ids
    # every system is asked for similarity >= 0 (search_memories' threshold 0): so is the truth
    vectors = population.vectors[user]
    sims = vectors @ query / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(query))
    return [_ids_by_user[user][i] for i in exact_top(vectors, query) if sims[i] >= 0]


def _recall(returned: dict[int, list[str]], truth: list[list[str]]) -> float:
    scores = [len(set(returned[i]) & set(t)) / len(t) for i, t in enumerate(truth) if t]
    return float(np.mean(scores)) if scores else 1.0


def measure_rls(url: str, population: Population, mode: dict[str, Any]) -> dict[str, Any]:
    """RLS overhead, paired: every query runs as an application user (RLS) and as service_role in
    turn, in two sessions, alternating which goes first, so both see the machine at the same moment.
    Sub-millisecond medians measured one system after the other moved from 0.9x to 1.6x between runs
    on these shared machines; paired, they agree."""
    groups = workloads(population, mode)
    del groups["empty"]
    out: dict[str, Any] = {}
    with session(url, "authenticated") as app, session(url, "service_role") as service:
        sessions = [("authenticated", app), ("service_role", service)]
        for group, work in groups.items():
            times: dict[str, list[float]] = {"authenticated": [], "service_role": []}
            for round_ in range(1 + 2 * mode["rounds"]):  # round 0 warms both up, untimed
                for user, query in work:
                    for name, conn in sessions if round_ % 2 else sessions[::-1]:
                        conn.execute("SELECT set_config('app.user_id', %s, false)", (user,))
                        started = time.perf_counter()
                        conn.execute(MEMPG, (query, user)).fetchall()
                        if round_:
                            times[name].append((time.perf_counter() - started) * 1000)
            rls, plain = (
                statistics.median(times["authenticated"]),
                statistics.median(times["service_role"]),
            )
            out[group] = {
                "authenticated_p50_ms": rls,
                "service_role_p50_ms": plain,
                "ratio": rls / plain,
            }
            log(
                f"RLS overhead, paired, {group}: {rls:.3f} vs {plain:.3f} ms p50 = {rls / plain:.2f}x"
            )
    return out


def measure_hybrid(url: str, population: Population, mode: dict[str, Any]) -> dict[str, Any]:
    queries = population.queries(mode["queries"], seed=99)
    texts = population.query_texts(mode["queries"], seed=99)
    user = next(iter(population.heavy))
    out = {}
    for name, statement in [
        (
            "vector only (search_memories)",
            "SELECT id FROM memory.search_memories(%(q)s, %(u)s, 10, '{}', '{}', 0)",
        ),
        (
            "hybrid (hybrid_search_memories)",
            "SELECT id FROM memory.hybrid_search_memories(%(t)s, %(q)s, %(u)s, 10)",
        ),
    ]:
        with session(url, "service_role") as conn:
            latencies = []
            for i, q in enumerate(queries):
                started = time.perf_counter()
                conn.execute(statement, {"q": q, "u": user, "t": texts[i]}).fetchall()
                latencies.append((time.perf_counter() - started) * 1000)
        out[name] = {"p50_ms": percentile(latencies, 50), "p95_ms": percentile(latencies, 95)}
    return out


def measure_inserts(url: str, population: Population, mode: dict[str, Any]) -> dict[str, Any]:
    """add_memory (dedup trigger on) against plain INSERTs with the dedup trigger disabled, at 0, 10
    and 50% duplicates, counting the planted duplicates that were caught (no new row)."""
    count = mode["inserts"]
    centres = population.centre_matrix()
    out: dict[str, Any] = {}
    with session(url, "postgres") as conn:
        for percent in (0, 10, 50):
            user = f"insert_bench_{percent}"
            rng = np.random.default_rng(percent)
            plan: list[tuple[str, np.ndarray, str]] = []  # text, embedding, planted kind
            originals: list[tuple[str, np.ndarray]] = []
            for i in range(count):
                if originals and rng.random() < percent / 100:
                    text, embedding = originals[int(rng.integers(0, len(originals)))]
                    if i % 2:  # the same fact again, written the same way
                        plan.append((text, embedding, "exact"))
                    else:  # the same fact restated: cosine 0.99
                        plan.append(
                            (f"{text}, restated", with_similarity(embedding, 0.99, seed=i), "near")
                        )
                else:
                    fresh = with_similarity(
                        centres[i % len(centres)], 0.7, seed=percent * 100000 + i
                    )
                    originals.append((f"{user} fact {i}", fresh))
                    plan.append((f"{user} fact {i}", fresh, "new"))
            events: dict[str, int] = {"exact": 0, "near": 0}
            planted: dict[str, int] = {"exact": 0, "near": 0}
            started = time.perf_counter()
            for text, embedding, kind in plan:
                event = conn.execute(
                    "SELECT event FROM memory.add_memory(%s, %s, %s)", (user, text, embedding)
                ).fetchone()[0]
                if kind in planted:
                    planted[kind] += 1
                    if event != "ADD":  # caught: folded into the memory it repeats, no new row
                        events[kind] += 1
            dedup_rate = count / (time.perf_counter() - started)
            # as many rows into the same table with the deduplication trigger disabled (history,
            # audit and normalisation stay on): what deduplication itself costs. The vectors are
            # drawn afresh from the same clusters: re-inserting the vectors just added would make
            # the HNSW insertions of the baseline artificially cheap.
            baseline = [
                with_similarity(centres[i % len(centres)], 0.7, seed=percent * 100000 + 50000 + i)
                for i in range(count)
            ]
            conn.execute("ALTER TABLE memory.memories DISABLE TRIGGER memories_20_deduplicate")
            started = time.perf_counter()
            for i, fresh in enumerate(baseline):
                conn.execute(
                    "INSERT INTO memory.memories (user_id, memory, embedding) VALUES (%s, %s, %s)",
                    (user + "_plain", f"{user} plain fact {i}", fresh),
                )
            plain_rate = count / (time.perf_counter() - started)
            conn.execute("ALTER TABLE memory.memories ENABLE TRIGGER memories_20_deduplicate")
            out[f"{percent}%"] = {
                "add_memory_rows_per_s": round(dedup_rate, 1),
                "plain_insert_rows_per_s": round(plain_rate, 1),
                "ratio": round(dedup_rate / plain_rate, 3),
                "exact_duplicates": planted["exact"],
                "exact_caught": events["exact"],
                "near_duplicates": planted["near"],
                "near_caught": events["near"],
            }
            log(f"inserts {percent}% duplicates: {out[f'{percent}%']}")
    return out


def capture_plans(url: str, population: Population, measured: list[System]) -> dict[str, str]:
    """EXPLAIN (ANALYZE, BUFFERS) of each peer shape for a heavy and a light user; auto_explain for
    the functions. Query vectors are elided from the plans ('[...]')."""
    user = next(iter(population.heavy))
    query = population.queries(1, seed=5)[0]
    plans: dict[str, str] = {}
    with session(url, "postgres") as conn:
        for system in measured:
            if not system.plan_sql or not system.plan_params:
                continue
            for kind, who in (("heavy user", user), ("light user", "light0000")):
                params = system.plan_params(who, query)
                rows = conn.execute(
                    "EXPLAIN (ANALYZE, BUFFERS) " + system.plan_sql, params
                ).fetchall()
                plans[f"{system.name} ({kind})"] = "\n".join(r[0] for r in rows)
        for name, statement in [
            (
                "mempg search_memories (heavy user)",
                "SELECT * FROM memory.search_memories(%s, %s, 10, '{}', '{}', 0)",
            ),
            (
                "mempg search_memories (light user)",
                "SELECT * FROM memory.search_memories(%s, 'light0000', 10, '{}', '{}', 0)",
            ),
        ]:
            notices: list[str] = []
            conn.add_notice_handler(lambda d, sink=notices: sink.append(d.message_primary or ""))
            conn.execute("LOAD 'auto_explain'")
            conn.execute(
                "SET auto_explain.log_min_duration = 0; SET auto_explain.log_analyze = on;"
                " SET auto_explain.log_buffers = on; SET auto_explain.log_nested_statements = on;"
                " SET client_min_messages = log"
            )
            conn.execute(statement, (query, user) if "%s, %s" in statement else (query,))
            conn.execute("SET client_min_messages = notice; SET auto_explain.log_min_duration = -1")
            plans[name] = "\n\n".join(n for n in notices if "memories" in n)
    return {name: VECTOR_LITERAL.sub("'[...]'", plan) for name, plan in plans.items()}


VECTOR_LITERAL = re.compile(r"'\[[-0-9.e,+]{100,}\]'")


# ------------------------------------------------------------------ report
def headline(results: dict[str, Any]) -> dict[str, float]:
    """The ratios and recalls the targets and --compare are about."""
    mempg = results["systems"]["mempg search_memories (authenticated, RLS)"]
    exact, mem0 = (
        results["systems"]["exact search (same filters)"],
        results["systems"][MEM0_NAME],
    )
    inserts = results["inserts"]
    return {
        "recall_light": mempg["light"]["1"]["recall_at_10"],
        "recall_heavy": mempg["heavy"]["1"]["recall_at_10"],
        "p95_ratio_vs_exact_heavy": mempg["heavy"]["1"]["p95_ms"] / exact["heavy"]["1"]["p95_ms"],
        "p95_ratio_vs_exact_light": mempg["light"]["1"]["p95_ms"] / exact["light"]["1"]["p95_ms"],
        "p95_ratio_vs_mem0_heavy": mempg["heavy"]["1"]["p95_ms"] / mem0["heavy"]["1"]["p95_ms"],
        "p95_ratio_vs_mem0_light": mempg["light"]["1"]["p95_ms"] / mem0["light"]["1"]["p95_ms"],
        "mem0_recall_light": mem0["light"]["1"]["recall_at_10"],
        "mem0_recall_heavy": mem0["heavy"]["1"]["recall_at_10"],
        "rls_overhead": max(group["ratio"] for group in results["rls"].values()),
        "insert_ratio_0pct": inserts["0%"]["ratio"],
        "exact_duplicates_caught": sum(v["exact_caught"] for v in inserts.values())
        / max(1, sum(v["exact_duplicates"] for v in inserts.values())),
        "near_duplicates_caught": sum(v["near_caught"] for v in inserts.values())
        / max(1, sum(v["near_duplicates"] for v in inserts.values())),
    }


LOWER_IS_BETTER = {"p95_ratio_vs_exact_heavy", "p95_ratio_vs_exact_light", "rls_overhead"}
REPORTED_ONLY = {"p95_ratio_vs_mem0_heavy", "p95_ratio_vs_mem0_light"}
HIGHER_IS_BETTER = {"insert_ratio_0pct"}
RECALLS = {"recall_light", "recall_heavy", "exact_duplicates_caught", "near_duplicates_caught"}


def regressions(current: dict[str, float], baseline: dict[str, float]) -> list[str]:
    found = []
    for key, value in current.items():
        if key not in baseline:
            continue
        if key in REPORTED_ONLY:
            log(f"reported, not gated: {key} {value:.3f} (baseline {baseline[key]:.3f})")
            continue
        before = baseline[key]
        if key in RECALLS and value < before - RECALL_TOLERANCE:
            found.append(f"{key}: {value:.3f} < baseline {before:.3f} - {RECALL_TOLERANCE}")
        elif key in LOWER_IS_BETTER and value > before * RATIO_TOLERANCE:
            found.append(f"{key}: {value:.3f} > baseline {before:.3f} x {RATIO_TOLERANCE}")
        elif key in HIGHER_IS_BETTER and value < before / RATIO_TOLERANCE:
            found.append(f"{key}: {value:.3f} < baseline {before:.3f} / {RATIO_TOLERANCE}")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--mode", choices=sorted(MODES), default="quick")
    parser.add_argument(
        "--compare", type=Path, help="Baseline JSON: exit 1 when a ratio or recall regresses."
    )
    parser.add_argument(
        "--no-write", action="store_true", help="Do not write results (with --compare)."
    )
    args = parser.parse_args()
    mode = MODES[args.mode]
    server = os.environ.get("DATABASE_URL") or embedded.start(ROOT).url("postgres")
    name = f"mempg_bench_{uuid.uuid4().hex[:8]}"
    url = create_database(server, name)
    try:
        log(f"benchmark ({args.mode}) in database {name}")
        runner = Runner(Project(ROOT), url, SessionSettings(), lambda _m: None)
        report = runner.apply()
        if report.failed:
            raise SystemExit(f"migrations failed: {report.message}")
        with psycopg.connect(url) as conn:
            dim = conn.execute("SELECT mempg.embedding_dim()").fetchone()[0]
            versions = conn.execute(
                "SELECT version(), (SELECT extversion FROM pg_extension WHERE extname = 'vector')"
            ).fetchone()
        population = make_population(mode, dim)
        stores = peers.open_stores(url, dim)
        measured = systems(stores, peers.available())
        owner_of, storage = load(url, population, stores)
        log(f"loaded {storage['rows']} memories; HNSW built in {storage['hnsw_build_seconds']} s")
        results: dict[str, Any] = {
            "mode": args.mode,
            "machine": {
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
                "python": platform.python_version(),
            },
            "versions": {"postgres": versions[0], "pgvector": versions[1]},
            "settings": {
                "dimension": dim,
                **{k: v for k, v in mode.items()},
                "users": len(population.users) + 1,
            },
            "storage": storage,
        }
        results["drivers"] = {system.name: system.driver for system in measured}
        results["systems"] = measure(url, population, owner_of, mode, measured)
        results["rls"] = measure_rls(url, population, mode)
        results["hybrid"] = measure_hybrid(url, population, mode)
        results["inserts"] = measure_inserts(url, population, mode)
        results["plans"] = capture_plans(url, population, measured)
        for store in stores.values():
            store.close()
        results["headline"] = headline(results)
    finally:
        drop_database(server, name)
    log(json.dumps(results["headline"], indent=2))
    if not args.no_write:
        from bench.report import write_outputs

        write_outputs(results, RESULTS, ROOT / "docs" / "benchmarks.md")
    if args.compare:
        baseline = json.loads(args.compare.read_text())["headline"]
        found = regressions(results["headline"], baseline)
        for line in found:
            log(f"REGRESSION {line}")
        raise SystemExit(1 if found else 0)
