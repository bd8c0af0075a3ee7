"""The migration list: yoyo reads and orders migrations/; the runner pairs each with rollbacks/."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from yoyo import read_migrations
from yoyo.exceptions import BadMigration, MigrationConflict
from yoyo.migrations import Migration, parse_metadata_from_sql_comments

from runner.config import Project
from runner.errors import RunnerError, UsageProblem

MIGRATION_ID = re.compile(r"^(\d{4})_[a-z0-9_]+$")


def sha256_of(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def is_transactional(script: str) -> bool:
    """yoyo's `-- transactional: false` directive at the top of a file."""
    directives, _comment, _sql = parse_metadata_from_sql_comments(script)
    return directives.get("transactional", "true").strip().lower() != "false"


@dataclass(frozen=True)
class MigrationFile:
    yoyo: Migration
    rollback_path: Path

    @property
    def id(self) -> str:
        return str(self.yoyo.id)

    @property
    def path(self) -> Path:
        return Path(self.yoyo.path)

    @cached_property
    def source(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def sha256(self) -> str | None:
        return sha256_of(self.path)

    @property
    def rollback_sha256(self) -> str | None:
        return sha256_of(self.rollback_path)

    @property
    def has_rollback(self) -> bool:
        return self.rollback_path.is_file()

    @cached_property
    def rollback_source(self) -> str:
        if not self.has_rollback:
            raise RunnerError(
                f"migration {self.id} has no rollback: {self.rollback_path} is missing"
            )
        return self.rollback_path.read_text(encoding="utf-8")

    @property
    def transactional(self) -> bool:
        return bool(self.yoyo.use_transactions)

    @property
    def rollback_transactional(self) -> bool:
        return is_transactional(self.rollback_source)


_cache: dict[Path, list[MigrationFile]] = {}


def load_migrations(project: Project) -> list[MigrationFile]:
    """Migrations in the order yoyo applies them (file name, then declared dependencies).

    yoyo keeps a process-wide registry of migrations, so the list is read once per process.
    """
    folder = project.migrations.resolve()
    if folder in _cache:
        return _cache[folder]
    try:
        found = read_migrations(str(folder))
        ordered = list(found.replace(_topological(found)))
    except (BadMigration, MigrationConflict) as exc:
        raise RunnerError(f"cannot read {folder}: {exc}") from exc
    files = []
    for migration in ordered:
        if not migration.path.endswith(".sql"):
            raise RunnerError(f"{migration.path}: only .sql migrations are supported")
        files.append(MigrationFile(migration, project.rollbacks / Path(migration.path).name))
    _cache[folder] = files
    return files


def _topological(migrations: object) -> list[Migration]:
    from yoyo.migrations import topological_sort

    return list(topological_sort(migrations))  # type: ignore[arg-type]


def orphan_rollbacks(project: Project, migrations: list[MigrationFile]) -> list[Path]:
    """Files in rollbacks/ that belong to no migration."""
    known = {m.rollback_path.name for m in migrations}
    if not project.rollbacks.is_dir():
        return []
    return sorted(p for p in project.rollbacks.glob("*.sql") if p.name not in known)


def find(migrations: list[MigrationFile], migration_id: str) -> int:
    """Index of the migration with exactly this id, or with exactly this number ("0002")."""
    exact = [i for i, m in enumerate(migrations) if m.id == migration_id]
    by_number = [i for i, m in enumerate(migrations) if m.id.split("_", 1)[0] == migration_id]
    matches = exact or by_number
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(m.id for m in migrations) or "none"
    if matches:
        raise UsageProblem(f"migration number {migration_id!r} is ambiguous (known: {known})")
    raise UsageProblem(f"unknown migration id {migration_id!r} (known: {known})")
