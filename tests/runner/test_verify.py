"""verify names every disagreement between files, ledger, yoyo's tables and the database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import BASE_IDS, Database, fingerprint, run_mempg


def problems(result) -> list[dict[str, str]]:
    return json.loads(result.stdout)["problems"]


def test_verify_is_clean_on_a_migrated_database(db: Database):
    result = run_mempg("verify", "--json", url=db.url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == {"ok": True, "problems": []}


@pytest.mark.parametrize("folder", ["migrations", "rollbacks"])
def test_editing_an_applied_file_makes_verify_exit_3_and_apply_refuse(
    db: Database, project: Path, folder: str
):
    path = project / folder / "0001_foundation.sql"
    path.write_text(path.read_text() + "\n-- an innocent-looking edit\n")
    result = run_mempg("verify", "--json", url=db.url, project=project)
    assert result.returncode == 3
    assert [(p["kind"], p["subject"]) for p in problems(result)] == [("changed", "0001_foundation")]
    assert "modified" in problems(result)[0]["message"]
    refused = run_mempg("apply", url=db.url, project=project)
    assert refused.returncode == 1
    assert "refusing" in refused.stderr and "0001_foundation" in refused.stderr


def test_a_missing_applied_migration_shows_in_status_and_verify(db: Database, project: Path):
    (project / "migrations" / "0001_foundation.sql").unlink()
    (project / "rollbacks" / "0001_foundation.sql").unlink()
    status = json.loads(run_mempg("status", "--json", url=db.url, project=project).stdout)
    [missing] = [m for m in status["migrations"] if m["id"] == "0001_foundation"]
    assert (missing["state"], missing["checksum"], missing["rollback"]) == (
        "applied",
        "file missing",
        "file missing",
    )
    result = run_mempg("verify", "--json", url=db.url, project=project)
    assert result.returncode == 3
    assert {p["kind"] for p in problems(result)} >= {"changed"}


def test_pending_migrations_and_missing_or_orphan_rollbacks_are_problems(
    db: Database, project: Path
):
    (project / "migrations" / "0902_pending.sql").write_text("SELECT 1;\n")
    (project / "rollbacks" / "0903_orphan.sql").write_text("SELECT 1;\n")
    result = run_mempg("verify", "--json", url=db.url, project=project)
    assert result.returncode == 3
    found = {(p["kind"], p["subject"]) for p in problems(result)}
    assert found == {
        ("missing rollback", "0902_pending"),
        ("orphan rollback", "0903_orphan.sql"),
        ("pending", "0902_pending"),
    }
    allowed = run_mempg("verify", "--json", "--allow-pending", url=db.url, project=project)
    assert {(p["kind"]) for p in problems(allowed)} == {"missing rollback", "orphan rollback"}


def test_ledger_and_yoyo_tables_that_disagree_are_a_problem(db: Database):
    with db.connect() as conn:
        conn.execute("DELETE FROM mempg._yoyo_migration")
    result = run_mempg("verify", "--json", url=db.url)
    assert result.returncode == 3
    assert [(p["kind"], p["subject"]) for p in problems(result)] == [
        ("yoyo mismatch", i) for i in BASE_IDS
    ]


def test_a_function_changed_in_sql_without_a_migration_fails_verify(db: Database, project: Path):
    path = project / "sql" / "app" / "current_user_id.sql"
    path.write_text(
        path.read_text().replace(
            "nullif(current_setting('app.user_id', true), '')",
            "current_setting('app.user_id', true)",
        )
    )
    before = fingerprint(db)
    result = run_mempg("verify", url=db.url, project=project)
    assert result.returncode == 3
    assert "sql/app/current_user_id.sql differs" in result.stdout
    assert "function app.current_user_id()" in result.stdout
    assert fingerprint(db) == before  # verify ran it in a transaction that was rolled back


def test_a_grant_changed_in_sql_is_found(db: Database, project: Path):
    path = project / "sql" / "mempg" / "settings.sql"
    path.write_text(
        path.read_text() + "\nGRANT EXECUTE ON FUNCTION mempg.embedding_dim() TO anon;\n"
    )
    result = run_mempg("verify", "--json", url=db.url, project=project)
    assert result.returncode == 3
    [problem] = problems(result)
    assert problem["subject"] == "sql/mempg/settings.sql"
    assert "function mempg.embedding_dim()" in problem["message"]


def test_a_new_sql_file_that_no_migration_created_is_found(db: Database, project: Path):
    (project / "sql" / "app" / "extra.sql").write_text(
        "CREATE OR REPLACE FUNCTION app.extra() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;\n"
    )
    result = run_mempg("verify", "--json", url=db.url, project=project)
    assert result.returncode == 3
    assert "not in the database" in problems(result)[0]["message"]


def test_a_sql_file_that_fails_is_reported_with_its_statement(db: Database, project: Path):
    (project / "sql" / "app" / "broken.sql").write_text("SELECT 1;\nSELECT * FROM app.nowhere;\n")
    result = run_mempg("verify", "--json", url=db.url, project=project)
    assert result.returncode == 3
    [problem] = problems(result)
    assert problem["kind"] == "sql fails"
    assert "statement 2 (line 2)" in problem["message"]


def test_a_sql_file_with_commit_is_refused_without_running(db: Database, project: Path):
    (project / "sql" / "app" / "commits.sql").write_text(
        "CREATE TABLE app.leak (id int);\nCOMMIT;\n"
    )
    result = run_mempg("verify", "--json", url=db.url, project=project)
    assert result.returncode == 3
    with db.connect() as conn:
        assert conn.execute("SELECT to_regclass('app.leak')").fetchone() == (None,)


@pytest.mark.parametrize(
    ("drift", "reported"),
    [
        ("ALTER TABLE memory.memories ADD COLUMN mood text", "TABLE memory.memories"),
        ("DROP INDEX memory.memories_user_updated", "INDEX memory.memories_user_updated"),
        (
            "CREATE INDEX memories_by_hand ON memory.memories (source)",
            "INDEX memory.memories_by_hand",
        ),
        (
            "ALTER TABLE travel.flights DROP CONSTRAINT arrival_after_departure",
            "TABLE travel.flights",  # its CHECK constraints are part of the table's entry
        ),
        ("ALTER TABLE app.users NO FORCE ROW LEVEL SECURITY", "app.users"),
        ("GRANT SELECT ON memory.memory_history TO anon", "ACL ON TABLE memory.memory_history"),
        (
            "COMMENT ON COLUMN memory.memories.hash IS 'edited'",
            "COMMENT ON COLUMN memory.memories.hash",
        ),
    ],
    ids=["column", "dropped index", "new index", "constraint", "forced rls", "grant", "comment"],
)
def test_a_table_changed_by_hand_is_reported_by_name(db: Database, drift: str, reported: str):
    with db.connect(autocommit=True) as conn:
        conn.execute(drift)
    result = run_mempg("verify", "--json", url=db.url)
    assert result.returncode == 3, result.stdout + result.stderr
    found = [
        p["message"] for p in json.loads(result.stdout)["problems"] if p["kind"] == "schema differs"
    ]
    assert len(found) == 1 and reported in found[0], found


def test_the_committed_schema_file_is_what_mempg_schema_writes(db: Database, project: Path):
    """schema.sql is generated: regenerate it after a migration (`mempg schema`) and commit it."""
    committed = (project / "schema.sql").read_text()
    (project / "schema.sql").unlink()
    result = run_mempg("schema", url=db.url, project=project)
    assert result.returncode == 0, result.stderr
    assert (project / "schema.sql").read_text() == committed
