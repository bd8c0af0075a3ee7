"""Performance metrics: daily range partitions created ahead by maintenance, retention by
dropping whole partitions, COPY by service_role, append-only rows under row-level security, and
p50/p95 per component and hour."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

from helpers import Database, run_mempg
from vectors import connect_as

UTC = dt.UTC


def partitions(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'agent.metrics'::regclass ORDER BY 1"
    ).fetchall()
    return [name for (name,) in rows]


def day_name(day: dt.date) -> str:
    return f"metrics_p{day:%Y%m%d}"


def test_maintenance_creates_partitions_ahead_and_drops_those_past_retention(admin):
    at = dt.datetime(2031, 3, 10, 12, tzinfo=UTC)
    admin.execute(
        "UPDATE agent.settings SET metric_partitions_ahead = 3, metric_retention = '5 days'"
    )
    report = admin.execute("SELECT agent.maintain_metric_partitions(%s)", (at,)).fetchone()[0]
    expected = [day_name(dt.date(2031, 3, d)) for d in range(9, 14)]
    assert report["created"] == expected
    assert set(expected) <= set(partitions(admin))
    assert (
        admin.execute("SELECT agent.maintain_metric_partitions(%s)", (at,)).fetchone()[0]["created"]
        == []
    )
    later = admin.execute(
        "SELECT agent.maintain_metric_partitions(%s)", (at + dt.timedelta(days=6),)
    ).fetchone()[0]
    # the day before at + 6 days - 5 days (2031-03-11) is the oldest whole day kept
    assert later["dropped"][-2:] == [day_name(dt.date(2031, 3, 9)), day_name(dt.date(2031, 3, 10))]
    assert day_name(dt.date(2031, 3, 11)) in partitions(admin)
    assert all(name.startswith("metrics_p") for name in partitions(admin))


def test_partitions_have_row_level_security_and_no_grants(admin):
    rows = admin.execute(
        "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,"
        " has_table_privilege('authenticated', c.oid, 'SELECT'), has_table_privilege('service_role', c.oid, 'SELECT')"
        " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'agent.metrics'::regclass"
    ).fetchall()
    assert len(rows) >= 8  # yesterday, today and 7 ahead, from the migration
    assert all(r[1:] == (True, True, False, False) for r in rows)


def test_mempg_maintain_keeps_the_partitions(db: Database, admin):
    admin.execute("UPDATE agent.settings SET metric_partitions_ahead = 20")
    result = run_mempg("maintain", "--json", url=db.url)
    assert result.returncode == 0, result.stderr
    today = dt.datetime.now(UTC).date()
    assert day_name(today + dt.timedelta(days=20)) in partitions(admin)


def test_a_sample_outside_every_partition_is_refused(alice):
    with pytest.raises(psycopg.Error) as exc:
        alice.execute(
            "SELECT agent.record_metric('alice', 'api', 'latency', '{\"ms\": 1}', '2001-01-01')"
        )
    assert exc.value.sqlstate == "23514"


def test_service_role_copies_samples_and_users_read_only_their_own(db: Database):
    now = dt.datetime.now(UTC).replace(minute=10, second=0, microsecond=0)
    with connect_as(db.url, None, role="service_role") as service, service.transaction():
        service.execute("SELECT set_config('role', 'service_role', true)")
        with service.cursor().copy(
            "COPY agent.metrics (user_id, component, metric_type, metrics, recorded_at) FROM STDIN"
        ) as copy:
            for i in range(1, 101):
                copy.write_row(("alice", "search", "latency", f'{{"ms": {i}, "label": "x"}}', now))
            copy.write_row(("bob", "search", "latency", '{"ms": 1000}', now))
    with connect_as(db.url, "alice") as alice:
        rows = alice.execute(
            "SELECT user_id, metric, samples, p50, p95, max FROM agent.metric_percentiles_hourly WHERE component = 'search'"
        ).fetchall()
        assert rows == [("alice", "ms", 100, 50.5, 95.05, 100.0)]
        window = alice.execute(
            "SELECT samples FROM agent.metric_percentiles(%s, %s, 'search')",
            (now, now + dt.timedelta(hours=1)),
        ).fetchall()
        assert window == [(100,)]
        with (
            pytest.raises(psycopg.Error) as exc,
            alice.transaction(),
        ):  # COPY FROM is not allowed under RLS
            alice.execute("SELECT 1")  # the identity, for the rest of this transaction
            with alice.cursor().copy(
                "COPY agent.metrics (user_id, component, metric_type, metrics) FROM STDIN"
            ) as copy:
                copy.write_row(("alice", "x", "y", "{}"))
        assert exc.value.sqlstate == "0A000"
        for statement in ("UPDATE agent.metrics SET metrics = '{}'", "DELETE FROM agent.metrics"):
            with pytest.raises(psycopg.Error) as exc:
                alice.execute(statement)
            assert exc.value.sqlstate == "42501"  # append-only


@pytest.mark.parametrize(
    ("metrics", "sqlstate"),
    [(None, "22004"), ("[1, 2]", "22023"), ('{"k": "' + "x" * 3000 + '"}', "22001")],
)
def test_bad_samples_get_their_sqlstate(module_db: Database, metrics, sqlstate):
    with connect_as(module_db.url, "alice") as conn, pytest.raises(psycopg.Error) as exc:
        conn.execute("SELECT agent.record_metric('alice', 'api', 'latency', %s)", (metrics,))
    assert exc.value.sqlstate == sqlstate
