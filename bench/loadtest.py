"""`make loadtest`: pgbench's mixed workload as authenticated users, then the invariants.

In a scratch database migrated with the runner, a few hundred users get a few memories each, and
the helper schema `loadtest` (bench/pgbench/setup.sql): deterministic embeddings per (user, fact)
with near-duplicates, and loadtest.events, where every add logs what add_memory returned in its own
transaction. The wheel's pgbench runs three scripts (bench/pgbench/), each one transaction as an
authenticated user (set_config(..., true) and SET LOCAL ROLE): add (exact duplicates, restated
facts that the dedup trigger turns into UPDATE or MERGE, new facts), search and hybrid search, at
8, 32 and 64 clients in turn. Per client count and script: TPS, p50/p99 latency (pgbench's
per-transaction log), failed transactions, aborted clients. Then the invariants, which fail the
run (exit 1) when one breaks:
  - no two live memories of one scope (user, agent) with the same hash;
  - history rows equal events: every ADD, UPDATE and MERGE that an add returned has its history
    row, every memory's version equals its history rows, and every memory has exactly one ADD;
  - no row written outside its owner: every event and history row belongs to the user who wrote it;
  - pgbench's committed adds equal the events logged.
Results: bench/results/loadtest.json (and a table on stdout).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import psycopg

from runner import cluster, embedded
from runner.config import Project, SessionSettings
from runner.migrate import Runner
from runner.operations import create_database, drop_database

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "bench" / "pgbench"
RESULTS = ROOT / "bench" / "results"
MIX = {"add": 4, "search": 3, "hybrid": 3}  # weights of the scripts
FACTS = 8


def log(message: str) -> None:
    print(f"[loadtest {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def install(url: str) -> None:
    """The helper schema (embeddings, fact texts, the events log)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute((SCRIPTS / "setup.sql").read_text())


def seed(url: str, users: int, per_user: int) -> int:
    """Each user's first facts, added through add_memory as that user; returns the adds made.
    The users are on the `unlimited` quota plan: the load test measures the database under load,
    not the rate limits (tests/sql/test_memory_quotas.py does), and its invariants expect every
    transaction to succeed."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO memory.user_quota_plans (user_id, plan)"
            " SELECT 'u' || g, 'unlimited' FROM generate_series(1, %s) AS g ON CONFLICT DO NOTHING",
            (users,),
        )
        for user in range(1, users + 1):
            with conn.transaction():
                conn.execute("SELECT set_config('app.user_id', %s, true)", (f"u{user}",))
                conn.execute("SET LOCAL ROLE authenticated")
                conn.execute(
                    "INSERT INTO loadtest.events (memory_id, event, app_user)"
                    " SELECT a.id, a.event, current_setting('app.user_id')"
                    " FROM generate_series(1, %s) AS f,"
                    " LATERAL memory.add_memory(%s, loadtest.fact_text(%s, f, 1, 0),"
                    "   loadtest.vec(%s, f, 1, 0), '{\"source\": \"seed\"}', '{load}') AS a",
                    (per_user, f"u{user}", user, user),
                )
    return users * per_user


def pgbench_command(
    url: str,
    *,
    clients: int,
    duration: int,
    users: int,
    logdir: Path,
    mix: dict[str, int] = MIX,
) -> list[str]:
    """The wheel's pgbench with the given scripts, per-transaction logs into logdir."""
    command = [
        str(cluster.bin_path("pgbench")),
        "--no-vacuum",
        f"--client={clients}",
        f"--jobs={min(clients, 4)}",
        f"--time={duration}",
        "--log",
        f"--log-prefix={logdir / 'tx'}",
        "--failures-detailed",
        f"--define=users={users}",
        f"--define=facts={FACTS}",
    ]
    command += [f"--file={SCRIPTS / (name + '.sql')}@{weight}" for name, weight in mix.items()]
    return [*command, url]


def parse_logs(logdir: Path, names: list[str]) -> dict[str, dict[str, Any]]:
    """Per script: committed transactions, failures, latencies (ms), from pgbench's logs.

    A line is `client transaction latency_us script epoch_s epoch_us`; the latency field says
    `failed` (or the failure's kind) for a transaction that did not commit."""
    latencies: dict[int, list[float]] = defaultdict(list)
    failed: dict[int, int] = defaultdict(int)
    first, last = float("inf"), 0.0
    for path in logdir.glob("tx*"):
        for line in path.read_text().splitlines():
            fields = line.split()
            if len(fields) < 6:
                continue
            script = int(fields[3])
            stamp = int(fields[4]) + int(fields[5]) / 1e6
            first, last = min(first, stamp), max(last, stamp)
            if fields[2].isdigit():
                latencies[script].append(int(fields[2]) / 1000)
            else:
                failed[script] += 1
    span = max(last - first, 1e-9)
    report = {}
    for number, name in enumerate(names):
        values = sorted(latencies.get(number, []))
        report[name] = {
            "transactions": len(values),
            "failed": failed.get(number, 0),
            "tps": round(len(values) / span, 1),
            "p50_ms": round(statistics.median(values), 2) if values else None,
            "p99_ms": round(values[min(len(values) - 1, int(len(values) * 0.99))], 2)
            if values
            else None,
        }
    return report


def aborted_clients(stderr: str) -> list[str]:
    """pgbench's lines for clients that stopped on an error other than a retryable one."""
    return [line for line in stderr.splitlines() if "aborted" in line and "client" in line]


