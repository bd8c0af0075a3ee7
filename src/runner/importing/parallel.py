"""`mempg import --jobs N`: batches applied by N sessions at once, each user's rows always in the same
session and in source order, so deduplication (per user and agent, under its scope lock) decides
exactly as it would in one session. A record without a user (Mem0's history) waits until every
worker is done, then goes through the main session, after the memories it refers to."""

from __future__ import annotations

import queue
import threading
import zlib
from collections.abc import Callable, Iterator

import psycopg

from runner.importing.loader import ImportOptions, ImportReport, apply_batch
from runner.importing.records import Item, MemoryRow, Record

STOP = None


def apply_in_parallel(
    conn: psycopg.Connection,
    report: ImportReport,
    batches: Iterator[list[Item]],
    options: ImportOptions,
    progress: Callable[[int, ImportReport], None] | None,
    open_worker: Callable[[], psycopg.Connection],
) -> None:
    jobs = options.jobs
    queues: list[queue.Queue[list[Item] | None]] = [queue.Queue(maxsize=2) for _ in range(jobs)]
    reports = [
        ImportReport(report.source_kind, report.source_name, False, report.run_id)
        for _ in range(jobs)
    ]
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            with open_worker() as worker:
                worker.execute("SELECT memory.create_import_staging()")
                while (batch := queues[index].get()) is not STOP:
                    if not errors:
                        apply_batch(worker, reports[index], batch, options)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
            while queues[index].get() is not STOP:  # drain, so the feeder never blocks
                pass

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(jobs)]
    for thread in threads:
        thread.start()
    buffers: list[list[Item]] = [[] for _ in range(jobs)]
    deferred: list[Item] = []
    done = 0
    try:
        for batch in batches:
            for item in batch:
                user = item.user_id if isinstance(item, MemoryRow | Record) else None
                if isinstance(item, Record) and item.kind == "history" and user is None:
                    deferred.append(item)
                    continue
                index = zlib.crc32((user or "").encode()) % jobs
                buffers[index].append(item)
                if len(buffers[index]) >= options.batch_size:
                    _put(queues[index], buffers[index], errors)
                    buffers[index] = []
            done += len(batch)
            if progress is not None:
                progress(done, report)
            if errors:
                break
        for index, buffer in enumerate(buffers):
            if buffer and not errors:
                _put(queues[index], buffer, errors)
    finally:
        for q in queues:
            q.put(STOP)
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]
    for part in reports:
        report.read.update(part.read)
        for kind, events in part.events.items():
            report.events.setdefault(kind, type(events)()).update(events)
        report.rejected.extend(part.rejected)
    for start in range(0, len(deferred), options.batch_size):
        apply_batch(conn, report, deferred[start : start + options.batch_size], options)


def _put(q: queue.Queue[list[Item] | None], batch: list[Item], errors: list[BaseException]) -> None:
    while True:
        if errors:
            return
        try:
            q.put(batch, timeout=0.5)
            return
        except queue.Full:
            continue
