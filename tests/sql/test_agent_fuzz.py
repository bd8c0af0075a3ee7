"""Property-based fuzzing of the agent API (hypothesis): random mixes of good and bad arguments for
add_message, ingest_document, enqueue_ingestion, start_workflow, record_metric and unified_search.
Every call fails only with a SQLSTATE documented for it (docs/agent.md, "Bad input"), and a refused
call writes nothing (the row counts of every agent table are unchanged)."""

from __future__ import annotations

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import Database
from vectors import DIM, connect_as, unit, vector_literal

VECTOR_LITERAL = {"22000", "22003", "22P02"}
DOCUMENTED = {
    "add_message": {"22004", "22023", "22001", "42501"} | VECTOR_LITERAL,
    "ingest_document": {"22004", "22023", "22001", "42501"} | VECTOR_LITERAL,
    "enqueue_ingestion": {"22004", "22023", "22001", "42501"},
    "start_workflow": {"22004", "22023", "22001", "42501"},
    "record_metric": {"22004", "22023", "22001", "42501", "23514"},
    "unified_search": {"22004", "22023", "22001", "PGRST"} | VECTOR_LITERAL,
}
TABLES = ("conversations", "documents", "chunks", "ingestions", "workflow_executions", "metrics")

labels = st.one_of(
    st.none(),
    st.just(""),
    st.just("   "),
    st.just("alice"),
    st.just("bob"),
    st.text(max_size=20),
    st.just("x" * 300),
)
texts = st.one_of(
    st.none(), st.just(""), st.just(" \n "), st.text(max_size=50), st.just("y" * 100_001)
)
vectors = st.one_of(
    st.none(),
    st.just(vector_literal([0] * DIM)),
    st.just(vector_literal([1, 2, 3])),
    st.just("[NaN]"),
    st.just(vector_literal(unit(3).tolist())),
)
objects = st.one_of(st.none(), st.just("[]"), st.just('"s"'), st.just("{}"), st.just('{"a": 1}'))


def counts(conn: psycopg.Connection) -> tuple:
    return conn.execute(
        "SELECT " + ", ".join(f"(SELECT count(*) FROM agent.{t})" for t in TABLES)
    ).fetchone()


CALLS = {
    "add_message": (
        "SELECT agent.add_message(%s, %s, %s, %s, %s, %s::vector, %s::jsonb)",
        st.tuples(
            labels,
            labels,
            labels,
            st.sampled_from([None, "user", "robot", ""]),
            texts,
            vectors,
            objects,
        ),
    ),
    "ingest_document": (
        "SELECT agent.ingest_document(%s, %s, %s, %s, ARRAY[%s]::vector[], %s::jsonb)",
        st.tuples(
            labels,
            labels,
            labels,
            st.one_of(st.none(), st.lists(texts, max_size=2)),
            vectors,
            objects,
        ),
    ),
    "enqueue_ingestion": (
        "SELECT agent.enqueue_ingestion(%s, %s, %s, %s::jsonb, %s)",
        st.tuples(labels, labels, labels, objects, st.one_of(st.none(), st.integers(-5, 200))),
    ),
    "start_workflow": (
        "SELECT agent.start_workflow(%s, %s, %s, %s, %s::jsonb, %s)",
        st.tuples(
            labels,
            labels,
            labels,
            st.one_of(st.none(), st.lists(labels, max_size=2)),
            objects,
            st.sampled_from([None, "running", "pending", "completed", "x"]),
        ),
    ),
    "record_metric": (
        "SELECT agent.record_metric(%s, %s, %s, %s::jsonb)",
        st.tuples(labels, labels, labels, objects),
    ),
    "unified_search": (
        "SELECT count(*) FROM agent.unified_search(%s, %s::vector, %s, %s, %s, %s, %s)",
        st.tuples(
            texts,
            vectors,
            labels,
            st.integers(-1, 2000),
            st.one_of(
                st.none(),
                st.lists(st.sampled_from(["memory", "chunk", "conversation", "x"]), max_size=3),
            ),
            labels,
            labels,
        ),
    ),
}


@settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_bad_input_gets_a_documented_sqlstate_and_writes_nothing(module_db: Database, data):
    name = data.draw(st.sampled_from(sorted(CALLS)))
    statement, arguments = CALLS[name]
    values = data.draw(arguments)
    with connect_as(module_db.url, "alice") as conn:
        before = counts(conn)
        try:
            conn.execute(statement, values).fetchall()
        except psycopg.Error as exc:
            assert exc.sqlstate in DOCUMENTED[name], (name, values, exc.sqlstate, str(exc))
            assert counts(conn) == before, (name, values)
