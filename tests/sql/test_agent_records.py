"""Status machines of ingestions and workflow executions (illegal transitions refused with 55000,
timestamps and durations kept by the table), and conversations with their keyset listings."""

from __future__ import annotations

import psycopg
import pytest

from helpers import Database
from vectors import connect_as, unit


def test_a_workflow_execution_runs_to_completion_with_a_duration_computed_in_sql(alice):
    wf = alice.execute(
        "SELECT agent.start_workflow('alice', 'nightly', 'prefect', '{repo-a,repo-b}', '{\"run\": 7}')"
    ).fetchone()[0]
    row = alice.execute(
        "SELECT status, started_at IS NOT NULL, finished_at IS NULL, duration FROM agent.workflow_executions"
        " WHERE id = %s",
        (wf,),
    ).fetchone()
    assert row == ("running", True, True, None)
    row = alice.execute(
        "SELECT status, result, duration = finished_at - started_at, duration >= '0'"
        " FROM agent.set_workflow_status(%s, 'completed', '{\"indexed\": 12}')",
        (wf,),
    ).fetchone()
    assert row == ("completed", {"indexed": 12}, True, True)


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        (["completed"], "running"),
        (["failed"], "running"),
        (["cancelled"], "completed"),
    ],
)
def test_a_finished_workflow_execution_takes_no_other_status(alice, path, refused):
    wf = alice.execute("SELECT agent.start_workflow('alice', 'nightly', 'prefect')").fetchone()[0]
    for status in path:
        alice.execute("SELECT agent.set_workflow_status(%s, %s)", (wf, status))
    with pytest.raises(psycopg.Error) as exc:
        alice.execute("SELECT agent.set_workflow_status(%s, %s)", (wf, refused))
    assert exc.value.sqlstate == "55000"
    with pytest.raises(psycopg.Error) as exc:  # a plain UPDATE is refused too, even of metadata
        alice.execute(
            "UPDATE agent.workflow_executions SET metadata = '{\"x\": 1}' WHERE id = %s", (wf,)
        )
    assert exc.value.sqlstate == "55000"


def test_a_pending_execution_starts_or_is_cancelled_but_never_completes_unstarted(alice):
    wf = alice.execute(
        "SELECT agent.start_workflow('alice', 'w', 'airflow', status => 'pending')"
    ).fetchone()[0]
    with pytest.raises(psycopg.Error) as exc:
        alice.execute("SELECT agent.set_workflow_status(%s, 'completed')", (wf,))
    assert exc.value.sqlstate == "55000"
    assert "pending -> completed" in str(exc.value)
    row = alice.execute(
        "SELECT status, started_at IS NOT NULL FROM agent.set_workflow_status(%s, 'running')", (wf,)
    )
    assert row.fetchone() == ("running", True)


def test_illegal_ingestion_transitions_are_refused_whichever_way_they_are_written(alice):
    job = alice.execute("SELECT agent.enqueue_ingestion('alice', 'repo')").fetchone()[0]
    for status in ("completed", "failed"):
        with pytest.raises(psycopg.Error) as exc:
            alice.execute("UPDATE agent.ingestions SET status = %s WHERE id = %s", (status, job))
        assert exc.value.sqlstate in {"55000", "23514"}
    with pytest.raises(psycopg.Error) as exc:
        alice.execute(
            "INSERT INTO agent.ingestions (user_id, source_id, status, worker) VALUES ('alice', 'r', 'running', 'w')"
        )
    assert exc.value.sqlstate == "55000"
    with pytest.raises(psycopg.Error) as exc:
        alice.execute("SELECT agent.complete_ingestion(%s, 'w1')", (job,))  # queued, not claimed
    assert exc.value.sqlstate == "55000"


