"""ops.recommended_settings(): the sizing rule for a machine, beside the values in effect."""

from __future__ import annotations

import psycopg
import pytest

# What the rule gives a 24 GiB (24151 MB), 2-core machine with SSD: this test machine.
MACHINE_24G_2CORES = {
    "shared_buffers": "6037MB",
    "effective_cache_size": "18113MB",
    "maintenance_work_mem": "3018MB",
    "autovacuum_work_mem": "377MB",
    "work_mem": "60MB",
    "max_connections": "100",
    "random_page_cost": "1.1",
    "effective_io_concurrency": "200",
    "maintenance_io_concurrency": "200",
    "max_worker_processes": "8",
    "max_parallel_workers": "2",
    "max_parallel_workers_per_gather": "1",
    "max_parallel_maintenance_workers": "1",
}


def recommended(
    conn: psycopg.Connection, memory: object = "-", cores: object = "-", **named: object
) -> dict[str, tuple]:
    """name -> (recommended_value, current_value, differs, needs_restart, unit); "-" leaves out."""
    given = {k: v for k, v in {"memory": memory, "cores": cores, **named}.items() if v != "-"}
    params = ", ".join(f"{k} => %({k})s" for k in given)
    rows = conn.execute(
        "SELECT name, recommended_value, current_value, differs, needs_restart, unit"
        f" FROM ops.recommended_settings({params})",
        given,
    ).fetchall()
    return {row[0]: row[1:] for row in rows}


def test_a_24_gigabyte_two_core_machine_gets_a_quarter_of_memory_as_shared_buffers(admin):
    rows = recommended(admin, "24151MB", 2)
    assert {name: row[0] for name, row in rows.items()} == MACHINE_24G_2CORES
    assert rows["shared_buffers"][3] is True  # needs a restart
    assert rows["work_mem"][3] is False


def test_the_figures_follow_memory_and_cores(admin):
    small = recommended(admin, "1GB", 1)
    assert small["shared_buffers"][0] == "256MB"
    assert small["maintenance_work_mem"][0] == "128MB"
    assert small["work_mem"][0] == "4MB"  # the floor
    assert small["max_parallel_workers_per_gather"][0] == "0"
    big = recommended(admin, "256GB", 32, connections=400)
    assert big["shared_buffers"][0] == "64GB"
    assert big["maintenance_work_mem"][0] == "16GB"  # the ceiling
    assert big["max_connections"][0] == "420"
    assert big["max_parallel_workers_per_gather"][0] == "4"
    assert big["max_worker_processes"][0] == "36"


def test_spinning_disks_keep_postgresqls_io_defaults(admin):
    rows = recommended(admin, "8GB", 4, storage="hdd")
    defaults = dict(
        admin.execute(
            "SELECT name, boot_val FROM pg_settings WHERE name IN"
            " ('random_page_cost', 'effective_io_concurrency', 'maintenance_io_concurrency')"
        ).fetchall()
    )
    assert {name: rows[name][0] for name in defaults} == defaults


def test_a_deliberately_bad_setting_is_reported_as_a_difference(admin):
    admin.execute("SET work_mem = '1MB'")
    rows = recommended(admin, "24151MB", 2)
    assert rows["work_mem"][1] == "1MB" and rows["work_mem"][2] is True
    admin.execute("SET work_mem = '60MB'")
    assert recommended(admin, "24151MB", 2)["work_mem"][2] is False


def test_the_inputs_default_to_the_mempg_machine_settings(admin):
    admin.execute("SET mempg.machine_memory = '2GB'")
    admin.execute("SET mempg.machine_cores = '4'")
    rows = recommended(admin)
    assert rows["shared_buffers"][0] == "512MB"
    assert rows["max_parallel_workers"][0] == "4"


@pytest.mark.parametrize(
    ("arguments", "sqlstate"),
    [
        ({"memory": None, "cores": 2}, "22004"),
        ({"memory": "8GB", "cores": None}, "22004"),
        ({"memory": "lots", "cores": 2}, "22023"),
        ({"memory": "64MB", "cores": 2}, "22023"),
        ({"memory": "8GB", "cores": 0}, "22023"),
        ({"memory": "8GB", "cores": 2, "storage": "nvme"}, "22023"),
        ({"memory": "8GB", "cores": 2, "connections": 0}, "22023"),
    ],
)
def test_bad_input_gets_a_documented_sqlstate(admin, arguments, sqlstate):
    # no machine settings to fall back on, as on a server the runner did not size
    admin.execute("SET mempg.machine_memory = ''")
    admin.execute("SET mempg.machine_cores = ''")
    with pytest.raises(psycopg.Error) as caught:
        recommended(admin, **arguments)
    assert caught.value.sqlstate == sqlstate


def test_only_service_role_may_call_it(session_as):
    service = session_as(None, role="service_role")
    assert len(recommended(service, "8GB", 2)) == len(MACHINE_24G_2CORES)
    for role in ("authenticated", "anon"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            recommended(session_as(None, role=role), "8GB", 2)
