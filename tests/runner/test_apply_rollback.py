"""apply / rollback / --to / --steps, the schema round trip, and what a failure leaves behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import (
    BASE_IDS,
    BASELINE,
    ROOT,
    Database,
    fingerprint,
    ledger,
    run_mempg,
    scratch_database,
    write_migration,
    yoyo_applied,
)


def add_note_migrations(project: Path) -> None:
    """Three small migrations whose names share a word, the trap of yoyo's substring match."""
    write_migration(
        project,
        "0902_notes",
        "CREATE TABLE app.notes (id bigint PRIMARY KEY, body text NOT NULL);\n",
        "DROP TABLE app.notes;\n",
    )
    write_migration(
        project,
        "0903_notes_index",
        "CREATE INDEX notes_body ON app.notes (body);\n",
        "DROP INDEX app.notes_body;\n",
    )
    write_migration(
        project,
        "0904_more_notes",
        "ALTER TABLE app.notes ADD COLUMN title text;\n",
        "ALTER TABLE app.notes DROP COLUMN title;\n",
    )


def applied_ids(database: Database) -> list[str]:
    return [migration_id for migration_id, _status in ledger(database)]


def test_apply_then_rollback_all_then_apply_gives_the_identical_schema(empty_db: Database):
    assert run_mempg("apply", url=empty_db.url).returncode == 0
    first = fingerprint(empty_db)
    back = run_mempg("rollback", "--all", url=empty_db.url)
    assert back.returncode == 0, back.stderr
    assert ledger(empty_db) == []
    assert yoyo_applied(empty_db) == []
    again = run_mempg("apply", url=empty_db.url)
    assert again.returncode == 0, again.stderr
    assert fingerprint(empty_db) == first


def test_rolling_back_the_newest_migration_gives_the_schema_of_the_one_before(empty_db: Database):
    """A rollback restores its predecessor's definitions (functions included), not only drops:
    0022's once restored sql/'s current search paths instead of 0018's."""
    migrations = sorted(p.stem for p in (ROOT / "migrations").glob("*.sql"))
    assert run_mempg("apply", url=empty_db.url).returncode == 0
    back = run_mempg("rollback", "--steps", "1", url=empty_db.url)
    assert back.returncode == 0, back.stderr
    with scratch_database("mempg_before") as before:
        built = run_mempg("apply", "--to", migrations[-2], url=before.url)
        assert built.returncode == 0, built.stderr
        assert fingerprint(empty_db) == fingerprint(before)


