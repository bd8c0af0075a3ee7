"""--dry-run runs the SQL in a transaction that is rolled back: it proves, and changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import Database, fingerprint, ledger, run_mempg, write_migration, yoyo_applied


def test_dry_run_of_apply_on_an_empty_database_changes_nothing(empty_db: Database):
    before = fingerprint(empty_db)
    result = run_mempg("apply", "--dry-run", url=empty_db.url)
    assert result.returncode == 0, result.stderr
    assert "CREATE SCHEMA memory;" in result.stdout  # the SQL is printed
    assert "0001_foundation: would apply" in result.stdout
    assert fingerprint(empty_db) == before
    assert ledger(empty_db) == []


def test_dry_run_of_rollback_changes_nothing(db: Database):
    before = fingerprint(db), ledger(db), yoyo_applied(db)
    result = run_mempg("rollback", "--all", "--dry-run", url=db.url)
    assert result.returncode == 0, result.stderr
    assert "0001_foundation: would roll back" in result.stdout
    assert (fingerprint(db), ledger(db), yoyo_applied(db)) == before


def test_dry_run_reports_a_migration_that_would_fail_with_exit_1(db: Database, project: Path):
    write_migration(
        project, "0902_fine", "CREATE TABLE app.fine (id int);\n", "DROP TABLE app.fine;\n"
    )
    write_migration(project, "0903_broken", "ALTER TABLE app.fine ADD COLUMN id int;\n")
    before = fingerprint(db), ledger(db)
    result = run_mempg("apply", "--dry-run", "--json", url=db.url, project=project)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["dry_run"] is True
    assert [(s["id"], s["outcome"]) for s in report["steps"]] == [
        ("0902_fine", "would apply"),
        ("0903_broken", "failed"),
    ]
    assert "42701" in report["steps"][1]["error"]  # duplicate column
    assert (fingerprint(db), ledger(db)) == before


def test_dry_run_of_a_failing_rollback_exits_1(db: Database, project: Path):
    write_migration(
        project, "0902_notes", "CREATE TABLE app.notes (id int);\n", "DROP TABLE app.nothing;\n"
    )
    assert run_mempg("apply", url=db.url, project=project).returncode == 0
    before = fingerprint(db), ledger(db)
    result = run_mempg("rollback", "--dry-run", url=db.url, project=project)
    assert result.returncode == 1
    assert "app.nothing" in result.stdout + result.stderr
    assert (fingerprint(db), ledger(db)) == before


def test_dry_run_lists_a_non_transactional_migration_without_running_it(
    db: Database, project: Path
):
    write_migration(
        project,
        "0902_concurrent_index",
        "-- transactional: false\nCREATE INDEX CONCURRENTLY settings_value ON mempg.settings (value);\n",
        "-- transactional: false\nDROP INDEX CONCURRENTLY mempg.settings_value;\n",
    )
    write_migration(
        project, "0903_fine", "CREATE TABLE app.fine (id int);\n", "DROP TABLE app.fine;\n"
    )
    before = fingerprint(db), ledger(db)
    result = run_mempg("apply", "--dry-run", url=db.url, project=project)
    assert result.returncode == 0, result.stderr
    assert "0902_concurrent_index: non-transactional, listed but not executed" in result.stdout
    assert "0903_fine: would apply" in result.stdout
    assert (fingerprint(db), ledger(db)) == before
