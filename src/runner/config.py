"""Where the project's files are, which database to use, and the runner's session settings."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from runner.errors import RunnerError

# Defaults for the runner's own sessions; a migration overrides them with SET LOCAL.
DEFAULT_LOCK_TIMEOUT = "5s"  # DDL waiting for a lock queues every query behind it: give up early
DEFAULT_STATEMENT_TIMEOUT = "15min"
DEFAULT_LOCK_WAIT_SECONDS = 60.0  # how long a second runner waits for the first to finish


@dataclass(frozen=True)
class Project:
    """The three folders the runner reads: migrations/, rollbacks/ and sql/."""

    root: Path

    @property
    def migrations(self) -> Path:
        return self.root / "migrations"

    @property
    def rollbacks(self) -> Path:
        return self.root / "rollbacks"

    @property
    def sql(self) -> Path:
        return self.root / "sql"

    @property
    def schema_file(self) -> Path:
        return self.root / "schema.sql"

    def sql_schemas(self) -> list[str]:
        """The schemas sql/ holds definitions for: one folder each."""
        return sorted(p.name for p in self.sql.iterdir() if p.is_dir()) if self.sql.is_dir() else []


def find_project(start: Path | None = None) -> Project:
    """The nearest folder at or above `start` (default: MEMPG_DIR, else cwd) holding migrations/."""
    explicit = os.environ.get("MEMPG_DIR")
    here = Path(explicit or start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "migrations").is_dir():
            return Project(candidate)
    raise RunnerError(f"no migrations/ folder at or above {here} (set MEMPG_DIR or use --dir)")


def project_at(project_dir: Path | None) -> Project:
    """--dir (or MEMPG_DIR) when given, else the folder found from the current directory."""
    return Project(project_dir.resolve()) if project_dir else find_project()


@dataclass(frozen=True)
class SessionSettings:
    """Settings applied to every session the runner opens."""

    lock_timeout: str = DEFAULT_LOCK_TIMEOUT
    statement_timeout: str = DEFAULT_STATEMENT_TIMEOUT
    lock_wait_seconds: float = DEFAULT_LOCK_WAIT_SECONDS
