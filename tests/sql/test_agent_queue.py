"""The ingestion queue (agent.ingestions): claims with FOR UPDATE SKIP LOCKED, leases that return a
crashed worker's job, retries with a limit, and only the lease holder completing a job. Under
concurrency every job is done exactly once: 8 worker threads, a worker process killed with SIGKILL
while it holds a claimed job, and a connection terminated in the middle of its claim."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import psycopg
import pytest

from helpers import Database
from vectors import connect_as


def enqueue(
    conn: psycopg.Connection, count: int, user: str = "alice", **arguments: object
) -> list[int]:
    named = "".join(f", {name} => %({name})s" for name in arguments)
    return [
        conn.execute(
            f"SELECT agent.enqueue_ingestion(%(user)s, 'repo', %(uri)s{named})",
            {"user": user, "uri": f"doc-{i}.md", **arguments},
        ).fetchone()[0]
        for i in range(count)
    ]


def claim(conn: psycopg.Connection, worker: str, timeout: str | None = None) -> tuple | None:
    return conn.execute(
        "SELECT id, status, attempts, worker FROM agent.claim_ingestion(%s, %s::interval)",
        (worker, timeout),
    ).fetchone()


def test_a_claimed_job_is_running_with_a_lease_and_completes_with_its_counts(db: Database):
    with connect_as(db.url, "alice") as conn:
        (job,) = enqueue(conn, 1)
        claimed = claim(conn, "w1")
        assert claimed == (job, "running", 1, "w1")
        row = conn.execute(
            "SELECT status, documents, chunks, finished_at >= started_at, duration IS NOT NULL"
            " FROM agent.complete_ingestion(%s, 'w1', 3, 12)",
            (job,),
        ).fetchone()
        assert row == ("completed", 3, 12, True, True)
        assert claim(conn, "w1") is None


def test_only_the_worker_holding_the_lease_completes_the_job(db: Database):
    with connect_as(db.url, "alice") as conn:
        (job,) = enqueue(conn, 1)
        claim(conn, "w1")
        with pytest.raises(psycopg.Error) as exc:
            conn.execute("SELECT agent.complete_ingestion(%s, 'w2')", (job,))
        assert exc.value.sqlstate == "55000"
        conn.execute("SELECT agent.complete_ingestion(%s, 'w1')", (job,))
        with pytest.raises(psycopg.Error) as exc:
            conn.execute("SELECT agent.complete_ingestion(%s, 'w1')", (job,))
        assert exc.value.sqlstate == "55000"  # completed is final
        with pytest.raises(psycopg.Error) as exc:
            conn.execute("SELECT agent.complete_ingestion(%s, 'w1')", (job + 1000,))
        assert exc.value.sqlstate == "P0002"


def test_the_visibility_timeout_returns_a_job_to_the_queue_and_the_old_worker_loses_it(
    db: Database,
):
    with connect_as(db.url, "alice") as conn:
        (job,) = enqueue(conn, 1)
        assert claim(conn, "w1", "1 second")[0] == job
        assert claim(conn, "w2") is None  # leased
        deadline = time.monotonic() + 15
        while (again := claim(conn, "w2")) is None:  # the lease's own clock, polled
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert again == (job, "running", 2, "w2")
        with pytest.raises(psycopg.Error) as exc:
            conn.execute("SELECT agent.complete_ingestion(%s, 'w1')", (job,))
        assert exc.value.sqlstate == "55000"
        row = conn.execute(
            "SELECT status, attempts FROM agent.complete_ingestion(%s, 'w2')", (job,)
        ).fetchone()
        assert row == ("completed", 2)


def test_a_failed_attempt_is_retried_after_a_backoff_until_the_attempts_run_out(
    db: Database, admin
):
    admin.execute("UPDATE agent.settings SET retry_delay = '0'")
    with connect_as(db.url, "alice") as conn:
        (job,) = enqueue(conn, 1, max_attempts=2)
        claim(conn, "w1")
        row = conn.execute(
            "SELECT status, error FROM agent.fail_ingestion(%s, 'w1', 'timeout')", (job,)
        ).fetchone()
        assert row == ("queued", "timeout")
        assert claim(conn, "w1")[2] == 2
        row = conn.execute(
            "SELECT status, finished_at IS NOT NULL FROM agent.fail_ingestion(%s, 'w1', 'timeout again')",
            (job,),
        ).fetchone()
        assert row == ("failed", True)
        assert claim(conn, "w1") is None
        row = conn.execute(
            "SELECT status, attempts FROM agent.retry_ingestion(%s)", (job,)
        ).fetchone()
        assert row == ("queued", 0)
        with pytest.raises(psycopg.Error) as exc:
            conn.execute("SELECT agent.retry_ingestion(%s)", (job,))
        assert exc.value.sqlstate == "55000"  # only a failed job is retried


def test_a_job_whose_last_lease_expired_fails_instead_of_running_again(db: Database, admin):
    with connect_as(db.url, "alice") as conn:
        (job,) = enqueue(conn, 1, max_attempts=1)
        claim(conn, "w1")
    admin.execute(
        "UPDATE agent.ingestions SET visible_at = now() - interval '1 second' WHERE id = %s", (job,)
    )
    with connect_as(db.url, "alice") as conn:
        assert claim(conn, "w2") is None
        row = conn.execute(
            "SELECT status, error FROM agent.ingestions WHERE id = %s", (job,)
        ).fetchone()
    assert row[0] == "failed" and "expired on attempt 1 of 1" in row[1]


def test_a_claim_skips_a_job_locked_by_another_worker_without_waiting(db: Database, admin):
    with (
        connect_as(db.url, None, role="service_role") as first,
        connect_as(db.url, None, role="service_role") as second,
    ):
        jobs = enqueue(admin, 2)
        with first.transaction():
            held = claim(first, "w1")  # uncommitted: its row stays locked
            assert held[0] == jobs[0]
            other = claim(second, "w2")  # returns at once with the next job
            assert other[0] == jobs[1]
            waiting = admin.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()
            assert waiting == (0,)


def test_users_claim_only_their_own_jobs_and_service_role_anyones(db: Database, admin):
    enqueue(admin, 1, user="bob")
    with connect_as(db.url, "alice") as alice:
        assert claim(alice, "w1") is None
    with connect_as(db.url, None, role="service_role") as service:
        assert claim(service, "w1") is not None


def run_workers(
    url: str, workers: int, total: int, deadline: float
) -> tuple[Counter, list[BaseException]]:
    completed: Counter = Counter()
    lock = threading.Lock()
    errors: list[BaseException] = []
    start = threading.Barrier(workers)

    def work(name: str) -> None:
        try:
            with connect_as(url, None, role="service_role") as conn:
                start.wait()
                while time.monotonic() < deadline:
                    with lock:
                        if sum(completed.values()) >= total:
                            return
                    job = claim(conn, name)
                    if job is None:
                        time.sleep(0.02)  # an empty queue: poll again (a job's lease may expire)
                        continue
                    conn.execute("SELECT agent.complete_ingestion(%s, %s, 1, 1)", (job[0], name))
                    with lock:
                        completed[job[0]] += 1
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return completed, errors


KILLED_WORKER = """
import sys, time, psycopg
with psycopg.connect(sys.argv[1], autocommit=True) as conn:
    conn.execute("SET role service_role")
    row = conn.execute("SELECT id FROM agent.claim_ingestion('doomed', '2 seconds')").fetchone()
    print(row[0], flush=True)
    time.sleep(600)