def test_the_status_machines_are_listed_in_one_place(alice):
    rows = alice.execute(
        "SELECT machine, count(*) FROM agent.status_transitions() GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert rows == [("ingestions", 6), ("workflow_executions", 7)]


def test_a_session_lists_in_turn_order_even_within_one_transaction(alice):
    with alice.transaction():
        for i in range(5):
            alice.execute(
                "SELECT agent.add_message('alice', 'planner', 's1', %s, %s)",
                ("user" if i % 2 == 0 else "assistant", f"message {i}"),
            )
    first = alice.execute(
        "SELECT content, turn FROM agent.session_messages('alice', 's1', page_size => 3)"
    ).fetchall()
    assert [c for c, _ in first] == ["message 0", "message 1", "message 2"]
    rest = alice.execute(
        "SELECT content FROM agent.session_messages('alice', 's1', after_turn => %s)",
        (first[-1][1],),
    ).fetchall()
    assert [c for (c,) in rest] == ["message 3", "message 4"]


def test_an_agents_messages_list_newest_first_by_a_keyset_cursor(alice):
    for i in range(4):
        alice.execute(
            "SELECT agent.add_message('alice', 'coder', %s, 'assistant', %s, %s)",
            (f"s{i % 2}", f"m{i}", unit(i)),
        )
    alice.execute("SELECT agent.add_message('alice', 'other', 's0', 'user', 'not mine')")
    page = alice.execute(
        "SELECT content, created_at, turn FROM agent.agent_messages('alice', 'coder', page_size => 2)"
    ).fetchall()
    assert [c for c, _, _ in page] == ["m3", "m2"]
    rest = alice.execute(
        "SELECT content FROM agent.agent_messages('alice', 'coder', %s, %s)",
        (page[-1][1], page[-1][2]),
    ).fetchall()
    assert [c for (c,) in rest] == ["m1", "m0"]
    with pytest.raises(psycopg.Error) as exc:
        alice.execute("SELECT * FROM agent.agent_messages('alice', 'coder', now())")
    assert exc.value.sqlstate == "22023"  # half a cursor


@pytest.mark.parametrize(
    ("arguments", "sqlstate"),
    [
        (("alice", "a", "s", None, "hi"), "22004"),
        (("alice", "a", "s", "robot", "hi"), "22023"),
        (("alice", "a", "s", "user", "   "), "22023"),
        (("alice", "", "s", "user", "hi"), "22023"),
        (("alice", "a", "s" * 300, "user", "hi"), "22001"),
        (("alice", "a", "s", "user", "x" * 100_001), "22001"),
        (("bob", "a", "s", "user", "hi"), "42501"),
    ],
)
def test_bad_messages_get_their_sqlstate(module_db: Database, arguments, sqlstate):
    with connect_as(module_db.url, "alice") as conn, pytest.raises(psycopg.Error) as exc:
        conn.execute("SELECT agent.add_message(%s, %s, %s, %s, %s)", arguments)
    assert exc.value.sqlstate == sqlstate


def test_another_users_agent_records_are_neither_listed_nor_changed(db: Database):
    """Row-level security through every listing and writing function of the agent schema: alice
    naming bob lists nothing, cannot move bob's workflow, and cannot write rows as bob (42501);
    bob's rows are unchanged after."""
    with connect_as(db.url, "bob") as bob:
        bob.execute("SELECT agent.add_message('bob', 'coder', 's1', 'user', 'hello')")
        bob.execute("SELECT agent.enqueue_ingestion('bob', 'repo-b', 'a.md')")
        workflow = bob.execute(
            "SELECT agent.start_workflow('bob', 'nightly', 'prefect', status => 'pending')"
        ).fetchone()[0]
        bob.execute(
            "SELECT agent.ingest_document('bob', 'repo-b', 'a.md', ARRAY['text'], %s::vector[])",
            ([unit(1)],),
        )
    listings = [
        "SELECT count(*) FROM agent.session_messages('bob', 's1')",
        "SELECT count(*) FROM agent.agent_messages('bob', 'coder')",
        "SELECT count(*) FROM agent.list_ingestions('bob', 'queued')",
        "SELECT count(*) FROM agent.list_workflow_executions('bob', 'prefect', 'pending')",
    ]
    with connect_as(db.url, "alice") as alice:
        for listing in listings:
            assert alice.execute(listing).fetchone() == (0,), listing
        with pytest.raises(psycopg.Error) as exc:
            alice.execute("SELECT agent.set_workflow_status(%s, 'running')", (workflow,))
        assert exc.value.sqlstate == "P0002"  # not hers: not there
        writes = [
            ("SELECT agent.enqueue_ingestion('bob', 'repo-b', 'b.md')", ()),
            ("SELECT agent.start_workflow('bob', 'nightly', 'prefect')", ()),
            (
                "SELECT agent.ingest_document('bob', 'repo-b', 'b.md', ARRAY['text'], %s::vector[])",
                ([unit(2)],),
            ),
        ]
        for statement, arguments in writes:
            with pytest.raises(psycopg.Error) as exc:
                alice.execute(statement, arguments)
            assert exc.value.sqlstate == "42501", statement
    with connect_as(db.url, "bob") as bob:
        for listing in listings:
            assert bob.execute(listing).fetchone() == (1,), listing
        assert bob.execute(
            "SELECT count(*) FROM agent.documents WHERE user_id = 'bob'"
        ).fetchone() == (1,)