def test_rollback_all_removes_every_schema_but_the_runner_ledger(empty_db: Database):
    before = fingerprint(empty_db)
    assert run_mempg("apply", url=empty_db.url).returncode == 0
    assert run_mempg("rollback", "--all", url=empty_db.url).returncode == 0
    with empty_db.connect() as conn:
        schemas = {
            r[0]
            for r in conn.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname IN ('memory', 'app', 'travel', 'ops', 'mempg')"
            )
        }
        mempg_tables = {
            r[0]
            for r in conn.execute(
                "SELECT relname FROM pg_class WHERE relnamespace = 'mempg'::regnamespace AND relkind = 'r'"
            )
        }
        search_path = conn.execute(
            "SELECT count(*) FROM pg_db_role_setting WHERE setdatabase ="
            " (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchone()
    assert schemas == {"mempg"}
    assert mempg_tables == {
        "schema_migrations",
        "_yoyo_migration",
        "_yoyo_log",
        "_yoyo_version",
        "yoyo_lock",
    }
    assert search_path == (0,)
    assert "CREATE FUNCTION" not in fingerprint(empty_db).replace(before, "")


def test_apply_to_selects_exactly_up_to_the_named_migration(empty_db: Database, project: Path):
    add_note_migrations(project)
    result = run_mempg("apply", "--to", "0902_notes", url=empty_db.url, project=project)
    assert result.returncode == 0, result.stderr
    assert applied_ids(empty_db) == [*BASE_IDS, "0902_notes"]
    assert run_mempg("apply", "--to", "0903", url=empty_db.url, project=project).returncode == 0
    assert applied_ids(empty_db) == [*BASE_IDS, "0902_notes", "0903_notes_index"]


def test_rollback_steps_and_to_select_exactly_the_named_migrations(
    empty_db: Database, project: Path
):
    add_note_migrations(project)
    assert run_mempg("apply", url=empty_db.url, project=project).returncode == 0
    assert run_mempg("rollback", "--steps", "2", url=empty_db.url, project=project).returncode == 0
    assert applied_ids(empty_db) == [*BASE_IDS, "0902_notes"]
    assert run_mempg("apply", url=empty_db.url, project=project).returncode == 0
    assert (
        run_mempg("rollback", "--to", "0902_notes", url=empty_db.url, project=project).returncode
        == 0
    )
    assert applied_ids(empty_db) == [*BASE_IDS, "0902_notes"]
    assert run_mempg("rollback", url=empty_db.url, project=project).returncode == 0  # one step
    assert applied_ids(empty_db) == BASE_IDS
    assert yoyo_applied(empty_db) == BASE_IDS


@pytest.mark.parametrize(
    "args",
    [
        ["apply", "--to", "0999"],
        ["apply", "--to", "notes"],
        ["rollback", "--to", "0099_missing"],
        ["rollback", "--steps", str(len(BASE_IDS) + 1)],  # more than are applied
        ["rollback", "--steps", "0"],
        ["rollback", "--steps", "1", "--all"],
        ["apply", "--embedding-dim", "many"],
    ],
)
def test_unknown_ids_and_bad_selections_are_usage_errors(
    db: Database, project: Path, args: list[str]
):
    add_note_migrations(project)
    before = ledger(db)
    result = run_mempg(*args, url=db.url, project=project)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert ledger(db) == before


@pytest.mark.parametrize("dimension", ["0", "16001", "768"])
def test_an_embedding_dimension_is_judged_by_sql_and_changes_nothing(
    db: Database, project: Path, dimension: str
):
    """The range and the installed dimension are checked in SQL (mempg.request_embedding_dim);
    the runner reports its error (exit 1) and applies nothing."""
    add_note_migrations(project)
    before = ledger(db)
    result = run_mempg("apply", "--embedding-dim", dimension, url=db.url, project=project)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert dimension in result.stderr and "embedding" in result.stderr
    assert ledger(db) == before


def test_a_failing_last_statement_leaves_no_trace_and_names_the_statement(
    db: Database, project: Path
):
    write_migration(
        project,
        "0902_broken",
        "CREATE TABLE app.half (id int);\n"
        "INSERT INTO app.half VALUES (1);\n"
        "-- the mistake:\n"
        "INSERT INTO app.half VALUES ('not a number');\n",
    )
    before = fingerprint(db)
    result = run_mempg("apply", url=db.url, project=project)
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "0902_broken" in output
    assert "statement 3 (line 4)" in output
    assert "INSERT INTO app.half VALUES ('not a number')" in output
    assert "22P02" in output
    assert fingerprint(db) == before
    assert ledger(db) == BASELINE
    assert yoyo_applied(db) == BASE_IDS


def test_a_failing_first_migration_on_an_empty_database_leaves_nothing(
    empty_db: Database, tmp_path: Path
):
    project = tmp_path / "p"
    (project / "migrations").mkdir(parents=True)
    (project / "rollbacks").mkdir()
    write_migration(project, "0001_broken", "CREATE SCHEMA scratch;\nSELECT 1/0;\n")
    before = fingerprint(empty_db)
    result = run_mempg("apply", url=empty_db.url, project=project)
    assert result.returncode == 1
    assert "division by zero" in result.stdout + result.stderr
    assert fingerprint(empty_db) == before  # not even the ledger or yoyo's tables


def test_later_migrations_are_not_attempted_after_a_failure(db: Database, project: Path):
    write_migration(project, "0902_broken", "SELECT 1/0;\n")
    write_migration(
        project, "0903_fine", "CREATE TABLE app.fine (id int);\n", "DROP TABLE app.fine;\n"
    )
    result = run_mempg("apply", "--json", url=db.url, project=project)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert [(s["id"], s["outcome"]) for s in report["steps"]] == [("0902_broken", "failed")]
    assert report["ok"] is False
    assert ledger(db) == BASELINE


def test_a_failing_rollback_keeps_the_migration_applied(db: Database, project: Path):
    write_migration(
        project,
        "0902_notes",
        "CREATE TABLE app.notes (id int);\n",
        "DROP TABLE app.notes;\nSELECT 1/0;\n",
    )
    assert run_mempg("apply", url=db.url, project=project).returncode == 0
    result = run_mempg("rollback", url=db.url, project=project)
    assert result.returncode == 1
    assert "rollbacks/0902_notes.sql" in result.stdout + result.stderr
    assert ledger(db)[-1] == ("0902_notes", "applied")
    with db.connect() as conn:
        assert conn.execute("SELECT to_regclass('app.notes') IS NOT NULL").fetchone() == (True,)


def test_transaction_control_inside_a_migration_is_refused_before_it_runs(
    db: Database, project: Path
):
    write_migration(
        project, "0902_commits", "CREATE TABLE app.early (id int);\nCOMMIT;\nSELECT 1;\n"
    )
    before = fingerprint(db)
    result = run_mempg("apply", url=db.url, project=project)
    assert result.returncode == 1
    assert "line 2: COMMIT" in result.stderr
    assert fingerprint(db) == before


def test_a_migration_without_rollback_is_refused(db: Database, project: Path):
    (project / "migrations" / "0902_oneway.sql").write_text("CREATE TABLE app.oneway (id int);\n")
    result = run_mempg("apply", url=db.url, project=project)
    assert result.returncode == 1
    assert "0902_oneway" in result.stderr and "rollback" in result.stderr
    assert ledger(db) == BASELINE


def test_non_transactional_migration_runs_statement_by_statement(db: Database, project: Path):
    write_migration(
        project,
        "0902_concurrent_index",
        "-- transactional: false\nCREATE INDEX CONCURRENTLY settings_value ON mempg.settings (value);\n",
        "-- transactional: false\nDROP INDEX CONCURRENTLY mempg.settings_value;\n",
    )
    result = run_mempg("apply", url=db.url, project=project)
    assert result.returncode == 0, result.stderr
    with db.connect() as conn:
        assert conn.execute(
            "SELECT to_regclass('mempg.settings_value') IS NOT NULL"
        ).fetchone() == (True,)
    assert run_mempg("rollback", url=db.url, project=project).returncode == 0
    with db.connect() as conn:
        assert conn.execute("SELECT to_regclass('mempg.settings_value')").fetchone() == (None,)
    assert ledger(db) == BASELINE


def test_a_non_transactional_migration_that_fails_half_way_blocks_apply(
    db: Database, project: Path
):
    write_migration(
        project,
        "0902_concurrent_index",
        "-- transactional: false\n"
        "CREATE INDEX CONCURRENTLY settings_value ON mempg.settings (value);\n"
        "CREATE INDEX CONCURRENTLY settings_nope ON mempg.settings (nope);\n",
        "-- transactional: false\nDROP INDEX CONCURRENTLY IF EXISTS mempg.settings_value;\n",
    )
    result = run_mempg("apply", url=db.url, project=project)
    assert result.returncode == 1
    assert ledger(db)[-1] == ("0902_concurrent_index", "failed")
    again = run_mempg("apply", url=db.url, project=project)
    assert again.returncode == 1
    assert "stopped half way" in again.stderr
    status = json.loads(run_mempg("status", "--json", url=db.url, project=project).stdout)
    assert status["migrations"][-1]["state"] == "failed"
    # the way out: roll it back (its rollback is idempotent), fix it, apply again
    assert run_mempg("rollback", url=db.url, project=project).returncode == 0
    assert ledger(db) == BASELINE
