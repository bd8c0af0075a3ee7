"""`mempg new NAME`: the next numbered migration and its rollback, from a template."""

from __future__ import annotations

import re
from pathlib import Path

from runner.config import Project
from runner.errors import RunnerError, UsageProblem

NAME = re.compile(r"^[a-z][a-z0-9_]{0,59}$")

MIGRATION_TEMPLATE = """\
-- {id}: <what this migration does, and why>
--
-- Runs whole, in one transaction with its ledger row (add `-- transactional: false` as the first
-- line only for statements that cannot run in a transaction, such as CREATE INDEX CONCURRENTLY).
-- Logic (functions, triggers, views, policies, grants) also goes in sql/<schema>/<object>.sql,
-- with the same text as here; `mempg verify` checks that they agree.
-- Per-migration timeouts: SET LOCAL lock_timeout = '...'; SET LOCAL statement_timeout = '...';

"""

ROLLBACK_TEMPLATE = """\
-- {id} rollback: undo everything migrations/{id}.sql does, in reverse order.
-- Applied whole, in one transaction; `mempg rollback` runs it.

"""


def next_number(project: Project) -> int:
    numbers = [
        int(p.name[:4])
        for folder in (project.migrations, project.rollbacks)
        if folder.is_dir()
        for p in folder.glob("*.sql")
        if p.name[:4].isdigit()
    ]
    return max(numbers, default=0) + 1


def new_migration(project: Project, name: str) -> tuple[Path, Path]:
    slug = name.strip().lower().replace("-", "_").replace(" ", "_")
    if not NAME.match(slug):
        raise UsageProblem(
            f"migration name {name!r}: use lower-case letters, digits and underscores, starting with a letter"
        )
    migration_id = f"{next_number(project):04d}_{slug}"
    migration = project.migrations / f"{migration_id}.sql"
    rollback = project.rollbacks / f"{migration_id}.sql"
    project.rollbacks.mkdir(exist_ok=True)
    for path in (migration, rollback):
        if path.exists():
            raise RunnerError(f"{path} already exists")
    migration.write_text(MIGRATION_TEMPLATE.format(id=migration_id), encoding="utf-8")
    rollback.write_text(ROLLBACK_TEMPLATE.format(id=migration_id), encoding="utf-8")
    return migration, rollback
