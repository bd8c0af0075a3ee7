"""The loader: batches a source's items, sends each batch by COPY into the session's staging tables
and applies it with memory.import_batch() in one transaction, then reports.

Everything an import decides (checks, deduplication, what was already imported, restore) happens
in SQL (sql/memory/import_batch.sql). Here: reading in batches (memory bounded by --batch-size),
the dimension check before the first write, --user / --user-from, and isolating a row that
PostgreSQL cannot even parse (a NUL byte, a malformed array) by splitting its batch, so that it
is rejected alone instead of failing the import.
"""

from __future__ import annotations

import json
import math
import re
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import psycopg
from psycopg.types.json import Jsonb

from runner.errors import EXIT_USAGE, RunnerError
from runner.importing.records import RECORD_KINDS, Item, MemoryRow, Record, Unreadable

COPY_COLUMNS = (
    "ordinal, source_id, preferred_id, user_id, agent_id, run_id, memory, embedding, metadata,"
    " categories, memory_type, source, relevance_score, expires_at, created_at, updated_at,"
    " entities, restore"
)

COPY_TYPES = ["int8", "text", "uuid", "text", "text", "text", "text", "float4[]", "jsonb", "text[]", "text",
              "text", "float8", "text", "text", "text", "jsonb", "jsonb"]  # fmt: skip


def _dumps(value: Any) -> str:
    """JSON for jsonb columns: a value JSON has no type for (a date, a Decimal, bytes) as text."""
    return json.dumps(value, default=_plain)


def _plain(value: Any) -> str:
    return value.hex() if isinstance(value, bytes | bytearray | memoryview) else str(value)


class SourceError(RunnerError):
    """The source cannot be read at all (missing file, wrong format, missing table): exit 4."""

    exit_code = 4


class DimensionMismatch(RunnerError):
    """The source's embeddings have another dimension than the installed one: exit 2."""

    exit_code = EXIT_USAGE


class Source(Protocol):
    kind: str
    name: str

    def items(self) -> Iterator[Item]: ...


@dataclass
class ImportOptions:
    user: str | None = None
    user_from: str | None = None
    dry_run: bool = False
    batch_size: int = 1000
    pad_embeddings: bool = False
    no_embeddings: bool = False
    jobs: int = 1


@dataclass
class ImportReport:
    source_kind: str
    source_name: str
    dry_run: bool
    run_id: int | None = None
    read: Counter[str] = field(default_factory=Counter)
    events: dict[str, Counter[str]] = field(default_factory=dict)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    checksum: str | None = None
    seconds: float = 0.0

    @property
    def rejected_count(self) -> int:
        return len(self.rejected)

    def rejected_by_reason(self) -> Counter[str]:
        return Counter(
            f"{r['kind']} {r['error_code']}: {_reason(r['error'])}" for r in self.rejected
        )

    def as_dict(self) -> dict[str, Any]:
        rows = sum(self.read.values())
        return {
            "run_id": self.run_id,
            "source_kind": self.source_kind,
            "source_name": self.source_name,
            "dry_run": self.dry_run,
            "read": dict(self.read),
            "events": {kind: dict(events) for kind, events in self.events.items()},
            "rejected": self.rejected_count,
            "rejected_by_reason": dict(self.rejected_by_reason()),
            "rejected_rows": self.rejected,
            "checksum": self.checksum,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(rows / self.seconds, 1) if self.seconds > 0 else None,
        }


def _reason(message: str) -> str:
    """A message with its row-specific values kept short enough to group by."""
    return message if len(message) <= 120 else message[:117] + "..."


