"""RAG documents and chunks: re-ingesting a changed document replaces its chunks in one
transaction, an unchanged one is left alone (by hash), two sessions ingesting one document at once
leave one set of chunks, and the same chunk text in two documents is stored per document."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from helpers import Database
from vectors import connect_as, unit


def ingest(
    conn: psycopg.Connection, uri: str, texts: list[str], seed: int = 0, **arguments: object
) -> tuple:
    named = "".join(f", {name} => %({name})s" for name in arguments)
    return conn.execute(
        f"SELECT document_id, version, outcome, chunk_count FROM agent.ingest_document('alice', 'repo', %(uri)s,"
        f" %(texts)s, %(embeddings)s::vector[]{named})",
        {
            "uri": uri,
            "texts": texts,
            "embeddings": [unit(seed + i) for i in range(len(texts))],
            **arguments,
        },
    ).fetchone()


def chunks(conn: psycopg.Connection, document: object) -> list[tuple]:
    return conn.execute(
        "SELECT ordinal, content, xmin::text FROM agent.chunks WHERE document_id = %s ORDER BY ordinal",
        (document,),
    ).fetchall()


def test_a_new_document_is_created_with_its_chunks_in_order(alice):
    doc, version, outcome, count = ingest(alice, "a.md", ["one", "two", "three"])
    assert (version, outcome, count) == (1, "created", 3)
    assert [(o, c) for o, c, _ in chunks(alice, doc)] == [(0, "one"), (1, "two"), (2, "three")]


def test_re_ingesting_an_unchanged_document_writes_nothing(alice):
    doc, *_ = ingest(alice, "a.md", ["one", "two"])
    before = chunks(alice, doc)
    stamp = alice.execute(
        "SELECT xmin::text, updated_at FROM agent.documents WHERE id = %s", (doc,)
    ).fetchone()
    again = ingest(alice, "a.md", ["one", "two"], metadata='{"new": true}')
    assert again == (doc, 1, "unchanged", 2)
    assert chunks(alice, doc) == before  # same rows, same xmin: not rewritten
    assert (
        alice.execute(
            "SELECT xmin::text, updated_at FROM agent.documents WHERE id = %s", (doc,)
        ).fetchone()
        == stamp
    )


def test_re_ingesting_a_changed_document_replaces_its_chunks_and_bumps_its_version(alice):
    doc, *_ = ingest(alice, "a.md", ["one", "two", "three"])
    other, *_ = ingest(alice, "b.md", ["other"])
    other_chunks = chunks(alice, other)
    assert ingest(alice, "a.md", ["one", "2"]) == (doc, 2, "updated", 2)
    assert [(o, c) for o, c, _ in chunks(alice, doc)] == [(0, "one"), (1, "2")]
    row = alice.execute(
        "SELECT version, chunk_count FROM agent.documents WHERE id = %s", (doc,)
    ).fetchone()
    assert row == (2, 2)
    assert chunks(alice, other) == other_chunks  # other documents are left alone


def test_a_failed_re_ingestion_keeps_the_old_chunks(alice):
    doc, *_ = ingest(alice, "a.md", ["one", "two"])
    with pytest.raises(psycopg.Error) as exc:
        alice.execute(
            "SELECT agent.ingest_document('alice', 'repo', 'a.md', ARRAY['new', '  '], %s::vector[])",
            ([unit(1), unit(2)],),
        )
    assert exc.value.sqlstate == "22023"
    assert [c for _, c, _ in chunks(alice, doc)] == ["one", "two"]


def test_the_same_text_in_two_documents_is_stored_for_each_with_one_hash(alice):
    a, *_ = ingest(alice, "a.md", ["Shared paragraph.", "only in a"])
    b, *_ = ingest(alice, "b.md", ["shared   PARAGRAPH.", "only in b"])
    rows = alice.execute(
        "SELECT count(*), count(DISTINCT document_id) FROM agent.chunks"
        " GROUP BY content_hash HAVING count(*) > 1"
    ).fetchall()
    assert rows == [(2, 2)]
    assert a != b


def test_two_sessions_ingesting_one_document_at_once_leave_one_set_of_chunks(db: Database, admin):
    with connect_as(db.url, "alice") as first, connect_as(db.url, "alice") as second:
        results: list[tuple] = []
        errors: list[BaseException] = []
        first.execute("BEGIN")
        first.execute(
            "SELECT set_config('role', 'authenticated', true), set_config('app.user_id', 'alice', true)"
        )
        results.append(ingest(first, "a.md", ["from the first"], seed=1))
        pid = second.info.backend_pid

        def run() -> None:
            try:
                results.append(ingest(second, "a.md", ["from the second"], seed=2))
            except BaseException as error:
                errors.append(error)

        thread = threading.Thread(target=run)
        thread.start()
        while admin.execute(  # the second waits for the first's insert: proof of the interleaving
            "SELECT count(*) FROM pg_locks WHERE pid = %s AND NOT granted", (pid,)
        ).fetchone() != (1,):
            assert not errors, errors
            time.sleep(0.01)
        first.execute("COMMIT")
        thread.join()
        assert errors == []
    assert [r[2] for r in results] == ["created", "updated"]
    rows = admin.execute("SELECT content FROM agent.chunks").fetchall()
    assert rows == [("from the second",)]


@pytest.mark.parametrize(
    ("texts", "embeddings", "sqlstate"),
    [
        (None, 1, "22004"),
        ([], 0, "22023"),
        (["a", "b"], 1, "22023"),
        (["a", None], 2, "22004"),
        (["x" * 100_001], 1, "22001"),
    ],
)
def test_bad_documents_get_their_sqlstate(module_db: Database, texts, embeddings, sqlstate):
    with connect_as(module_db.url, "alice") as conn, pytest.raises(psycopg.Error) as exc:
        conn.execute(
            "SELECT agent.ingest_document('alice', 'repo', 'a.md', %s, %s::vector[])",
            (texts, [unit(i) for i in range(embeddings)]),
        )
    assert exc.value.sqlstate == sqlstate
