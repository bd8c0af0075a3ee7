"""The embedded server sized to its machine: cgroup limits, mempg.conf, user edits, `mempg tune`.

One real server in a scratch folder, its machine given by a fake cgroup folder
(MEMPG_CGROUP_ROOT), so the figures do not depend on the machine running the tests.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from helpers import run_mempg
from runner import sizing


def fake_cgroup_v2(folder: Path, memory: int, cpu_quota: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "memory.max").write_text(f"{memory}\n")
    (folder / "cpu.max").write_text(f"{cpu_quota}\n")
    return folder


def test_a_cgroup_v2_limit_wins_over_physical_memory_and_cpus(tmp_path: Path):
    root = fake_cgroup_v2(tmp_path, 2 * 1024**3, "50000 100000")
    machine = sizing.detect({"MEMPG_CGROUP_ROOT": str(root)})
    assert (machine.memory, machine.cores) == ("2048MB", 1)
    assert "cgroup" in machine.memory_source and "cgroup" in machine.cores_source


def test_a_cgroup_v1_limit_is_read_too_and_no_limit_means_the_machine(tmp_path: Path):
    (tmp_path / "memory").mkdir()
    (tmp_path / "memory" / "memory.limit_in_bytes").write_text("3221225472\n")
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    machine = sizing.detect({"MEMPG_CGROUP_ROOT": str(tmp_path)})
    assert (machine.memory, machine.cores) == ("3072MB", 1)
    unlimited = fake_cgroup_v2(tmp_path / "v2", 1 << 62, "max 100000")
    machine = sizing.detect({"MEMPG_CGROUP_ROOT": str(unlimited)})
    assert machine.memory == f"{sizing.physical_memory() // sizing.MB}MB"
    assert machine.memory_source.startswith("physical")


def test_overrides_take_a_size_or_a_share_of_the_machine(tmp_path: Path):
    root = fake_cgroup_v2(tmp_path, 4 * 1024**3, "max 100000")
    env = {"MEMPG_CGROUP_ROOT": str(root)}
    assert sizing.detect({**env, "MEMPG_SERVER_MEMORY": "25%"}).memory == "1024MB"
    assert sizing.detect({**env, "MEMPG_SERVER_MEMORY": "1GB"}).memory == "1GB"
    assert sizing.detect({**env, "MEMPG_SERVER_CORES": "8"}).cores == 8


@pytest.fixture
def scratch() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="mempg-sizing-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        run_mempg("db", "stop", env={"MEMPG_DATA": str(folder / "data")})
        shutil.rmtree(folder, ignore_errors=True)


def settings(url: str, *names: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY (%s)",
            (list(names),),
        ).fetchall()
    return dict(rows)


def test_the_server_follows_its_machine_and_keeps_what_the_user_set(scratch: Path):
    """First start: sized from a 2 GiB, 1-core cgroup. The user edits work_mem in mempg.conf and
    sets random_page_cost with ALTER SYSTEM; the machine shrinks to 1 GiB; at the next start
    mempg's values follow it and the user's stay. `mempg tune` reports the user's
    random_page_cost as a difference and changes nothing."""
    cgroup = fake_cgroup_v2(scratch / "cgroup", 2 * 1024**3, "100000 100000")
    env = {"MEMPG_DATA": str(scratch / "data"), "MEMPG_CGROUP_ROOT": str(cgroup)}
    assert run_mempg("db", "start", env=env).returncode == 0
    status = json.loads(run_mempg("db", "status", "--json", env=env).stdout)
    assert status["sizing"]["machine"] == {"memory": "2048MB", "cores": "1", "storage": "ssd"}
    by_name = {s["name"]: s for s in status["sizing"]["settings"]}
    assert by_name["shared_buffers"]["value"] == "512MB"  # in effect: the first start restarted
    assert by_name["shared_buffers"]["set_by"] == "mempg"
    assert by_name["max_parallel_workers"]["value"] == "1"
    url = status["url"]

    conf = scratch / "data" / "mempg.conf"
    conf.write_text(
        "\n".join(
            "work_mem = '32MB'" if line.startswith("work_mem =") else line
            for line in conf.read_text().splitlines()
        )
    )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET random_page_cost = 2")
    (cgroup / "memory.max").write_text(f"{1024**3}\n")
    assert run_mempg("db", "stop", env=env).returncode == 0
    restarted = run_mempg("db", "start", env=env)
    assert restarted.returncode == 0, restarted.stderr
    assert "keeping your work_mem = 32MB" in restarted.stderr
    assert settings(url, "shared_buffers", "work_mem", "random_page_cost") == {
        "shared_buffers": "256MB",
        "work_mem": "32MB",
        "random_page_cost": "2",
    }
    by_name = {
        s["name"]: s
        for s in json.loads(run_mempg("db", "status", "--json", env=env).stdout)["sizing"][
            "settings"
        ]
    }
    assert by_name["work_mem"]["set_by"] == "user (mempg.conf)"
    assert by_name["random_page_cost"]["set_by"] == "user (postgresql.auto.conf)"

    before = conf.read_text()
    tuned = run_mempg("tune", "--json", env=env)
    assert tuned.returncode == 3, tuned.stderr
    differ = {s["name"] for s in json.loads(tuned.stdout)["settings"] if s["differs"]}
    assert differ == {"random_page_cost", "work_mem"}
    assert conf.read_text() == before
    assert settings(url, "random_page_cost")["random_page_cost"] == "2"


def test_a_running_server_without_mempg_conf_is_sized_but_not_restarted(scratch: Path):
    """A data folder from before the sizing: its conf is written while it runs, the values that
    need no restart apply at once, the others wait for the next restart."""
    env = {"MEMPG_DATA": str(scratch / "data"), "MEMPG_SIZING": "off"}
    assert run_mempg("db", "start", env=env).returncode == 0
    assert not (scratch / "data" / "mempg.conf").exists()
    pid = json.loads(run_mempg("db", "status", "--json", env=env).stdout)["pid"]
    env = {"MEMPG_DATA": str(scratch / "data"), "MEMPG_SERVER_MEMORY": "1GB"}
    again = run_mempg("db", "url", env=env)
    assert again.returncode == 0 and "takes effect at the next restart" in again.stderr
    status = json.loads(run_mempg("db", "status", "--json", env=env).stdout)
    assert status["pid"] == pid
    by_name = {s["name"]: s for s in status["sizing"]["settings"]}
    assert by_name["shared_buffers"]["pending_restart"] is True
    assert by_name["maintenance_work_mem"]["value"] == "128MB"  # reloaded at once
