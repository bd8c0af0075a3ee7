"""Shared pieces of the import tests: vectors, running `mempg import`, counting what it wrote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from helpers import Database, run_mempg
from vectors import DIM, unit


def vec(seed: int, dim: int = DIM) -> list[float]:
    return [float(x) for x in unit(seed, dim)]


def as_list(v: np.ndarray) -> list[float]:
    return [float(x) for x in v]


def mempg_import(db: Database, source: Path | str, *args: str) -> tuple[int, dict[str, Any], str]:
    """`mempg import SOURCE ARGS --json`: exit code, the report, stderr."""
    result = run_mempg("import", str(source), *args, "--json", url=db.url, timeout=300)
    report = json.loads(result.stdout) if result.stdout.strip() else {}
    return result.returncode, report, result.stderr


def counts(conn: Any) -> dict[str, int]:
    """Row counts of every table an import may write."""
    tables = (
        "memory.memories",
        "memory.memory_history",
        "memory.pending_memories",
        "memory.entities",
        "memory.entity_relations",
        "memory.interactions",
        "memory.memory_entities",
        "memory.import_runs",
        "memory.import_sources",
    )
    return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


def scalar(conn: Any, query: str, *params: Any) -> Any:
    """The one value a query returns."""
    return conn.execute(query, params or None).fetchone()[0]
