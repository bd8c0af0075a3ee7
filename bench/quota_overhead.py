"""The overhead of quotas and rate limits (0011_quotas) on add_memory and search_memories, side by
side in one run: `python -m bench.quota_overhead [--adds N] [--searches N]`.

Two scratch databases on the same server: one migrated up to the migration before 0011 (no
check at all: "before"), one fully migrated. On the latter, a user on the default plan
("limited") and a user on the plan 'unlimited' (the check looks the limit up and finds none). Every
call alternates between the three, in a random order each round, so they share the machine's
state. The default plan is raised
so that nothing is refused: every call runs the whole check (the bucket's upsert, and for an add
the totals' upsert) and succeeds. Writes JSON to
bench/results/quota_overhead.json. Not a test: figures move with the machine; ratios are what
docs/memory.md reports.
"""

from __future__ import annotations

import argparse
import json
import statistics
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
from runner.project import load_migrations

ROOT = Path(__file__).resolve().parents[1]
QUOTAS = "0011_quotas"


def unit(rng: np.random.Generator, dim: int) -> np.ndarray:
    v = rng.normal(size=dim)
    return (v / np.linalg.norm(v)).astype(np.float32)


def acting(url: str, user: str) -> psycopg.Connection:
    conn = psycopg.connect(url, autocommit=True)
    register_vector(conn)
    conn.execute(
        "SELECT set_config('role', 'authenticated', false), set_config('app.user_id', %s, false)",
        (user,),
    )
    return conn


def timed(conn: psycopg.Connection, query: str, params: tuple) -> float:
    started = time.perf_counter()
    conn.execute(query, params).fetchall()
    return (time.perf_counter() - started) * 1000


def p50(values: list[float]) -> float:
    return round(statistics.median(values), 4)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.quota_overhead", description=__doc__)
    parser.add_argument("--adds", type=int, default=600)
    parser.add_argument("--searches", type=int, default=3000)
    parser.add_argument("--memories", type=int, default=300, help="the searching user's memories")
    args = parser.parse_args()
    migrations = [m.id for m in load_migrations(Project(ROOT))]
    before = migrations[migrations.index(QUOTAS) - 1]
    server = embedded.start(ROOT).url("postgres")
    names = {
        "before": f"mempg_quota_before_{uuid.uuid4().hex[:6]}",
        "after": f"mempg_quota_after_{uuid.uuid4().hex[:6]}",
    }
    urls = {key: create_database(server, name) for key, name in names.items()}
    try:
        for key, url in urls.items():
            report = Runner(Project(ROOT), url, SessionSettings(), lambda _m: None).apply(
                to=before if key == "before" else None, show_sql=False
            )
            assert not report.failed, report.message
        with psycopg.connect(urls["after"], autocommit=True) as admin:
            dim = admin.execute("SELECT mempg.embedding_dim()").fetchone()[0]
            admin.execute(
                "UPDATE memory.rate_limits SET capacity = 1000000, refill_per_second = 1000000 WHERE plan = 'default'"
            )
            admin.execute(
                "UPDATE memory.quota_plans SET max_memories = NULL, max_bytes = NULL WHERE plan = 'default'"
            )
            admin.execute(
                "INSERT INTO memory.user_quota_plans (user_id, plan)"
                " VALUES ('unlimited', 'unlimited'), ('searcher_unlimited', 'unlimited')"
            )
        # (database, adding user, searching user) of each variant
        variants = {
            "before": (urls["before"], "limited", "searcher"),
            "limited": (urls["after"], "limited", "searcher"),
            "unlimited": (urls["after"], "unlimited", "searcher_unlimited"),
        }
        # the searching users' memories, the same in every variant
        rng = np.random.default_rng(7)
        rows = [(f"searcher fact {i}", unit(rng, dim)) for i in range(args.memories)]
        for url, _adder, searcher in variants.values():
            with acting(url, searcher) as conn:
                for text, embedding in rows:
                    conn.execute(
                        "SELECT memory.add_memory(%s, %s, %s)", (searcher, text, embedding)
                    )
        for url in urls.values():
            with psycopg.connect(url, autocommit=True) as admin:
                admin.execute("VACUUM ANALYZE")
        adders = {key: acting(url, adder) for key, (url, adder, _s) in variants.items()}
        searchers = {key: acting(url, searcher) for key, (url, _a, searcher) in variants.items()}
        times: dict[str, dict[str, list[float]]] = {"add": {}, "search": {}}
        add = "SELECT * FROM memory.add_memory(%s, %s, %s)"
        search = "SELECT * FROM memory.search_memories(%s, %s, 10, '{}', '{}', 0)"
        rng = np.random.default_rng(11)
        for i in range(args.adds + args.searches):
            kind = "add" if i < args.adds else "search"
            embedding = unit(rng, dim)
            order = list(variants.items())
            rng.shuffle(order)  # no variant always first (or last) after the others
            for key, (_url, adder, searcher) in order:
                if kind == "add":
                    took = timed(adders[key], add, (adder, f"fact {i} of {adder}", embedding))
                else:
                    took = timed(searchers[key], search, (embedding, searcher))
                times[kind].setdefault(key, []).append(took)
            if kind == "search":  # the hook alone, against an empty round trip of the same session
                hook = timed(
                    searchers["limited"], "SELECT memory.take_token('search', 'searcher')", ()
                )
                times.setdefault("take_token", {}).setdefault("hook", []).append(hook)
                empty = timed(searchers["limited"], "SELECT 1", ())
                times["take_token"].setdefault("select_1", []).append(empty)
        result = {
            "adds": args.adds,
            "searches": args.searches,
            "searcher_memories": args.memories,
            "p50_ms": {kind: {key: p50(v) for key, v in t.items()} for kind, t in times.items()},
        }
        result["ratio_to_before"] = {
            kind: {key: round(v / result["p50_ms"][kind]["before"], 3) for key, v in t.items()}
            for kind, t in result["p50_ms"].items()
            if kind != "take_token"
        }
        result["ratio_limited_to_unlimited"] = {
            kind: round(result["p50_ms"][kind]["limited"] / result["p50_ms"][kind]["unlimited"], 3)
            for kind in ("add", "search")
        }
        hook = result["p50_ms"]["take_token"]
        result["take_token_ms_over_select_1"] = round(hook["hook"] - hook["select_1"], 4)
        with psycopg.connect(urls["after"], autocommit=True) as admin:
            result["refusals"] = sum(
                r[0] for r in admin.execute("SELECT refusals FROM ops.quota_refusals").fetchall()
            )
        for conn in [*adders.values(), *searchers.values()]:
            conn.close()
        out = ROOT / "bench" / "results" / "quota_overhead.json"
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2))
    finally:
        for name in names.values():
            drop_database(server, name)


if __name__ == "__main__":
    main()
