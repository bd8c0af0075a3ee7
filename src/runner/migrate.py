"""Apply, roll back and dry-run migrations: each one whole, in one transaction with its ledger row."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import psycopg
from yoyo.migrations import read_sql_migration

from runner import ledger
from runner.config import Project, SessionSettings
from runner.database import (
    ScriptFailure,
    connect,
    first_line,
    migration_lock,
    run_script,
    transaction,
)
from runner.errors import RunnerError, UsageProblem
from runner.project import MigrationFile, find, load_migrations
from runner.sqltext import transaction_control

Direction = Literal["apply", "rollback"]
Echo = Callable[[str], None]


@dataclass
class StepReport:
    id: str
    direction: Direction
    outcome: str  # applied | rolled back | would apply | would roll back | skipped | failed
    duration_ms: int | None = None
    error: str | None = None
    transactional: bool = True


@dataclass
class RunReport:
    command: str
    dry_run: bool
    steps: list[StepReport] = field(default_factory=list)
    message: str = ""

    @property
    def failed(self) -> bool:
        return any(step.outcome == "failed" for step in self.steps)

    def as_json(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "dry_run": self.dry_run,
            "ok": not self.failed,
            "message": self.message,
            "steps": [asdict(step) for step in self.steps],
        }


@dataclass(frozen=True)
class ChecksumState:
    migration: str  # ok | modified | file missing | -
    rollback: str


def checksum_state(migration: MigrationFile | None, row: ledger.LedgerRow) -> ChecksumState:
    """How the files on disk compare with what the ledger recorded when it was applied."""

    def compare(current: str | None, recorded: str | None) -> str:
        if current is None:
            return "file missing"
        if recorded is None:
            return "not recorded"
        return "ok" if current == recorded else "modified"

    if migration is None:
        return ChecksumState("file missing", "file missing")
    return ChecksumState(
        compare(migration.sha256, row.migration_sha256),
        compare(migration.rollback_sha256, row.rollback_sha256),
    )


def changed_on_disk(
    migrations: list[MigrationFile], rows: dict[str, ledger.LedgerRow]
) -> list[tuple[str, str]]:
    """(id, message) per applied migration whose file or rollback changed or vanished since."""
    by_id = {m.id: m for m in migrations}
    problems = []
    for migration_id, row in rows.items():
        state = checksum_state(by_id.get(migration_id), row)
        if state.migration != "ok":
            problems.append(
                (migration_id, f"applied migration {migration_id}: file {state.migration}")
            )
        if state.rollback != "ok":
            problems.append(
                (migration_id, f"applied migration {migration_id}: rollback {state.rollback}")
            )
    return problems


def refuse_transaction_control(migrations: list[MigrationFile], direction: Direction) -> None:
    """A transactional script must not COMMIT or ROLLBACK: that would break its atomicity."""
    for migration in migrations:
        apply = direction == "apply"
        if not (migration.transactional if apply else migration.rollback_transactional):
            continue
        script = migration.source if apply else migration.rollback_source
        statement = transaction_control(script)
        if statement is not None:
            path = migration.path if apply else migration.rollback_path
            raise RunnerError(
                f"{path} line {statement.line}: {statement.text.split()[0]} is not allowed; the runner"
                " wraps each migration in its own transaction (use `-- transactional: false` for"
                " statements that cannot run in one)"
            )


class Runner:
    """One database, one project: the operations behind `mempg apply` and `mempg rollback`."""

    def __init__(self, project: Project, url: str, settings: SessionSettings, echo: Echo) -> None:
        self.project = project
        self.url = url
        self.settings = settings
        self.echo = echo

    def _connect(self) -> psycopg.Connection:
        return connect(self.url, self.settings, notices=self.echo)

    # ---------------------------------------------------------------- apply
    def apply(
        self,
        *,
        to: str | None = None,
        dry_run: bool = False,
        embedding_dim: int | None = None,
        text_search_config: str | None = None,
        embedding_type: str | None = None,
        show_sql: bool = True,
    ) -> RunReport:
        migrations = load_migrations(self.project)
        last = find(migrations, to) if to else len(migrations) - 1
        report = RunReport("apply", dry_run)
        with migration_lock(self.url, self.settings, on_wait=_to_stderr), self._connect() as conn:
            rows = ledger.read_ledger(conn)
            self._refuse_changed(migrations, rows)
            self._prepare_install_option(conn, "embedding_dim", embedding_dim)
            self._prepare_install_option(conn, "text_search_config", text_search_config)
            self._prepare_install_option(conn, "embedding_type", embedding_type)
            pending = [m for m in migrations[: last + 1] if m.id not in rows]
            missing = [m.id for m in pending if not m.has_rollback]
            if missing:
                raise RunnerError(
                    "refusing to apply migrations without a rollback (create rollbacks/<id>.sql): "
                    + ", ".join(missing)
                )
            refuse_transaction_control(pending, "apply")
            if not pending:
                report.message = "nothing to apply: the database is up to date"
                return report
            self.echo(
                ("dry run: would apply " if dry_run else "applying ")
                + ", ".join(m.id for m in pending)
            )
            if dry_run:
                self._dry_run(conn, pending, "apply", report, show_sql)
            else:
                for migration in pending:
                    step = self._apply_one(conn, migration)
                    report.steps.append(step)
                    if step.outcome == "failed":
                        break
        report.message = _summary(report)
        return report

    def _refuse_changed(
        self, migrations: list[MigrationFile], rows: dict[str, ledger.LedgerRow]
    ) -> None:
        failed = [r.id for r in rows.values() if r.status == "failed"]
        if failed:
            raise RunnerError(
                f"migration {failed[0]} stopped half way (non-transactional); repair it, then"
                f" `mempg rollback --to` the migration before it, and apply again"
            )
        problems = changed_on_disk(migrations, rows)
        if problems:
            raise RunnerError(
                "refusing to run: applied migrations changed on disk (never edit an applied"
                " migration; write a new one): " + "; ".join(msg for _id, msg in problems)
            )

    def _prepare_install_option(
        self, conn: psycopg.Connection, name: str, value: int | str | None
    ) -> None:
        """Pass an install option (--embedding-dim, --text-search-config, --embedding-type) to the
        migrations; SQL alone judges it (mempg.request_<name>, or the migration that reads it on
        a fresh install), and its error is the runner's."""
        if value is None:
            return
        checker = conn.execute(
            "SELECT to_regprocedure(%s) IS NOT NULL", (f"mempg.request_{name}(text)",)
        ).fetchone()
        if checker and checker[0]:
            try:
                conn.execute(f"SELECT mempg.request_{name}(%s)", (str(value),))
            except psycopg.Error as exc:
                raise RunnerError(first_line(exc)) from None
        conn.execute("SELECT set_config(%s, %s, false)", (f"mempg.{name}", str(value)))

    def _apply_one(self, conn: psycopg.Connection, migration: MigrationFile) -> StepReport:
        started = time.monotonic()
        books = ledger.YoyoBooks(conn)
        try:
            if migration.transactional:
                with transaction(conn, commit=True):
                    _bootstrap(conn, books)
                    run_script(conn, migration.source)
                    elapsed = _remember(conn, books, migration, started)
            else:
                elapsed = self._apply_without_transaction(conn, migration, books, started)
        except ScriptFailure as failure:
            return self._failed(migration, "apply", failure.describe(str(migration.path)))
        except psycopg.Error as exc:
            return self._failed(migration, "apply", f"{migration.path}: {exc}")
        self.echo(f"applied {migration.id} in {elapsed} ms")
        return StepReport(migration.id, "apply", "applied", elapsed, None, migration.transactional)

    def _apply_without_transaction(
        self,
        conn: psycopg.Connection,
        migration: MigrationFile,
        books: ledger.YoyoBooks,
        started: float,
    ) -> int:
        """`-- transactional: false`: statements one by one (e.g. CREATE INDEX CONCURRENTLY).

        A failure half way is recorded with status failed, so that apply stops until it is repaired.
        """
        statements = [step.step._apply for step in (migration.yoyo.steps or [])]
        for number, statement in enumerate(statements, start=1):
            try:
                run_script(conn, statement)
            except ScriptFailure as failure:
                with transaction(conn, commit=True):
                    _bootstrap(conn, books)
                    _remember(conn, books, migration, started, status="failed")
                raise ScriptFailure(failure.error, number, statement, None) from None
        with transaction(conn, commit=True):
            _bootstrap(conn, books)
            return _remember(conn, books, migration, started)

    # ------------------------------------------------------------- rollback
    def rollback(
        self,
        *,
        steps: int | None = None,
        to: str | None = None,
        everything: bool = False,
        dry_run: bool = False,
        show_sql: bool = True,
    ) -> RunReport:
        migrations = load_migrations(self.project)
        keep_through = find(migrations, to) if to else None
        report = RunReport("rollback", dry_run)
        with migration_lock(self.url, self.settings, on_wait=_to_stderr), self._connect() as conn:
            rows = ledger.read_ledger(conn)
            problems = changed_on_disk(migrations, rows)
            if problems:
                raise RunnerError(
                    "refusing to roll back: applied migrations changed on disk: "
                    + "; ".join(msg for _id, msg in problems)
                )
            applied = [m for m in migrations if m.id in rows]
            if keep_through is not None:
                chosen = [m for m in applied if migrations.index(m) > keep_through]
            elif everything:
                chosen = applied
            else:
                count = 1 if steps is None else steps
                if count > len(applied):
                    raise UsageProblem(
                        f"--steps {count}: only {len(applied)} migration(s) are applied"
                    )
                chosen = applied[len(applied) - count :]
            chosen.reverse()
            missing = [m.id for m in chosen if not m.has_rollback]
            if missing:
                raise RunnerError("cannot roll back, no rollback file: " + ", ".join(missing))
            refuse_transaction_control(chosen, "rollback")
            if not chosen:
                report.message = "nothing to roll back"
                return report
            self.echo(
                ("dry run: would roll back " if dry_run else "rolling back ")
                + ", ".join(m.id for m in chosen)
            )
            if dry_run:
                self._dry_run(conn, chosen, "rollback", report, show_sql)
            else:
                for migration in chosen:
                    step = self._rollback_one(conn, migration)
                    report.steps.append(step)
                    if step.outcome == "failed":
                        break
        report.message = _summary(report)
        return report

    def _rollback_one(self, conn: psycopg.Connection, migration: MigrationFile) -> StepReport:
        started = time.monotonic()
        books = ledger.YoyoBooks(conn)
        source = str(migration.rollback_path)
        try:
            if migration.rollback_transactional:
                with transaction(conn, commit=True):
                    run_script(conn, migration.rollback_source)
                    _forget(conn, books, migration)
            else:
                _, _, statements = read_sql_migration(str(migration.rollback_path))
                for statement in statements:
                    run_script(conn, statement)
                with transaction(conn, commit=True):
                    _forget(conn, books, migration)
        except ScriptFailure as failure:
            return self._failed(migration, "rollback", failure.describe(source))
        except psycopg.Error as exc:
            return self._failed(migration, "rollback", f"{source}: {exc}")
        elapsed = _ms(started)
        self.echo(f"rolled back {migration.id} in {elapsed} ms")
        return StepReport(
            migration.id, "rollback", "rolled back", elapsed, None, migration.rollback_transactional
        )

    # -------------------------------------------------------------- dry run
    def _dry_run(
        self,
        conn: psycopg.Connection,
        chosen: list[MigrationFile],
        direction: Direction,
        report: RunReport,
        show_sql: bool,
    ) -> None:
        """Print each script, run them all in one transaction, and roll it back."""
        books = ledger.YoyoBooks(conn)
        try:
            with transaction(conn, commit=False):
                _bootstrap(conn, books)
                for migration in chosen:
                    apply = direction == "apply"
                    path = migration.path if apply else migration.rollback_path
                    script = migration.source if apply else migration.rollback_source
                    transactional = (
                        migration.transactional if apply else migration.rollback_transactional
                    )
                    if show_sql:
                        self.echo(f"-- {path}\n{script.rstrip()}\n")
                    if not transactional:
                        self.echo(f"{migration.id}: non-transactional, listed but not executed")
                        report.steps.append(
                            StepReport(
                                migration.id,
                                direction,
                                "skipped",
                                None,
                                "non-transactional: not executed in a dry run",
                                False,
                            )
                        )
                        continue
                    started = time.monotonic()
                    try:
                        run_script(conn, script)
                    except ScriptFailure as failure:
                        report.steps.append(
                            self._failed(migration, direction, failure.describe(str(path)))
                        )
                        return
                    if apply:
                        _remember(conn, books, migration, started)
                    else:
                        _forget(conn, books, migration)
                    elapsed = _ms(started)
                    outcome = "would apply" if apply else "would roll back"
                    self.echo(f"{migration.id}: {outcome} (ran in {elapsed} ms, rolled back)")
                    report.steps.append(StepReport(migration.id, direction, outcome, elapsed))
        except psycopg.Error as exc:
            raise RunnerError(f"dry run failed: {exc}") from exc

    def _failed(self, migration: MigrationFile, direction: Direction, message: str) -> StepReport:
        self.echo(f"FAILED {direction} {migration.id}: {message}")
        return StepReport(migration.id, direction, "failed", None, message)


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _bootstrap(conn: psycopg.Connection, books: ledger.YoyoBooks) -> None:
    if not ledger.ledger_exists(conn):
        conn.execute(ledger.bootstrap_sql())
    books.ensure_tables()


