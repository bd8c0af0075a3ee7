"""The command line contract: JSON shapes, exit codes, one-line errors, scaffolding, embedding dim."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import BASE_IDS, Database, fingerprint, run_mempg


def test_status_json_lists_each_migration_with_the_documented_fields(db: Database, project: Path):
    (project / "migrations" / "0902_later.sql").write_text("SELECT 1;\n")
    result = run_mempg("status", "--json", url=db.url, project=project)
    assert result.returncode == 0
    status = json.loads(result.stdout)
    assert set(status) == {"migrations", "applied", "pending"}
    applied, *_others, pending = status["migrations"]
    assert set(applied) == {
        "id",
        "state",
        "applied_at",
        "applied_by",
        "duration_ms",
        "checksum",
        "rollback",
    }
    assert (applied["id"], applied["state"], applied["checksum"], applied["rollback"]) == (
        "0001_foundation",
        "applied",
        "ok",
        "ok",
    )
    assert applied["applied_by"].startswith("postgres (")
    assert applied["duration_ms"] >= 0
    assert (pending["id"], pending["state"], pending["rollback"]) == (
        "0902_later",
        "pending",
        "missing",
    )
    assert (status["applied"], status["pending"]) == (len(BASE_IDS), 1)


def test_status_table_is_readable(db: Database):
    result = run_mempg("status", url=db.url)
    header, _rule, row, *_later = result.stdout.splitlines()
    assert header.split() == ["id", "state", "applied", "at", "by", "ms", "checksum", "rollback"]
    assert row.split()[:2] == ["0001_foundation", "applied"]


def test_verify_json_has_ok_and_problems(db: Database, project: Path):
    (project / "migrations" / "0902_later.sql").write_text("SELECT 1;\n")
    payload = json.loads(run_mempg("verify", "--json", url=db.url, project=project).stdout)
    assert payload["ok"] is False
    assert all(set(p) == {"kind", "subject", "message"} for p in payload["problems"])


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://nobody@127.0.0.1:1/nowhere",  # nothing listens there
        "postgresql://nobody@/nowhere?host=/nonexistent",  # no such socket
        "this is not a url",
        "postgresql://user@host:notaport/db",
    ],
)
@pytest.mark.parametrize("command", ["apply", "status", "verify", "rollback"])
def test_a_bad_database_url_gives_one_line_and_exit_1(url: str, command: str):
    result = run_mempg(command, url=url)
    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("mempg: cannot connect to the database:")


def test_the_embedding_dimension_is_fixed_once_installed(empty_db: Database):
    assert run_mempg("apply", "--embedding-dim", "384", url=empty_db.url).returncode == 0
    with empty_db.connect() as conn:
        assert conn.execute("SELECT mempg.embedding_dim()").fetchone() == (384,)
    before = fingerprint(empty_db)
    refused = run_mempg("apply", "--embedding-dim", "768", url=empty_db.url)
    assert refused.returncode == 1
    assert "--embedding-dim 768 refused" in refused.stderr and "384" in refused.stderr
    assert fingerprint(empty_db) == before
    assert run_mempg("apply", "--embedding-dim", "384", url=empty_db.url).returncode == 0


def test_the_default_embedding_dimension_is_1536(db: Database):
    with db.connect() as conn:
        assert conn.execute("SELECT mempg.embedding_dim()").fetchone() == (1536,)


def test_new_scaffolds_the_next_migration_and_its_rollback(project: Path):
    result = run_mempg("new", "add notes", project=project)
    assert result.returncode == 0, result.stderr
    number = int(BASE_IDS[-1][:4]) + 1  # the highest id + 1 (ids need not be contiguous)
    migration = project / "migrations" / f"{number:04d}_add_notes.sql"
    rollback = project / "rollbacks" / f"{number:04d}_add_notes.sql"
    assert migration.read_text().startswith(f"-- {number:04d}_add_notes:")
    assert rollback.read_text().startswith(f"-- {number:04d}_add_notes rollback:")
    assert run_mempg("new", "more", project=project).returncode == 0
    assert (project / "migrations" / f"{number + 1:04d}_more.sql").exists()


@pytest.mark.parametrize("name", ["1starts_with_digit", "has/slash", "", "x" * 80])
def test_new_rejects_bad_names_with_exit_2(project: Path, name: str):
    result = run_mempg("new", name, project=project)
    assert result.returncode == 2
    assert sorted(p.stem for p in (project / "migrations").glob("*.sql")) == BASE_IDS


def test_help_documents_the_exit_codes():
    result = run_mempg("--help")
    assert result.returncode == 0
    for line in ["0  ok", "1  failure", "2  usage error", "3  verify found problems"]:
        assert line in result.stdout
    assert run_mempg("apply", "--help").stdout.count("Exit codes") == 1


def test_an_unknown_command_or_option_is_exit_2():
    assert run_mempg("explode").returncode == 2
    assert run_mempg("apply", "--frobnicate").returncode == 2


def test_python_dash_m_runner_is_the_same_command():
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "runner", "--version"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert "0.1.0" in result.stdout
