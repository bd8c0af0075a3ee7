"""Test harness: a real PostgreSQL with pgvector, never a mock.

With no DATABASE_URL the embedded server is started (and left running). pytest-postgresql's
postgresql_noproc fixture migrates a template database once per run with `mempg apply`, and every
test that asks for `db` gets a fresh clone of it. Tests that exercise the runner itself get an empty
database (`empty_db`) and a copy of the project folders (`project`) they may break at will.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from hypothesis import settings
from psycopg import sql
from psycopg.conninfo import make_conninfo
from pytest_postgresql import factories

from helpers import (
    ROOT,
    SERVER,
    TEMPLATE_DB,
    Database,
    admin,
    run_mempg,
    scratch_database,
    template_database,
)
from runner.releases import RELEASES

# Hypothesis draws the same examples on every run (derandomize), so CI meets what a local
# `make test` met and a red CI is never an example nobody has seen; HYPOTHESIS_PROFILE=explore
# (registered in tests/sql/test_memory_fuzz.py) draws afresh. Tests' own @settings override the
# number of examples, not this.
settings.register_profile("repeatable", derandomize=True, deadline=None)
if not os.environ.get("HYPOTHESIS_PROFILE"):
    settings.load_profile("repeatable")


def _migrate_template(
    host: str, port: int, user: str, dbname: str, password: str | None, **_ignored: object
) -> None:
    """A fresh install; with MEMPG_TEST_UPGRADE_FROM=<release> (`make test-upgrade`), that
    release's migrations first, then the rest, so the suite runs on an upgraded database; with
    MEMPG_TEST_EMBEDDING_TYPE=halfvec (`make test-halfvec`), an install storing halfvec."""
    url = make_conninfo(host=host, port=port, user=user, password=password, dbname=dbname)
    release = os.environ.get("MEMPG_TEST_UPGRADE_FROM")
    if release:
        first = run_mempg("apply", "--to", RELEASES[release], url=url)
        assert first.returncode == 0, first.stdout + first.stderr
    embedding_type = os.environ.get("MEMPG_TEST_EMBEDDING_TYPE")
    options = ["--embedding-type", embedding_type] if embedding_type else []
    result = run_mempg("apply", *options, url=url)
    assert result.returncode == 0, result.stdout + result.stderr


postgresql_noproc = factories.postgresql_noproc(
    host=SERVER.host,
    port=SERVER.port,
    user=SERVER.user,
    password=SERVER.password,
    dbname=TEMPLATE_DB,
    load=[_migrate_template],
)
postgresql = factories.postgresql("postgresql_noproc")


def _copy_database_settings(name: str) -> None:
    """CREATE DATABASE ... TEMPLATE does not copy database-level settings (the search_path that
    0001 sets): copy the template's to the clone."""
    with admin() as conn:
        rows = conn.execute(
            "SELECT unnest(setconfig) FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase"
            " WHERE d.datname = %s AND s.setrole = 0",
            (template_database(),),
        ).fetchall()
        for (setting,) in rows:
            key, value = setting.split("=", 1)
            conn.execute(
                sql.SQL("ALTER DATABASE {} SET {} = {}").format(
                    sql.Identifier(name), sql.Identifier(key), sql.SQL(value)
                )
            )


@pytest.fixture
def db(postgresql: psycopg.Connection) -> Database:
    """A clone of the migrated template, dropped after the test."""
    name = postgresql.info.dbname
    _copy_database_settings(name)
    postgresql.commit()
    return Database(name, SERVER.url(name))


@pytest.fixture(scope="module")
def module_db(postgresql_noproc: object) -> Iterator[Database]:
    """A clone of the migrated template shared by one test module (for data that is slow to load)."""
    with scratch_database("mempg_module", template_database()) as database:
        _copy_database_settings(database.name)
        yield database


@pytest.fixture(scope="module")
def module_empty_db() -> Iterator[Database]:
    """A new, empty database shared by one test module (to install with other options)."""
    with scratch_database("mempg_module_empty") as database:
        yield database


@pytest.fixture
def empty_db() -> Iterator[Database]:
    """A new, empty database (nothing applied), dropped after the test."""
    with scratch_database("mempg_empty") as database:
        yield database


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of migrations/, rollbacks/, sql/ and schema.sql that a test may edit."""
    copy = tmp_path / "project"
    for folder in ("migrations", "rollbacks", "sql"):
        shutil.copytree(ROOT / folder, copy / folder)
    shutil.copy(ROOT / "schema.sql", copy / "schema.sql")
    return copy
