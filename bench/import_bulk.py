"""Bulk import benchmark (`make bench-import`): `mempg import`'s path (COPY into the session's
staging tables, memory.import_batch through the deduplication trigger; one session, and two with
--jobs 2) into a database that
already holds 100,000 memories at 1536 dimensions, at 0%, 10% and 50% duplicates, beside two
baselines measured in the same run on rows of the same kind:
  - add_memory one row at a time, each call its own transaction (what an application does today);
  - the same kind of rows by COPY with the triggers off (session_replication_role = replica): no
    checks, no deduplication, no history; what writing the table and its HNSW index costs alone.
And the importer's peak Python memory (tracemalloc) for two batch sizes on a source read lazily,
which must follow the batch size, not the source's.

Writes bench/results/import.json. The 100,000 memories are clustered vectors (500 users of 200),
loaded with COPY before the HNSW index is built, as a restore would.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
import tracemalloc
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psycopg
from pgvector.psycopg import register_vector

try:  # pgvector-python >= 0.4 exports it at the top; 0.3 had it in pgvector.utils only
    from pgvector import HalfVector
except ImportError:
    from pgvector.utils import HalfVector  # type: ignore[no-redef]

from bench.data import clustered, with_similarity
from runner import embedded
from runner.config import Project, SessionSettings
from runner.importing.loader import ImportOptions, run_import
from runner.importing.records import MemoryRow
from runner.migrate import Runner
from runner.operations import create_database, drop_database

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DIM = 1536


class GeneratedSource:
    """Rows made on the fly (never held as a list), so the importer's memory is its own."""

    kind = "bench"

    def __init__(self, name: str, rows: Iterator[MemoryRow]) -> None:
        self.name = name
        self._rows = rows

    def items(self) -> Iterator[MemoryRow]:
        yield from self._rows


