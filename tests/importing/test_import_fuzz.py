"""Fuzzing the bulk path against add_memory with hypothesis: for any row, memory.import_batch()
rejects it exactly when memory.add_memory() refuses the same arguments, with the same SQLSTATE,
and otherwise reports the same event; a rejected row leaves nothing behind."""

from __future__ import annotations

import json
import math
import uuid

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from import_support import vec
from psycopg.types.json import Jsonb

from helpers import Database
from vectors import DIM

GOOD = vec(1)
CHARS = st.characters(
    exclude_categories=("Cs",)
)  # lone surrogates never reach the server (test_import_bulk)
labels = st.one_of(
    st.none(),
    st.sampled_from(["", " ", "\t", "a", "planner", "x" * 255, "x" * 256]),
    st.text(CHARS, max_size=8),
)
texts = st.one_of(
    st.none(),
    st.sampled_from(["", "   ", "a memory", "x" * 10_000, "x" * 10_001]),
    st.text(CHARS, min_size=1, max_size=40),
)
embeddings = st.one_of(
    st.just(GOOD),
    st.sampled_from(["zero", "short", "long", "nan", "inf", "huge", "tiny"]),
)
metadata = st.one_of(
    st.none(),
    st.just({}),
    st.dictionaries(
        st.text(CHARS, max_size=5), st.one_of(st.integers(), st.text(CHARS, max_size=5)), max_size=3
    ),
    st.just([1, 2]),
    st.just("text"),
    st.just({"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": {"j": {"k": 1}}}}}}}}}}}),
)
categories = st.one_of(
    st.none(),
    st.lists(
        st.one_of(st.sampled_from(["Work", "work ", "", "x" * 65]), st.text(CHARS, max_size=6)),
        max_size=4,
    ),
)
expiries = st.sampled_from([None, "2999-01-01T00:00:00Z", "2000-01-01T00:00:00Z", "infinity"])


def _embedding(choice: object) -> list[float]:
    special = {
        "zero": [0.0] * DIM,
        "short": GOOD[:10],
        "long": [*GOOD, 0.5],
        "nan": [math.nan, *GOOD[1:]],
        "inf": [math.inf, *GOOD[1:]],
        "huge": [3e38] * DIM,
        "tiny": [1e-38] * DIM,
    }
    return special[choice] if isinstance(choice, str) else choice  # type: ignore[return-value]


def _add_memory(conn: psycopg.Connection, row: dict) -> tuple[str | None, str | None]:
    try:
        with conn.transaction():
            result = conn.execute(
                "SELECT event FROM memory.add_memory(%s, %s, %s::real[]::vector, %s, %s, %s, %s, %s, %s)",
                (row["user_id"], row["memory"], row["embedding"], _json(row["metadata"]), row["categories"],
                 row["agent_id"], row["run_id"], row["memory_type"], row["expires_at"]),
            ).fetchone()  # fmt: skip
            raise _Undo(result[0])
    except _Undo as undo:
        return undo.event, None
    except psycopg.Error as exc:
        return None, exc.sqlstate


def _import(conn: psycopg.Connection, run_id: int, row: dict) -> tuple[str, str | None]:
    with conn.transaction():
        conn.execute(
            "INSERT INTO pg_temp.memory_import_rows (ordinal, source_id, user_id, agent_id, run_id, memory, embedding,"
            " metadata, categories, memory_type, expires_at) VALUES (0, 'fuzz', %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (row["user_id"], row["agent_id"], row["run_id"], row["memory"], row["embedding"], _json(row["metadata"]),
             row["categories"], row["memory_type"], row["expires_at"]),
        )  # fmt: skip
        before = conn.execute("SELECT count(*) FROM memory.memories").fetchone()[0]
        event, code = conn.execute(
            "SELECT event, error_code FROM memory.import_batch(%s) WHERE kind = 'memory'", (run_id,)
        ).fetchone()
        if event == "REJECT":
            assert conn.execute("SELECT count(*) FROM memory.memories").fetchone()[0] == before
            assert conn.execute("SELECT count(*) FROM memory.import_sources").fetchone()[0] == 0
        conn.execute("TRUNCATE pg_temp.memory_import_rows")
        raise _Undo(f"{event} {code}")


class _Undo(Exception):
    def __init__(self, event: str) -> None:
        self.event = event


def _json(value: object) -> object:
    return None if value is None else Jsonb(value)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    user_id=labels, agent_id=labels, run_id=labels, memory_type=labels, memory=texts, embedding=embeddings,
    metadata=metadata, categories=categories, expires_at=expiries,
)  # fmt: skip
def test_the_bulk_path_rejects_what_add_memory_refuses(module_db: Database, **row: object) -> None:
    row["embedding"] = _embedding(row["embedding"])
    if "\\u0000" in json.dumps({k: v for k, v in row.items() if k != "embedding"}):
        return  # NUL bytes never reach the server: the loader rejects them (test_import_bulk)
    with psycopg.connect(module_db.url, autocommit=True) as conn:
        conn.execute("SET ROLE service_role")
        conn.execute("SELECT memory.create_import_staging()")
        with conn.transaction():
            conn.execute("TRUNCATE pg_temp.memory_import_rows")
        # A source of its own per example: start_import's session lock outlives the closed
        # connection until its backend exits, so a shared name raced the previous example's.
        source = f"hypothesis-{uuid.uuid4()}"
        run_id = conn.execute("SELECT memory.start_import('fuzz', %s)", (source,)).fetchone()[0]
        added, refused = _add_memory(conn, row)
        try:
            _import(conn, run_id, row)
        except _Undo as undo:
            event, code = undo.event.split(" ")
        if refused is not None:
            assert (event, code) == ("REJECT", refused), row
        else:
            assert (event, code) == (added, "None"), row
