"""Real servers for the durability tests, each in a scratch folder of its own.

A migrated data folder is made once per run (`mempg db start`, `mempg apply`, `mempg db stop`);
each test gets a copy with its own port, WAL archive, replica and pooler folders, started with
`mempg db start`, as an operator would. Every server a test leaves running is stopped at the end
(immediate shutdown: the folder is deleted anyway).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import run_mempg
from nodes import SCRATCH_SIZING, Node, scratch_folder, stop_everything
from runner import cluster


@pytest.fixture(scope="session")
def migrated_template() -> Iterator[Path]:
    """A stopped data folder with every migration applied, made once per run."""
    folder = scratch_folder("mempg-template-")
    env = {"MEMPG_DATA": str(folder / "data"), **SCRATCH_SIZING}
    try:
        for command in (("db", "start"), ("apply",), ("db", "stop")):
            result = run_mempg(*command, env=env, timeout=300)
            assert result.returncode == 0, result.stdout + result.stderr
        yield folder / "data"
    finally:
        stop_everything(folder)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def node(migrated_template: Path) -> Iterator[Node]:
    """A running copy of the migrated server in a scratch folder, on a port of its own."""
    here = Node(scratch_folder())
    try:
        subprocess.run(["cp", "-a", str(migrated_template), str(here.pgdata)], check=True)
        (here.pgdata / "log").write_text("")
        cluster.write_settings(here.pgdata, {"port": str(cluster.free_port())})
        started = here.mempg("db", "start")
        assert started.returncode == 0, started.stdout + started.stderr
        yield here
    finally:
        stop_everything(here.folder)
        shutil.rmtree(here.folder, ignore_errors=True)