INVARIANTS = {
    "duplicate live memories in one scope": """
        SELECT count(*) FROM (
            SELECT 1 FROM memory.memories WHERE NOT is_deleted
            GROUP BY user_id, coalesce(agent_id, ''), hash HAVING count(*) > 1) AS d""",
    "memories whose version differs from their history rows": """
        SELECT count(*) FROM memory.memories AS m
        WHERE m.version <> (SELECT count(*) FROM memory.memory_history AS h WHERE h.memory_id = m.id)""",
    "memories without exactly one ADD": """
        SELECT count(*) FROM memory.memories AS m
        WHERE (SELECT count(*) FROM memory.memory_history AS h
               WHERE h.memory_id = m.id AND h.event = 'ADD') <> 1""",
    "history rows minus logged ADD, UPDATE and MERGE events": """
        SELECT (SELECT count(*) FROM memory.memory_history
                WHERE user_id IN (SELECT app_user FROM loadtest.events))
             - (SELECT count(*) FROM loadtest.events WHERE event IN ('ADD', 'UPDATE', 'MERGE'))""",
    "logged events whose memory is missing": """
        SELECT count(*) FROM loadtest.events AS e
        WHERE NOT EXISTS (SELECT 1 FROM memory.memories AS m WHERE m.id = e.memory_id)""",
    "events or history rows written outside their owner": """
        SELECT (SELECT count(*) FROM loadtest.events AS e JOIN memory.memories AS m ON m.id = e.memory_id
                WHERE m.user_id <> e.app_user)
             + (SELECT count(*) FROM memory.memory_history AS h
                WHERE h.app_user_id IS DISTINCT FROM h.user_id)""",
}


def check_invariants(url: str) -> dict[str, int]:
    """Every invariant's count of violations (all 0 when the data is sound)."""
    with psycopg.connect(url) as conn:
        return {name: int(conn.execute(query).fetchone()[0]) for name, query in INVARIANTS.items()}


def counts(url: str) -> dict[str, Any]:
    """Rows written, and the events add_memory returned, by kind (ADD, NOOP, UPDATE, MERGE)."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM memory.memories), (SELECT count(*) FROM memory.memory_history),"
            " (SELECT count(*) FROM loadtest.events)"
        ).fetchone()
        kinds = dict(
            conn.execute(
                "SELECT event, count(*) FROM loadtest.events GROUP BY 1 ORDER BY 1"
            ).fetchall()
        )
    return {"memories": row[0], "history_rows": row[1], "events": row[2], "events_by_kind": kinds}


def run_level(url: str, clients: int, duration: int, users: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="mempg-loadtest-") as folder:
        logdir = Path(folder)
        command = pgbench_command(
            url, clients=clients, duration=duration, users=users, logdir=logdir
        )
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        per_script = parse_logs(logdir, list(MIX))
    aborted = aborted_clients(result.stderr)
    return {
        "clients": clients,
        "duration_s": duration,
        "exit_code": result.returncode,
        "aborted_clients": len(aborted),
        "aborted": aborted[:5],
        "scripts": per_script,
        "tps": round(sum(s["tps"] for s in per_script.values()), 1),
    }


def table(levels: list[dict[str, Any]]) -> str:
    lines = [
        "| clients | script | TPS | p50 ms | p99 ms | failed | aborted clients |",
        "|---|---|---|---|---|---|---|",
    ]
    for level in levels:
        for name, stats in level["scripts"].items():
            lines.append(
                f"| {level['clients']} | {name} | {stats['tps']} | {stats['p50_ms']} |"
                f" {stats['p99_ms']} | {stats['failed']} | {level['aborted_clients']} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.loadtest", description=__doc__)
    parser.add_argument("--clients", default="8,32,64", help="client counts, run in turn")
    parser.add_argument("--duration", type=int, default=20, help="seconds per client count")
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--seed-per-user", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS / "loadtest.json")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    levels_wanted = [int(c) for c in args.clients.split(",") if c.strip()]
    server = os.environ.get("DATABASE_URL") or embedded.start(ROOT).url("postgres")
    name = f"mempg_loadtest_{uuid.uuid4().hex[:8]}"
    url = create_database(server, name)
    try:
        log(f"migrating scratch database {name}")
        report = Runner(Project(ROOT), url, SessionSettings(), lambda _m: None).apply()
        if report.failed:
            raise SystemExit(f"migrations failed: {report.message}")
        install(url)
        began = time.monotonic()
        seeded = seed(url, args.users, args.seed_per_user)
        log(f"seeded {seeded} memories for {args.users} users in {time.monotonic() - began:.1f} s")
        levels = []
        for clients in levels_wanted:
            log(f"{clients} clients for {args.duration} s")
            level = run_level(url, clients, args.duration, args.users)
            log(f"{clients} clients: {level['tps']} TPS, {level['aborted_clients']} aborted")
            levels.append(level)
        violations = check_invariants(url)
        adds = sum(level["scripts"]["add"]["transactions"] for level in levels)
        totals = counts(url)
        violations["pgbench's committed adds minus logged events"] = (
            totals["events"] - seeded - adds
        )
        with psycopg.connect(url) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
    finally:
        if not args.keep:
            drop_database(server, name)
    results = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "postgres": version,
        "settings": {
            "users": args.users,
            "seed_per_user": args.seed_per_user,
            "duration_s": args.duration,
            "mix": MIX,
        },
        "levels": levels,
        "totals": totals,
        "invariants": violations,
        "ok": not any(violations.values()) and not any(lv["aborted_clients"] for lv in levels),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(table(levels))
    for invariant, count in violations.items():
        print(f"{'ok  ' if count == 0 else 'FAIL'} {invariant}: {count}")
    log(f"results in {args.out}")
    raise SystemExit(0 if results["ok"] else 1)


if __name__ == "__main__":
    main()
