"""Benchmark of the agent schema (0013): `python -m bench.agent` (`make bench-agent`).

In one scratch database, migrated fully, in one run:
* queue: `--jobs` ingestions claimed and completed by 8 worker threads (service_role, each claim
  and each completion its own transaction): jobs per second, and that every job was done once;
* search: a user with `--memories` memories, `--chunks` chunks (of documents of 50 chunks) and
  `--messages` messages, all with embeddings; unified_search over everything and
  hybrid_search_memories, alternated call by call with the same query text and embedding, p50
  and p95 of each and the ratio of the p95s;
* metrics: `--samples` rows COPYed into agent.metrics by service_role: rows per second.
Results in bench/results/agent.json; docs/benchmarks.md has the table. Not a test: figures move
with the machine; ratios are what the targets are about.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import psycopg
from pgvector.psycopg import register_vector

from runner import embedded
from runner.config import Project, SessionSettings
from runner.migrate import Runner
from runner.operations import create_database, drop_database

ROOT = Path(__file__).resolve().parents[1]
# a vocabulary of 3,000 words drawn with Zipf's law (s = 1.1), as natural text is: a few common
# words in many rows, most words in few
_LETTERS = np.array(list("abcdefghijklmnopqrstuvwxyz"))
WORDS = ["".join(np.random.default_rng(i).choice(_LETTERS, size=3 + i % 6)) for i in range(3000)]
_WEIGHTS = 1 / np.arange(1, len(WORDS) + 1) ** 1.1
_WEIGHTS /= _WEIGHTS.sum()


def unit(rng: np.random.Generator, dim: int) -> np.ndarray:
    v = rng.normal(size=dim)
    return (v / np.linalg.norm(v)).astype(np.float32)


def sentence(rng: np.random.Generator, words: int = 10) -> str:
    return " ".join(rng.choice(WORDS, size=words, p=_WEIGHTS))


def session(url: str, role: str, user: str = "") -> psycopg.Connection:
    conn = psycopg.connect(url, autocommit=True)
    register_vector(conn)
    conn.execute(
        "SELECT set_config('role', %s, false), set_config('app.user_id', %s, false)", (role, user)
    )
    return conn


def vacuum(url: str, table: str = "") -> None:
    """VACUUM ANALYZE as the tables' owner: as service_role, VACUUM skips every table it does not
    own (all of agent's and memory's), which left the chunks' and messages' visibility maps empty
    and their exact-path counts reading the heap (before 2026-12-03)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"VACUUM ANALYZE {table}")


def percentile(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 3)


def measure_queue(url: str, jobs: int, workers: int) -> dict[str, object]:
    with session(url, "service_role") as conn:
        conn.execute(
            "INSERT INTO agent.ingestions (user_id, source_id, uri)"
            " SELECT 'u' || mod(i, 20), 'repo', 'doc-' || i FROM generate_series(1, %s) AS i",
            (jobs,),
        )
    vacuum(url, "agent.ingestions")
    done: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(workers + 1)

    def work(name: str) -> None:
        with session(url, "service_role") as conn:
            start.wait()
            while True:
                row = conn.execute(
                    "SELECT id FROM agent.claim_ingestion(%s)", (name,), prepare=True
                ).fetchone()
                if row is None:
                    return
                conn.execute(
                    "SELECT agent.complete_ingestion(%s, %s, 1, 10)", (row[0], name), prepare=True
                )
                with lock:
                    done.append(row[0])

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(workers)]
    for thread in threads:
        thread.start()
    start.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    return {
        "jobs": jobs,
        "workers": workers,
        "seconds": round(seconds, 3),
        "jobs_per_second": round(jobs / seconds, 1),
        "each_job_once": len(done) == jobs == len(set(done)),
    }