def installed_dimension(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT memory.embedding_dim()").fetchone()
    assert row is not None
    return int(row[0])


def run_import(
    conn: psycopg.Connection,
    source: Source,
    options: ImportOptions,
    progress: Callable[[int, ImportReport], None] | None = None,
    open_worker: Callable[[], psycopg.Connection] | None = None,
) -> ImportReport:
    """Imports a source through memory.import_batch(); the connection is in autocommit mode.
    With options.jobs > 1 (not in a dry run), open_worker opens the other sessions."""
    report = ImportReport(source.kind, source.name, options.dry_run)
    dimension = installed_dimension(conn)
    batches = _batches(_prepared(source.items(), options), options.batch_size)
    first = next(batches, [])
    _check_dimensions(first, dimension, options)
    started = time.perf_counter()
    conn.execute("SELECT memory.create_import_staging()")
    if options.dry_run:  # every batch in one transaction, rolled back at the end
        with conn.transaction() as everything:
            _import_batches(conn, report, _chain([first], batches), options, progress, None)
            raise psycopg.Rollback(everything)
    else:
        _import_batches(conn, report, _chain([first], batches), options, progress, open_worker)
    report.seconds = time.perf_counter() - started
    return report


def _import_batches(
    conn: psycopg.Connection,
    report: ImportReport,
    batches: Iterator[list[Item]],
    options: ImportOptions,
    progress: Callable[[int, ImportReport], None] | None,
    open_worker: Callable[[], psycopg.Connection] | None,
) -> None:
    with conn.transaction():
        row = conn.execute(
            "SELECT memory.start_import(%s, %s)", (report.source_kind, report.source_name)
        ).fetchone()
    assert row is not None
    report.run_id = int(row[0])
    try:
        if options.jobs > 1 and open_worker is not None:
            from runner.importing.parallel import apply_in_parallel

            apply_in_parallel(conn, report, batches, options, progress, open_worker)
        else:
            done = 0
            for batch in batches:
                apply_batch(conn, report, batch, options)
                done += len(batch)
                if progress is not None:
                    progress(done, report)
    except BaseException:
        if (
            not options.dry_run
            and not conn.closed
            and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        ):
            with conn.transaction():  # the run is recorded as failed, with what it had done
                conn.execute(
                    "SELECT memory.finish_import(%s, %s, true)",
                    (report.run_id, Jsonb(_stored_report(report))),
                )
        raise
    with conn.transaction():
        result = conn.execute(
            "SELECT status, checksum FROM memory.finish_import(%s, %s)",
            (report.run_id, Jsonb(_stored_report(report))),
        ).fetchone()
    assert result is not None
    report.checksum = result[1]


def _chain(first: list[list[Item]], rest: Iterator[list[Item]]) -> Iterator[list[Item]]:
    for batch in first:
        if batch:
            yield batch
    yield from rest


def _stored_report(report: ImportReport) -> dict[str, Any]:
    stored = report.as_dict()
    stored["rejected_rows"] = stored["rejected_rows"][:1000]
    return stored


def _prepared(items: Iterable[Item], options: ImportOptions) -> Iterator[Item]:
    """--user / --user-from and --no-embeddings, applied to every item."""
    for item in items:
        if isinstance(item, MemoryRow):
            if options.user is not None:
                item.user_id = options.user
            elif options.user_from is not None:
                value = (
                    (item.metadata or {}).get(options.user_from)
                    if isinstance(item.metadata, dict)
                    else None
                )
                item.user_id = None if value is None else str(value)
            if options.no_embeddings:
                item.embedding = None
        elif isinstance(item, Record):
            if options.user is not None and item.kind != "history":
                item.user_id = options.user
            elif options.user_from is not None and item.kind != "history":
                value = item.doc.get(
                    options.user_from, (item.doc.get("attributes") or {}).get(options.user_from)
                )
                item.user_id = None if value is None else str(value)
            if options.no_embeddings:
                item.doc.pop("embedding", None)
        yield item


def _batches(items: Iterator[Item], size: int) -> Iterator[list[Item]]:
    batch: list[Item] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _check_dimensions(batch: list[Item], dimension: int, options: ImportOptions) -> None:
    """Refuses a source whose embeddings are not of the installed dimension, before any write."""
    for item in batch:
        vector = item.embedding if isinstance(item, MemoryRow) else None
        if isinstance(item, Record) and isinstance(item.doc.get("embedding"), list):
            vector = item.doc["embedding"]
        if vector is None:
            continue
        size = len(vector)
        if size == dimension or (size < dimension and options.pad_embeddings):
            return
        hint = (
            "--pad-embeddings pads them with zeros (cosine similarity is unchanged), or "
            if size < dimension
            else ""
        )
        raise DimensionMismatch(
            f"the source's embeddings have {size} dimensions; this database stores"
            f" {dimension}-dimensional embeddings: {hint}--no-embeddings imports the text only,"
            " as pending memories to embed later (mempg never truncates an embedding)"
        )


def apply_batch(
    conn: psycopg.Connection, report: ImportReport, batch: list[Item], options: ImportOptions
) -> None:
    """One batch in one transaction; a batch PostgreSQL cannot parse is split until the row is found."""
    staged: list[Item] = []
    for item in batch:
        report.read[_kind(item)] += 1
        problem = _unsendable(item)
        if problem is not None:
            _reject(report, _kind(item), item.source_id, "22P02", problem)
        else:
            staged.append(item)
    _apply_staged(conn, report, staged, options)


def _apply_staged(
    conn: psycopg.Connection, report: ImportReport, staged: list[Item], options: ImportOptions
) -> None:
    if not staged:
        return
    try:
        outcomes = _send_retrying(conn, report.run_id, staged, options)
    except psycopg.errors.DataError as exc:
        if len(staged) == 1:
            item = staged[0]
            _reject(
                report,
                _kind(item),
                item.source_id,
                exc.sqlstate or "22000",
                str(exc.diag.message_primary or exc),
            )
            return
        middle = len(staged) // 2
        _apply_staged(conn, report, staged[:middle], options)
        _apply_staged(conn, report, staged[middle:], options)
        return
    for kind, source_id, event, error_code, error in outcomes:
        if event == "REJECT":
            _reject(report, kind, source_id, error_code, error)
        else:
            report.events.setdefault(kind, Counter())[event] += 1


def _send_retrying(
    conn: psycopg.Connection, run_id: int | None, staged: list[Item], options: ImportOptions
) -> list[tuple[str, str, str, str | None, str | None]]:
    """One batch in one transaction; again (three times at most) after a deadlock, a serialization
    failure or a lock timeout, which parallel sessions registering the same new kinds can meet."""
    for attempt in range(3):
        try:
            with conn.transaction():
                return _send(conn, run_id, staged, options)
        except (
            psycopg.errors.DeadlockDetected,
            psycopg.errors.SerializationFailure,
            psycopg.errors.LockNotAvailable,
        ):
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _send(
    conn: psycopg.Connection, run_id: int | None, staged: list[Item], options: ImportOptions
) -> list[tuple[str, str, str, str | None, str | None]]:
    with conn.cursor() as cur:
        # emptied at commit (ON COMMIT DELETE ROWS), but a dry run's batches share one transaction
        cur.execute("TRUNCATE pg_temp.memory_import_rows, pg_temp.memory_import_records")
        with cur.copy(
            f"COPY pg_temp.memory_import_rows ({COPY_COLUMNS}) FROM STDIN WITH (FORMAT binary)"
        ) as copy:
            copy.set_types(COPY_TYPES)  # binary: a 1536-float embedding costs no text formatting
            for ordinal, item in enumerate(staged):
                if isinstance(item, MemoryRow):
                    copy.write_row(_memory_columns(ordinal, item))
        with cur.copy(
            "COPY pg_temp.memory_import_records (ordinal, kind, source_id, user_id, doc) FROM STDIN"
        ) as copy:
            for ordinal, item in enumerate(staged):
                if isinstance(item, Record):
                    copy.write_row(
                        (
                            ordinal,
                            item.kind,
                            item.source_id,
                            item.user_id,
                            Jsonb(item.doc, dumps=_dumps),
                        )
                    )
        cur.execute(
            "SELECT kind, source_id, event, error_code, error FROM memory.import_batch(%s, %s)",
            (run_id, options.pad_embeddings),
        )
        return cur.fetchall()


def _memory_columns(ordinal: int, row: MemoryRow) -> tuple[Any, ...]:
    return (
        ordinal,
        row.source_id,
        _uuid(row.preferred_id),
        row.user_id,
        row.agent_id,
        row.run_id,
        row.memory,
        row.embedding,
        None if row.metadata is None else Jsonb(row.metadata, dumps=_dumps),
        row.categories,
        row.memory_type,
        row.source,
        row.relevance_score,
        row.expires_at,
        row.created_at,
        row.updated_at,
        None if row.entities is None else Jsonb(row.entities, dumps=_dumps),
        None if row.restore is None else Jsonb(row.restore, dumps=_dumps),
    )


def _uuid(text: str | None) -> uuid.UUID | None:
    """A preferred id as binary COPY wants it; one that is not a uuid is no preference."""
    if text is None:
        return None
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def _kind(item: Item) -> str:
    if isinstance(item, Record):
        return item.kind
    if isinstance(item, Unreadable):
        return item.kind
    return "memory"


def _unsendable(item: Item) -> str | None:
    """What keeps a row from reaching PostgreSQL at all (the source's reader or the wire)."""
    if isinstance(item, Unreadable):
        return item.reason
    if isinstance(item, Record):
        if item.kind not in RECORD_KINDS:
            return f"kind must be one of {', '.join(RECORD_KINDS)}, got {item.kind!r}"
        return _nul_problem(_dumps(item.doc), "document")
    for name in (
        "user_id",
        "agent_id",
        "run_id",
        "memory",
        "memory_type",
        "source",
        "created_at",
        "updated_at",
        "expires_at",
    ):
        value = getattr(item, name)
        if value is not None and not isinstance(value, str):
            return f"{name} must be text, got {type(value).__name__}"
        if value is not None and "\x00" in value:
            return f"{name} contains a NUL character"
        if value is not None and not _utf8(value):
            return f"{name} is not valid text (a lone surrogate)"
    if item.embedding is not None and not _finite_numbers(item.embedding):
        return "embedding must be a list of finite numbers"
    if item.categories is not None and not (
        isinstance(item.categories, list) and all(isinstance(c, str) for c in item.categories)
    ):
        return "categories must be a list of strings"
    if item.categories is not None and any("\x00" in c for c in item.categories):
        return "categories contains a NUL character"
    if item.relevance_score is not None and (
        not isinstance(item.relevance_score, int | float)
        or isinstance(item.relevance_score, bool)
        or not _finite_numbers([item.relevance_score])
    ):
        return "relevance_score must be a finite number"
    if item.categories is not None and not all(_utf8(c) for c in item.categories):
        return "categories are not valid text (a lone surrogate)"
    for name in ("metadata", "entities", "restore"):
        problem = _nul_problem(_dumps(getattr(item, name)), name)
        if problem:
            return problem
    return None


def _finite_numbers(values: Any) -> bool:
    try:
        return isinstance(values, list) and all(
            isinstance(x, int | float)
            and not isinstance(x, bool)
            and math.isfinite(x)
            and abs(x) < 3.4e38
            for x in values
        )
    except OverflowError:  # an integer too large for a float
        return False


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _nul_problem(text: str, name: str) -> str | None:
    if "\\u0000" in text:
        return f"{name} contains a NUL character"
    if re.search(r"\\ud[89ab][0-9a-f]{2}(?!\\ud[c-f])", text) or re.search(
        r"(?<!\\ud[89ab][0-9a-f]{2})\\ud[c-f][0-9a-f]{2}", text
    ):
        return f"{name} holds a lone surrogate, which is not valid text"
    return None


def _reject(
    report: ImportReport, kind: str, source_id: str, code: str | None, error: str | None
) -> None:
    report.rejected.append(
        {"kind": kind, "source_id": source_id, "error_code": code or "", "error": error or ""}
    )


def print_report(report: ImportReport, echo: Callable[[str], None] = print) -> None:
    data = report.as_dict()
    action = "would import" if report.dry_run else "imported"
    echo(f"{action} from {report.source_kind} {report.source_name} (run {report.run_id})")
    kinds = sorted(set(report.read) | set(report.events))
    for kind in kinds:
        events = report.events.get(kind, Counter())
        rejected = sum(1 for r in report.rejected if r["kind"] == kind)
        parts = ", ".join(f"{event} {count}" for event, count in sorted(events.items()))
        echo(
            f"  {kind}: read {report.read.get(kind, 0)}; {parts or 'nothing applied'}; rejected {rejected}"
        )
    for reason, count in sorted(report.rejected_by_reason().items()):
        echo(f"  rejected {count}: {reason}")
    echo(f"  checksum {report.checksum}")
    if data["rows_per_second"] is not None:
        echo(f"  {data['seconds']} s, {data['rows_per_second']} rows/s")
    if report.dry_run:
        echo("  dry run: nothing was written")


def plain_progress(done: int, report: ImportReport) -> None:
    rejected = report.rejected_count
    applied = sum(sum(c.values()) for c in report.events.values())
    print(
        f"  {done} rows read, {applied} applied, {rejected} rejected", file=sys.stderr, flush=True
    )
