"""The latency half of the quality benchmark (bench/quality.py): a user with 5,000+ memories in a
50,000-row table, bulk-loaded into the same scratch database, and each mempg method's p50/p95 for
the benchmark's questions, measured side by side."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import psycopg

from runner.operations import bulk_load_memories

if TYPE_CHECKING:
    from bench.quality import Question

HEAVY, FILLER_USERS, FILLER_SIZE, MIN_ROWS = "heavy", 400, 110, 50_000
NOISE, ROUNDS, WARMUP = 0.01, 2, 50
SETTINGS = {
    "user": HEAVY,
    "filler_users": FILLER_USERS,
    "filler_size": FILLER_SIZE,
    "noise_sigma": NOISE,
    "rounds": ROUNDS,
    "warmup_queries": WARMUP,
    "order": "per question, the four statements in turn; the first one rotates per question",
    "role": "postgres (superuser: RLS does not apply)",
}


def noisy(rng: np.random.Generator, vectors: np.ndarray) -> np.ndarray:
    out = vectors + rng.normal(0, NOISE, size=vectors.shape).astype(np.float32)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def build_heavy(conn: psycopg.Connection, texts: list[str], vectors: np.ndarray) -> dict[str, Any]:
    """User "heavy" holds every turn twice, and FILLER_USERS users FILLER_SIZE turns each, as
    "<turn> (copy N)" (N counts the user's rows, so deduplication would fold none) with the turn's
    embedding plus Gaussian noise (NOISE per dimension, renormalised). COPY inside
    bulk_load_memories: triggers off, vector indexes rebuilt after; then VACUUM ANALYZE."""
    rng = np.random.default_rng(20261212)
    plan = [(HEAVY, np.concatenate([np.arange(len(texts))] * 2))]
    plan += [
        (f"filler{u:03d}", rng.choice(len(texts), FILLER_SIZE, replace=False))
        for u in range(FILLER_USERS)
    ]
    with (
        bulk_load_memories(conn) as timings,
        conn.cursor().copy(
            "COPY memory.memories (user_id, memory, embedding) FROM STDIN WITH (FORMAT BINARY)"
        ) as copy,
    ):
        copy.set_types(["text", "text", "vector"])
        for user, picks in plan:
            for n, (i, row) in enumerate(zip(picks, noisy(rng, vectors[picks]), strict=True), 1):
                copy.write_row((user, f"{texts[i]} (copy {n})", row))
    started = time.perf_counter()
    conn.execute("VACUUM ANALYZE memory.memories")
    row = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE user_id = %s), count(DISTINCT user_id),"
        " pg_total_relation_size('memory.memories') FROM memory.memories",
        (HEAVY,),
    ).fetchone()
    assert row is not None
    if row[0] < MIN_ROWS:
        raise SystemExit(f"the latency table holds {row[0]} rows, fewer than {MIN_ROWS}")
    return {
        "table_rows": row[0],
        "heavy_memories": row[1],
        "users": row[2],
        "table_mib": round(row[3] / 2**20, 1),
        "copy_seconds": timings["load_seconds"],
        "index_build_seconds": timings["index_build_seconds"],
        "vacuum_analyze_seconds": round(time.perf_counter() - started, 2),
    }


def measure_latency(
    conn: psycopg.Connection,
    statements: dict[str, str],
    questions: list[Question],
    embeddings: np.ndarray,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """Each question's statements in turn against user "heavy", so that the machine's noise hits
    every method alike (the first method rotates per question, so none is always first); ROUNDS
    timed rounds after an untimed warm-up of WARMUP questions."""
    names = list(statements)
    times: dict[str, list[float]] = {name: [] for name in names}
    rows: dict[str, list[int]] = {name: [] for name in names}
    for round_ in range(ROUNDS + 1):
        batch = questions[:WARMUP] if round_ == 0 else questions
        for i, q in enumerate(batch):
            params = {"emb": embeddings[q.index], "user": HEAVY, "question": q.text}
            first = i % len(names)
            for name in names[first:] + names[:first]:
                started = time.perf_counter()
                found = conn.execute(statements[name], params).fetchall()
                elapsed = (time.perf_counter() - started) * 1000
                if round_:
                    times[name].append(elapsed)
                    rows[name].append(len(found))
        progress(f"latency round {round_} done" + (" (untimed warm-up)" if round_ == 0 else ""))
    return {
        name: {
            "p50_ms": round(float(np.percentile(times[name], 50)), 3),
            "p95_ms": round(float(np.percentile(times[name], 95)), 3),
            "mean_ms": round(float(np.mean(times[name])), 3),
            "queries": len(times[name]),
            "mean_rows_returned": round(float(np.mean(rows[name])), 2),
        }
        for name in names
    }