def load_user(url: str, dim: int, args: argparse.Namespace, rng: np.random.Generator) -> None:
    with session(url, "service_role") as conn:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO memory.memories (user_id, memory, embedding) VALUES ('searcher', %s, %s)",
                [(f"{sentence(rng)} {i}", unit(rng, dim)) for i in range(args.memories)],
            )
            cur.executemany(
                "INSERT INTO agent.conversations (user_id, agent_id, session_id, role, content, embedding)"
                " VALUES ('searcher', %s, %s, 'assistant', %s, %s)",
                [
                    (f"agent-{i % 3}", f"s{i % 40}", f"{sentence(rng)} {i}", unit(rng, dim))
                    for i in range(args.messages)
                ],
            )
        for doc in range(args.chunks // 50):
            conn.execute(
                "SELECT agent.ingest_document('searcher', %s, %s, %s, %s::vector[])",
                (
                    f"repo-{doc % 4}",
                    f"doc-{doc}.md",
                    [f"{sentence(rng, 30)} {doc}.{i}" for i in range(50)],
                    [unit(rng, dim) for _ in range(50)],
                ),
            )
        # other users' rows around the searcher's, as in a shared table
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO memory.memories (user_id, memory, embedding) VALUES (%s, %s, %s)",
                [
                    (f"other-{i % 50}", f"{sentence(rng)} {i}", unit(rng, dim))
                    for i in range(args.memories)
                ],
            )
    vacuum(url)  # every table, before any search: the visibility map decides index-only counts


def measure_search(url: str, dim: int, args: argparse.Namespace) -> dict[str, object]:
    rng = np.random.default_rng(3)
    load_user(url, dim, args, rng)
    unified = "SELECT * FROM agent.unified_search(%s, %s, 'searcher')"
    hybrid = "SELECT * FROM memory.hybrid_search_memories(%s, %s, 'searcher')"
    times: dict[str, list[float]] = {"unified": [], "hybrid": []}
    with session(url, "authenticated", "searcher") as conn:
        for i in range(args.searches + 20):
            text, embedding = sentence(rng, 6), unit(rng, dim)
            order = [("unified", unified), ("hybrid", hybrid)]
            if i % 2:
                order.reverse()
            for name, query in order:
                started = time.perf_counter()
                rows = conn.execute(query, (text, embedding)).fetchall()
                took = (time.perf_counter() - started) * 1000
                assert rows, name
                if i >= 20:  # warm-up: plans cached, pages in memory
                    times[name].append(took)
    out: dict[str, object] = {
        "memories": args.memories,
        "chunks": args.chunks,
        "messages": args.messages,
        "searches": args.searches,
    }
    for name, values in times.items():
        out[name] = {
            "p50_ms": round(statistics.median(values), 3),
            "p95_ms": percentile(values, 95),
        }
    out["p95_ratio"] = round(out["unified"]["p95_ms"] / out["hybrid"]["p95_ms"], 3)  # type: ignore[index]
    return out


def measure_metrics(url: str, samples: int) -> dict[str, object]:
    rows = [
        (f"u{i % 20}", f"component-{i % 8}", "latency", f'{{"ms": {i % 97}, "rows": {i % 13}}}')
        for i in range(samples)
    ]
    with session(url, "service_role") as conn:
        started = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY agent.metrics (user_id, component, metric_type, metrics) FROM STDIN"
            ) as copy,
        ):
            for row in rows:
                copy.write_row(row)
        seconds = time.perf_counter() - started
    return {
        "rows": samples,
        "seconds": round(seconds, 3),
        "rows_per_second": round(samples / seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.agent", description=__doc__)
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--memories", type=int, default=2000)
    parser.add_argument("--chunks", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--searches", type=int, default=200)
    parser.add_argument("--samples", type=int, default=200_000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "agent.json")
    args = parser.parse_args()
    server = embedded.start(ROOT).url("postgres")
    name = f"mempg_bench_agent_{uuid.uuid4().hex[:6]}"
    url = create_database(server, name)
    try:
        report = Runner(Project(ROOT), url, SessionSettings(), lambda _m: None).apply(
            to=None, show_sql=False
        )
        assert not report.failed, report.message
        with psycopg.connect(url, autocommit=True) as admin:
            dim = admin.execute("SELECT mempg.embedding_dim()").fetchone()[0]
            admin.execute(
                "UPDATE memory.quota_settings SET enabled = false"
            )  # the database, not the limits
        result = {
            "queue": measure_queue(url, args.jobs, args.workers),
            "search": measure_search(url, dim, args),
            "metrics": measure_metrics(url, args.samples),
            "embedding_dim": dim,
        }
    finally:
        drop_database(server, name)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
