"""mempg health, maintain, backup and restore, as a cron job or an operator runs them."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest

from helpers import SERVER, Database, run_mempg
from runner.database import LOCK_CLASS, LOCK_MIGRATIONS
from runner.operations import drop_database, table_fingerprints
from vectors import COSINE_OPS


def add_data(db: Database) -> None:
    with psycopg.connect(db.url, autocommit=True) as conn:
        user = uuid.uuid4()
        conn.execute("INSERT INTO app.users (id, email) VALUES (%s, 'ana@example.com')", (user,))
        conn.execute("INSERT INTO travel.trips (owner_id, title) VALUES (%s, 'Lisbon')", (user,))
        conn.execute(
            "SELECT memory.add_memory('ana', 'Ana likes tea',"
            " (SELECT array_agg(sin(i))::vector FROM generate_series(1, 1536) AS i))"
        )


def test_health_json_is_valid_and_exit_0_when_all_is_ok(db: Database):
    result = run_mempg("health", "--json", url=db.url)
    report = json.loads(result.stdout)
    assert (result.returncode, report["status"], report["score"]) == (0, "ok", 100)
    table = run_mempg("health", url=db.url)
    assert table.returncode == 0 and "score 100/100, status ok" in table.stdout


def test_health_counts_quota_refusals_and_names_the_users_near_a_limit(db: Database):
    embedding = "(SELECT array_agg(sin(i))::vector FROM generate_series(1, 1536) AS i)"
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute(
            "UPDATE memory.rate_limits SET capacity = 1, refill_per_second = 0.001"
            " WHERE plan = 'default' AND operation = 'add'"
        )
        conn.execute("UPDATE memory.quota_settings SET clock_override = '2030-01-01'")
        for text in ("Ana likes tea", "Ana likes coffee", "Ana likes juice"):
            with conn.transaction():
                conn.execute("SELECT set_config('app.user_id', 'ana', true)")
                conn.execute("SET LOCAL ROLE authenticated")
                try:
                    with conn.transaction():
                        conn.execute(f"SELECT memory.add_memory('ana', %s, {embedding})", (text,))
                except psycopg.Error as exc:
                    assert exc.sqlstate == "PGRST"
    result = run_mempg("health", url=db.url)
    assert "quota refusals: 2 (rate add 2)" in result.stdout, result.stdout
    assert "near a limit: ana (plan default, pressure 1.0," in result.stdout
    report = json.loads(run_mempg("health", "--json", url=db.url).stdout)
    assert {"kind": "rate", "operation": "add", "refusals": 2} in report["quota_refusals"]


@pytest.mark.parametrize(
    ("warning", "critical", "code", "status"), [(0, 1, 3, "warning"), (0, 0, 1, "critical")]
)
def test_health_exit_codes_follow_the_worst_finding(db: Database, warning, critical, code, status):
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute(
            "UPDATE ops.thresholds SET warning = %s, critical = %s WHERE metric = 'connections_used_ratio'",
            (warning, critical),
        )
    result = run_mempg("health", "--json", url=db.url)
    assert result.returncode == code
    assert json.loads(result.stdout)["status"] == status


def test_maintain_runs_the_memory_job_vacuum_and_reindex(db: Database):
    add_data(db)
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute(
            f"CREATE INDEX memories_thin ON memory.memories USING hnsw (embedding {COSINE_OPS})"
            " WITH (m = 4)"
        )
    result = run_mempg("maintain", "--vacuum", "--reindex", "--json", url=db.url)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["skipped"] is False and "purged" in report["memory"]
    assert "memory.memories" in report["vacuumed"] and "app.audit_log" in report["vacuumed"]
    assert report["reindexed"] == ["memory.memories_thin"]
    assert report["user_indexes"] == []  # nobody is heavy enough (tests/sql/test_user_indexes.py)
    with psycopg.connect(db.url) as conn:
        options = conn.execute(
            "SELECT reloptions FROM pg_class WHERE relname = 'memories_thin'"
        ).fetchone()
        vacuumed = conn.execute(
            "SELECT last_vacuum IS NOT NULL FROM pg_stat_user_tables"
            " WHERE relid = 'memory.memories'::regclass"
        ).fetchone()
    assert options == (["m=16", "ef_construction=128"],)
    assert vacuumed == (True,)


def test_maintain_skips_cleanly_while_another_runner_holds_the_lock(db: Database):
    add_data(db)
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute(
            "UPDATE memory.memories SET is_deleted = true, deleted_at = now() - interval '60 days'"
        )
        conn.execute("SELECT pg_advisory_lock(%s::int, %s::int)", (LOCK_CLASS, LOCK_MIGRATIONS))
        result = run_mempg("maintain", "--lock-wait", "0.3", "--json", url=db.url)
        left = conn.execute("SELECT count(*) FROM memory.memories").fetchone()
    assert result.returncode == 0
    assert json.loads(result.stdout)["skipped"] is True
    assert left == (1,)  # the job did not run: nothing purged
    after = run_mempg("maintain", "--json", url=db.url)
    assert json.loads(after.stdout)["memory"]["purged"] == 1


def test_backup_verify_restores_every_row_and_passes_verify(db: Database, tmp_path):
    add_data(db)
    out = tmp_path / "mempg.dump"
    result = run_mempg("backup", "--out", str(out), "--verify", "--json", url=db.url)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (
        report["verified"] is True
        and report["differences"] == []
        and report["verify_problems"] == []
    )
    assert report["rows"] >= 5 and out.stat().st_size > 0
    with psycopg.connect(SERVER.url("postgres")) as conn:
        leftovers = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'mempg_verify_%'"
        ).fetchone()
    assert leftovers == (0,)


def test_restore_into_a_new_database_keeps_every_row_and_verifies(db: Database, tmp_path):
    add_data(db)
    out = tmp_path / "mempg.dump"
    assert run_mempg("backup", "--out", str(out), url=db.url).returncode == 0
    name = f"mempg_restored_{uuid.uuid4().hex[:8]}"
    try:
        result = run_mempg("restore", str(out), "--new-db", name, "--json", url=db.url)
        assert result.returncode == 0, result.stdout + result.stderr
        assert json.loads(result.stdout)["ok"] is True
        restored = SERVER.url(name)
        assert table_fingerprints(restored) == table_fingerprints(db.url)
        with psycopg.connect(restored) as conn:  # the database's search_path came along
            assert conn.execute("SELECT current_user_id() IS NULL").fetchone() == (True,)
    finally:
        drop_database(SERVER.url("postgres"), name)


def test_restore_needs_exactly_one_target(tmp_path):
    assert run_mempg("restore", str(tmp_path / "x.dump")).returncode == 2
    missing = run_mempg("restore", str(tmp_path / "x.dump"), "--into", SERVER.url("postgres"))
    assert missing.returncode == 1 and "no such backup file" in missing.stderr


def test_restore_into_an_existing_empty_database(db: Database, tmp_path):
    add_data(db)
    out = tmp_path / "mempg.dump"
    assert run_mempg("backup", "--out", str(out), url=db.url).returncode == 0
    name = f"mempg_into_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(SERVER.url("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        result = run_mempg("restore", str(out), "--into", SERVER.url(name), url=db.url)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "verify: ok" in result.stdout
        assert table_fingerprints(SERVER.url(name)) == table_fingerprints(db.url)
    finally:
        drop_database(SERVER.url("postgres"), name)
