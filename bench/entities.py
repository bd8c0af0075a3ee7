"""Entity benchmark (`make bench-entities`): memory.upsert_entity() latency for a user who holds
10,000 entities, and memory.entity_neighbourhood() at depth 2 over 100,000 relations, each beside
its own baseline measured in the same run (a primary-key lookup of one entity; a depth-1 walk).

Writes bench/results/entities.json. Names are first name + surname from two lists of 100 (so
every name has 99 others sharing its first name and 99 its surname: trigram neighbours aplenty).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
import uuid
from pathlib import Path

import numpy as np
import psycopg

from runner import embedded
from runner.config import Project, SessionSettings
from runner.migrate import Runner
from runner.operations import create_database, drop_database

FIRST = (  # noqa: SIM905
    "James Mary John Patricia Robert Jennifer Michael Linda William Elizabeth David Barbara Richard Susan "
    "Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy Matthew Betty Anthony Sandra "
    "Mark Margaret Donald Ashley Steven Kimberly Paul Emily Andrew Donna Joshua Michelle Kenneth Carol Kevin "
    "Amanda Brian Dorothy George Melissa Timothy Deborah Ronald Stephanie Edward Rebecca Jason Sharon Jeffrey "
    "Laura Ryan Cynthia Jacob Kathleen Gary Amy Nicholas Angela Eric Shirley Jonathan Anna Stephen Brenda "
    "Larry Pamela Justin Emma Scott Nicole Brandon Helen Benjamin Samantha Samuel Katherine Gregory Christine "
    "Alexander Debra Frank Rachel Patrick Carolyn Raymond Janet Jack Catherine Dennis Maria Jerry Heather "
    "Tyler Diane Aaron Ruth Jose Julie"
).split()
SURNAMES = (  # noqa: SIM905
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez "
    "Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark "
    "Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams "
    "Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker "
    "Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper "
    "Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson Watson Brooks Chavez Wood James "
    "Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel Myers Long Ross Foster Jimenez"
).split()
ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def percentiles(times: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(float(np.percentile(times, 50)), 3),
        "p95_ms": round(float(np.percentile(times, 95)), 3),
    }


def timed(conn: psycopg.Connection, statement: str, params: list[tuple]) -> list[float]:
    out = []
    for p in params:
        started = time.perf_counter()
        conn.execute(statement, p).fetchall()
        out.append((time.perf_counter() - started) * 1000)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.entities", description=__doc__)
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--relations", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument(
        "--keep", action="store_true", help="Keep the scratch database (its name is printed)."
    )
    args = parser.parse_args(argv)
    rng = random.Random(42)
    server = os.environ.get("DATABASE_URL") or embedded.start(ROOT).url("postgres")
    name = f"mempg_entities_{uuid.uuid4().hex[:8]}"
    url = create_database(server, name)
    try:
        report = Runner(Project(ROOT), url, SessionSettings(), lambda _m: None).apply(
            embedding_dim=384
        )
        if report.failed:
            raise SystemExit(f"migrations failed: {report.message}")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("UPDATE memory.quota_settings SET enabled = false")
            started = time.perf_counter()
            names = [f"{f} {s}" for f in FIRST for s in SURNAMES][: args.entities]
            with conn.cursor().copy(
                "COPY memory.entities (user_id, entity_type, name) FROM STDIN"
            ) as copy:
                for n in names:
                    copy.write_row(("heavy", "person", n))
            load_s = time.perf_counter() - started
            ids = [r[0] for r in conn.execute("SELECT id FROM memory.entities ORDER BY id")]
            conn.execute(
                "INSERT INTO memory.entity_relations (user_id, subject_id, relation, object_id, valid_from)"
                " SELECT 'heavy', s, (ARRAY['knows', 'member_of', 'works_on', 'likes', 'related_to'])[1 + g %% 5], o,"
                "        '2020-01-01'::timestamptz + (g || ' minutes')::interval"
                " FROM (SELECT g, %(ids)s::uuid[] AS ids FROM generate_series(1, %(n)s) AS g) AS x,"
                "      LATERAL (SELECT ids[1 + (hashint4(g) & 2147483647) %% cardinality(ids)] AS s,"
                "                      ids[1 + (hashint4(g + 7919) & 2147483647) %% cardinality(ids)] AS o) AS p"
                " WHERE s <> o ON CONFLICT DO NOTHING",
                {"ids": ids, "n": args.relations},
            )
            relations = conn.execute("SELECT count(*) FROM memory.entity_relations").fetchone()[0]
            conn.execute("VACUUM ANALYZE memory.entities")
            conn.execute("VACUUM ANALYZE memory.entity_relations")
            conn.execute(
                "SELECT set_config('role', 'authenticated', false), set_config('app.user_id', 'heavy', false)"
            )
            picks = [rng.randrange(1, len(names) + 1) for _ in range(args.queries)]
            existing = [(names[i - 1].upper(),) for i in picks]
            typo = [(names[i - 1][:-1],) for i in picks]  # the surname's last letter dropped
            new = [(f"newcomer {uuid.uuid4().hex}",) for _ in picks]
            upsert = "SELECT * FROM memory.upsert_entity('heavy', %s, 'person')"
            lookup = "SELECT * FROM memory.entities WHERE id = %s"
            starts = [(ids[rng.randrange(len(ids))],) for _ in range(args.queries)]
            for warm in (upsert, lookup):
                timed(conn, warm, existing[:20] if warm == upsert else starts[:20])
            results = {
                "entities": args.entities,
                "relations": relations,
                "entity_load_s": round(load_s, 2),
                "upsert_existing_name": percentiles(timed(conn, upsert, existing)),
                "upsert_near_spelling": percentiles(timed(conn, upsert, typo)),
                "upsert_new_name": percentiles(timed(conn, upsert, new)),
                "primary_key_lookup": percentiles(timed(conn, lookup, starts)),
                "neighbourhood_depth_1": percentiles(
                    timed(conn, "SELECT * FROM memory.entity_neighbourhood(%s, 1)", starts)
                ),
                "neighbourhood_depth_2": percentiles(
                    timed(conn, "SELECT * FROM memory.entity_neighbourhood(%s, 2)", starts)
                ),
                "neighbourhood_depth_2_rows": conn.execute(
                    "SELECT avg(n) FROM (SELECT (SELECT count(*) FROM memory.entity_neighbourhood(s, 2)) AS n"
                    " FROM unnest(%s::uuid[]) AS s) x",
                    ([s[0] for s in starts[:100]],),
                ).fetchone()[0],
            }
            results["neighbourhood_depth_2_rows"] = round(
                float(results["neighbourhood_depth_2_rows"]), 1
            )
            results["targets"] = [
                {
                    "target": "upsert_entity p95 <= 2 ms (10,000 entities)",
                    "value": max(
                        results[k]["p95_ms"]
                        for k in ("upsert_existing_name", "upsert_near_spelling", "upsert_new_name")
                    ),
                    "bound": 2.0,
                },
                {
                    "target": "neighbourhood depth 2 p95 <= 10 ms (100,000 relations)",
                    "value": results["neighbourhood_depth_2"]["p95_ms"],
                    "bound": 10.0,
                },
            ]
            for t in results["targets"]:
                t["met"] = t["value"] <= t["bound"]
    finally:
        if args.keep:
            print(f"kept database {name}")
        else:
            drop_database(server, name)
    print(json.dumps(results, indent=2))
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "entities.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