"""


def test_eight_workers_and_a_killed_one_do_every_job_exactly_once(db: Database, admin):
    jobs = enqueue(admin, 300)
    doomed = subprocess.Popen(
        [sys.executable, "-c", KILLED_WORKER, db.url], stdout=subprocess.PIPE, text=True
    )
    assert doomed.stdout is not None
    held = int(doomed.stdout.readline())
    os.kill(doomed.pid, signal.SIGKILL)  # dies holding its lease: the job stays running
    doomed.wait()
    assert admin.execute(
        "SELECT status, worker FROM agent.ingestions WHERE id = %s", (held,)
    ).fetchone() == (
        "running",
        "doomed",
    )
    completed, errors = run_workers(db.url, 8, len(jobs), time.monotonic() + 60)
    assert errors == []
    assert set(completed) == set(jobs)
    assert max(completed.values()) == 1
    rows = admin.execute(
        "SELECT count(*) FILTER (WHERE status = 'completed'), count(DISTINCT worker),"
        " max(attempts) FILTER (WHERE id = %s) FROM agent.ingestions",
        (held,),
    ).fetchone()
    assert rows[0] == len(jobs)
    assert rows[1] > 1  # the workers shared the queue
    assert rows[2] == 2  # the killed worker's job came back once


def test_a_connection_terminated_during_its_claim_leaves_the_job_to_the_others(db: Database, admin):
    (job,) = enqueue(admin, 1)
    victim = connect_as(db.url, None, role="service_role")
    victim.execute("BEGIN")
    victim.execute("SELECT set_config('role', 'service_role', true)")
    assert victim.execute("SELECT id FROM agent.claim_ingestion('victim')").fetchone()[0] == job
    pid = victim.info.backend_pid
    with connect_as(db.url, None, role="service_role") as other:
        assert claim(other, "w2") is None  # locked, skipped
        admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
        assert claim(other, "w2")[:3] == (job, "running", 1)  # the claim was never committed
    victim.close()