class World:
    def __init__(self, users: int, per_user: int, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.users = [f"user{u:04d}" for u in range(users)]
        self.per_user = per_user
        centres = self.rng.normal(size=(64, DIM))
        self.centres = (centres / np.linalg.norm(centres, axis=1, keepdims=True)).astype(np.float32)
        self.vectors = clustered(users * per_user, self.centres, 0.8, seed)

    def stored(self, index: int) -> tuple[str, str, np.ndarray]:
        user = self.users[index // self.per_user]
        return user, f"stored memory {index} of {user}", self.vectors[index]

    def rows(self, count: int, duplicates: float, seed: int) -> list[tuple[str, str, np.ndarray]]:
        """New rows, a share of them exact (same text) or near (cosine 0.99 or 0.96) duplicates
        of stored memories of the same user."""
        rng = random.Random(seed)
        fresh = clustered(count, self.centres, 0.8, seed + 1)
        out = []
        for i in range(count):
            if rng.random() < duplicates:
                user, text, vector = self.stored(rng.randrange(len(self.vectors)))
                kind = rng.choice(["exact", "replace", "merge"])
                if kind == "exact":
                    out.append((user, text.upper(), vector))
                else:
                    sim = 0.99 if kind == "replace" else 0.96
                    out.append(
                        (
                            user,
                            f"{text}, said again {seed}-{i}",
                            with_similarity(vector, sim, seed + i),
                        )
                    )
            else:
                out.append((rng.choice(self.users), f"new memory {seed}-{i}", fresh[i]))
        return out


# how the install stores embeddings (--embedding-type): the type COPY writes in binary
STORED = {"type": "vector"}


def as_stored(vector: np.ndarray) -> object:
    return HalfVector(vector) if STORED["type"] == "halfvec" else vector


def load_world(conn: psycopg.Connection, world: World) -> dict[str, float]:
    """COPY the stored memories with the triggers off, then build the HNSW index."""
    index = conn.execute(
        "SELECT pg_get_indexdef('memory.memories_embedding_ann'::regclass)"
    ).fetchone()[0]
    conn.execute("DROP INDEX memory.memories_embedding_ann")
    started = time.perf_counter()
    conn.execute("SET session_replication_role = replica")
    with conn.cursor().copy(
        "COPY memory.memories (user_id, memory, embedding) FROM STDIN WITH (FORMAT binary)"
    ) as copy:
        copy.set_types(["text", "text", STORED["type"]])
        for i in range(len(world.vectors)):
            user, text, vector = world.stored(i)
            copy.write_row((user, text, as_stored(vector)))
    conn.execute("RESET session_replication_role")
    copied = time.perf_counter() - started
    started = time.perf_counter()
    conn.execute("SET maintenance_work_mem = '2GB'")
    conn.execute(index)
    built = time.perf_counter() - started
    conn.execute("VACUUM ANALYZE memory.memories")
    return {"copy_s": round(copied, 1), "hnsw_build_s": round(built, 1)}


def as_rows(rows: list[tuple[str, str, np.ndarray]], tag: str) -> Iterator[MemoryRow]:
    for i, (user, text, vector) in enumerate(rows):
        yield MemoryRow(
            source_id=f"{tag}-{i}", user_id=user, memory=text, embedding=vector.tolist()
        )


def bulk_import(
    conn: psycopg.Connection, rows: list, tag: str, batch: int, jobs: int = 1, url: str = ""
) -> tuple[float, Counter]:
    def open_worker() -> psycopg.Connection:
        worker = psycopg.connect(url, autocommit=True)
        worker.execute("SET ROLE service_role")
        worker.execute("SET statement_timeout = 0")
        return worker

    started = time.perf_counter()
    options = ImportOptions(batch_size=batch, jobs=jobs)
    report = run_import(
        conn, GeneratedSource(tag, as_rows(rows, tag)), options, open_worker=open_worker
    )
    seconds = time.perf_counter() - started
    assert not report.rejected, report.rejected[:3]
    return len(rows) / seconds, report.events["memory"]


def one_by_one(conn: psycopg.Connection, rows: list) -> tuple[float, Counter]:
    events: Counter[str] = Counter()
    started = time.perf_counter()
    for user, text, vector in rows:
        events[
            conn.execute(
                "SELECT event FROM memory.add_memory(%s, %s, %s)", (user, text, vector)
            ).fetchone()[0]
        ] += 1
    return len(rows) / (time.perf_counter() - started), events


def raw_insert(conn: psycopg.Connection, rows: list) -> float:
    """The same kind of rows by COPY with the triggers off, in one transaction rolled back."""
    started = time.perf_counter()
    with conn.transaction(force_rollback=True):
        conn.execute("SET LOCAL ROLE NONE")  # the owner's, for the next setting
        conn.execute("SET LOCAL session_replication_role = replica")
        with conn.cursor().copy(
            "COPY memory.memories (user_id, memory, embedding) FROM STDIN WITH (FORMAT binary)"
        ) as copy:
            copy.set_types(["text", "text", STORED["type"]])
            for user, text, vector in rows:
                copy.write_row((user, text, as_stored(vector)))
    return len(rows) / (time.perf_counter() - started)


def peak_memory(conn: psycopg.Connection, world: World, count: int, batch: int) -> float:
    rows = (  # generated lazily: the source is not in memory
        MemoryRow(source_id=f"mem{batch}-{i}", user_id=world.users[i % len(world.users)],
                  memory=f"memory-bound row {batch}-{i}", embedding=world.vectors[i % len(world.vectors)].tolist())
        for i in range(count)
    )  # fmt: skip
    tracemalloc.start()
    with conn.transaction(force_rollback=True):
        run_import(conn, GeneratedSource(f"memory-{batch}", rows), ImportOptions(batch_size=batch))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return round(peak / 2**20, 1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.import_bulk", description=__doc__)
    parser.add_argument(
        "--stored", type=int, default=100_000, help="memories already in the database"
    )
    parser.add_argument("--rows", type=int, default=4000, help="rows imported per duplicate share")
    parser.add_argument(
        "--one-by-one", type=int, default=400, help="rows added one by one per share"
    )
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument(
        "--embedding-type",
        choices=["vector", "halfvec"],
        default="vector",
        help="install storing embeddings as this type (halfvec: results in import-halfvec.json)",
    )
    args = parser.parse_args(argv)
    STORED["type"] = args.embedding_type
    server = os.environ.get("DATABASE_URL") or embedded.start(ROOT).url("postgres")
    name = f"mempg_import_{uuid.uuid4().hex[:8]}"
    url = create_database(server, name)
    try:
        report = Runner(Project(ROOT), url, SessionSettings(), lambda _m: None).apply(
            embedding_dim=DIM, embedding_type=args.embedding_type
        )
        if report.failed:
            raise SystemExit(f"migrations failed: {report.message}")
        world = World(users=args.stored // 200, per_user=200, seed=42)
        with psycopg.connect(url, autocommit=True) as conn:
            register_vector(conn)
            conn.execute("UPDATE memory.quota_settings SET enabled = false")
            results: dict[str, object] = {
                "stored": args.stored,
                "dimension": DIM,
                "embedding_type": args.embedding_type,
                "load": load_world(conn, world),
            }
            conn.execute("SET ROLE service_role")
            conn.execute("SET statement_timeout = 0")
            shares: dict[str, object] = {}
            for share in (0.0, 0.1, 0.5):
                seed = int(share * 100) + 7
                rows = world.rows(args.rows, share, seed)
                singles = world.rows(args.one_by_one, share, seed + 1000)
                baseline = world.rows(
                    args.rows, 0.0, seed + 2000
                )  # no duplicates: no dedup to catch them
                imported, events = bulk_import(conn, rows, f"share{share}", 1000)
                parallel_rows = world.rows(args.rows, share, seed + 3000)
                parallel, _ = bulk_import(conn, parallel_rows, f"jobs{share}", 500, jobs=2, url=url)
                added, single_events = one_by_one(conn, singles)
                raw = raw_insert(conn, baseline)
                shares[f"{round(share * 100)}%"] = {
                    "import_rows_per_s": round(imported, 1),
                    "import_2_jobs_rows_per_s": round(parallel, 1),
                    "add_memory_one_by_one_rows_per_s": round(added, 1),
                    "raw_insert_rows_per_s": round(raw, 1),
                    "import_vs_one_by_one": round(imported / added, 2),
                    "import_vs_raw_insert": round(imported / raw, 2),
                    "import_events": dict(events),
                    "one_by_one_events": dict(single_events),
                }
                print(
                    f"{round(share * 100)}% duplicates: {shares[f'{round(share * 100)}%']}",
                    flush=True,
                )
            results["shares"] = shares
            results["importer_peak_python_mb"] = {
                f"batch_{batch}": peak_memory(conn, world, 4000, batch) for batch in (250, 1000)
            }
            results["importer_peak_python_mb_8000_rows_batch_250"] = peak_memory(
                conn, world, 8000, 250
            )
            print(json.dumps(results["importer_peak_python_mb"]), flush=True)
    finally:
        drop_database(server, name)
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        out = "import.json" if args.embedding_type == "vector" else "import-halfvec.json"
        (RESULTS / out).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