def _remember(
    conn: psycopg.Connection,
    books: ledger.YoyoBooks,
    migration: MigrationFile,
    started: float,
    status: str = "applied",
) -> int:
    """The ledger row and (once applied) yoyo's mark, in the caller's transaction; returns ms."""
    elapsed = _ms(started)
    ledger.record_applied(
        conn, migration.id, _sha(migration), migration.rollback_sha256, elapsed, status
    )
    if status == "applied":
        books.mark(migration.yoyo)
    return elapsed


def _forget(conn: psycopg.Connection, books: ledger.YoyoBooks, migration: MigrationFile) -> None:
    ledger.record_rolled_back(conn, migration.id)
    books.ensure_tables()
    books.unmark(migration.yoyo)


def _sha(migration: MigrationFile) -> str:
    digest = migration.sha256
    if digest is None:
        raise RunnerError(f"{migration.path} vanished while running")
    return digest


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _summary(report: RunReport) -> str:
    done = [s for s in report.steps if s.outcome not in ("failed",)]
    failed = [s for s in report.steps if s.outcome == "failed"]
    verb = {"apply": "applied", "rollback": "rolled back"}[report.command]
    if report.dry_run:
        text = f"dry run: {len(done)} migration(s) checked, database unchanged"
    else:
        text = f"{verb} {len(done)} migration(s)"
    if failed:
        text += f"; {failed[0].id} failed"
    return text
