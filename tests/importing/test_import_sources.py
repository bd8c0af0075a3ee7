"""Each source, written by its own code: a Mem0 store filled through mem0ai's PGVector class and its
history through mem0ai's SQLiteManager, LangChain stores filled through langchain-postgres (v1
and v2), Session-Buddy's DuckDB files (NULL and non-NULL embeddings), the seed's SQLite
database; and bad sources, which change nothing."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from import_support import counts, mempg_import, scalar, vec
from psycopg.conninfo import conninfo_to_dict

from helpers import Database, run_mempg, scratch_database
from vectors import DIM, STORED_ATOL, owner

os.environ.setdefault("MEM0_TELEMETRY", "False")


@pytest.fixture
def source_db() -> Iterator[Database]:
    """An empty database for a peer's own tables, created by the peer's package."""
    with scratch_database("mempg_source") as database:
        yield database


def test_a_mem0_store_and_its_history_import_with_ids_and_events(
    db: Database, source_db: Database, tmp_path: Path
) -> None:
    from mem0.memory.storage import SQLiteManager
    from mem0.vector_stores.pgvector import PGVector

    logging.getLogger("mem0").setLevel(logging.WARNING)
    store = PGVector(
        dbname=None, collection_name="mem0", embedding_model_dims=DIM, user=None, password=None, host=None,
        port=None, diskann=False, hnsw=True, connection_string=source_db.url,
    )  # fmt: skip
    store.create_col()
    ids = [str(uuid.uuid4()) for _ in range(6)]
    texts = [
        "Likes hiking",
        "Allergic to nuts",
        "Lives in Lyon",
        "Plays the cello",
        "Prefers trains",
        "Has a cat",
    ]
    payloads = [
        {"data": text, "hash": hashlib.md5(text.encode()).hexdigest(), "user_id": "ann" if i < 4 else "ben",
         "agent_id": "travel" if i == 2 else None, "created_at": f"2025-0{i + 1}-01T10:00:00+00:00",
         "text_lemmatized": text.lower(), "mood": "good", "priority": i}
        for i, text in enumerate(texts)
    ]  # fmt: skip
    for payload in payloads:
        if payload["agent_id"] is None:
            del payload["agent_id"]
    store.insert(vectors=[vec(i) for i in range(6)], payloads=payloads, ids=ids)
    store.connection_pool.close()

    code, report, err = mempg_import(db, source_db.url, "--from", "mem0-pg")
    assert code == 0, err
    assert report["events"] == {"memory": {"ADD": 6}}
    conn = owner(db.url)
    rows = conn.execute(
        "SELECT id::text, user_id, agent_id, memory, metadata, created_at::text FROM memory.memories ORDER BY created_at"
    ).fetchall()
    assert [r[0] for r in rows] == ids  # Mem0's ids are kept
    assert rows[2][1:4] == ("ann", "travel", "Lives in Lyon")
    assert rows[0][4] == {"mood": "good", "priority": 0}  # metadata keys, without Mem0's own
    assert rows[0][5].startswith("2025-01-01 10:00:00")

    history = SQLiteManager(str(tmp_path / "history.db"))
    history.add_history(ids[0], None, "Likes hiking", "ADD", created_at="2025-01-01T10:00:00+00:00")
    history.add_history(ids[0], "Likes hiking", "Likes hiking in the Alps", "UPDATE",
                        created_at="2025-02-01T10:00:00+00:00", actor_id="ann")  # fmt: skip
    history.add_history(ids[1], "Allergic to nuts", "Allergic to nuts", "NONE")
    history.add_history(ids[5], "Has a cat", None, "DELETE", created_at="2025-03-01T10:00:00+00:00")
    history.add_history(str(uuid.uuid4()), None, "never imported", "ADD")
    history.close()
    code, report, _ = mempg_import(db, tmp_path / "history.db")
    assert code == 1  # the memory that was never imported
    assert report["events"] == {"history": {"SKIP": 1, "ADD": 2}}
    assert [r["error_code"] for r in report["rejected_rows"]] == ["P0002"]
    events = conn.execute(
        "SELECT event, new_memory, app_user_id FROM memory.memory_history WHERE memory_id = %s ORDER BY created_at, id",
        (ids[0],),
    ).fetchall()
    assert events == [("ADD", "Likes hiking", None), ("UPDATE", "Likes hiking in the Alps", "ann")]
    before = counts(conn)
    code, again, _ = mempg_import(db, tmp_path / "history.db")
    assert again["events"] == {"history": {"SKIP": 3}}  # re-running appends nothing
    assert counts(conn)["memory.memory_history"] == before["memory.memory_history"]


def _mem0_get_all(store: object, user_id: str) -> dict:
    """What mem0ai's `Memory.get_all(filters={"user_id": ...})` returns over this store: its own
    code, on an instance that has only the vector store (a full Memory() wants an LLM and an
    embedder, which get_all never uses)."""
    from mem0 import Memory

    memory = Memory.__new__(Memory)
    memory.vector_store = store
    return memory.get_all(filters={"user_id": user_id})


def test_mem0_get_all_lines_import_as_pending_memories_with_their_metadata(
    db: Database, source_db: Database, write_jsonl
) -> None:
    from mem0.vector_stores.pgvector import PGVector

    logging.getLogger("mem0").setLevel(logging.WARNING)
    store = PGVector(
        dbname=None, collection_name="mem0", embedding_model_dims=DIM, user=None, password=None, host=None,
        port=None, diskann=False, hnsw=False, connection_string=source_db.url,
    )  # fmt: skip
    store.create_col()
    ids = [str(uuid.uuid4()) for _ in range(3)]
    payloads = [
        {"data": "Likes hiking", "hash": "h1", "user_id": "ann", "mood": "good",
         "created_at": "2025-01-01T10:00:00+00:00"},
        {"data": "Has a cat", "hash": "h2", "user_id": "ann", "agent_id": "pets", "run_id": "r1",
         "created_at": "2025-01-02T10:00:00+00:00", "updated_at": "2025-01-03T10:00:00+00:00"},
        {"data": "Lives in Lyon", "hash": "h3", "user_id": "ben", "actor_id": "ben", "role": "user",
         "created_at": "2025-01-04T10:00:00+00:00"},
    ]  # fmt: skip
    store.insert(vectors=[vec(i) for i in range(3)], payloads=payloads, ids=ids)
    ann, ben = _mem0_get_all(store, "ann"), _mem0_get_all(store, "ben")
    store.connection_pool.close()
    assert {item["id"] for item in ann["results"] + ben["results"]} == set(ids)
    given = str(uuid.uuid4())  # a line with an embedding (get_all has none) is added at once
    lines = [
        ann,  # a whole {"results": [...]} object on a line
        *ben["results"],  # and items one a line
        {"id": given, "memory": "Speaks Italian", "user_id": "ben", "embedding": vec(9)},
    ]
    source = write_jsonl(lines, "mem0.jsonl")

    code, report, err = mempg_import(db, source)
    assert code == 0, err
    assert report["events"] == {"memory": {"PENDING": 3, "ADD": 1}}
    conn = owner(db.url)
    pending = conn.execute(
        "SELECT user_id, agent_id, run_id, memory, metadata, source, created_at::text"
        " FROM memory.pending_memories ORDER BY created_at"
    ).fetchall()
    assert pending == [
        ("ann", None, None, "Likes hiking", {"mood": "good"}, "mem0", "2025-01-01 10:00:00+00"),
        ("ann", "pets", "r1", "Has a cat", {}, "mem0", "2025-01-02 10:00:00+00"),
        ("ben", None, None, "Lives in Lyon", {}, "mem0", "2025-01-04 10:00:00+00"),
    ]  # Mem0's hash, actor_id and role are dropped
    assert conn.execute("SELECT id::text, user_id, memory, source FROM memory.memories").fetchall() == [
        (given, "ben", "Speaks Italian", "mem0")
    ]  # fmt: skip
    assert sorted(
        conn.execute(
            "SELECT source_id FROM memory.import_sources WHERE event = 'PENDING'"
        ).fetchall()
    ) == sorted((i,) for i in ids)  # keyed by Mem0's ids

    cat = conn.execute(
        "SELECT id FROM memory.pending_memories WHERE memory = 'Has a cat'"
    ).fetchone()[0]
    added = conn.execute(
        "SELECT memory_id, event FROM memory.embed_pending_memory(%s, %s::vector)",
        (cat, str(vec(1)).replace(" ", "")),
    ).fetchone()
    assert added[1] == "ADD"
    assert conn.execute(
        "SELECT user_id, agent_id, run_id, metadata FROM memory.memories WHERE id = %s", (added[0],)
    ).fetchone() == ("ann", "pets", "r1", {})

    code, again, _ = mempg_import(db, source)
    assert code == 0
    assert again["events"] == {"memory": {"SKIP": 4}}


MCP_MEMORY_LINES = [
    {"type": "entity", "name": "John_Smith", "entityType": "person",
     "observations": ["Speaks fluent Spanish", "Graduated in 2019"]},
    {"type": "entity", "name": "Anthropic", "entityType": "organization", "observations": []},
    {"type": "relation", "from": "John_Smith", "to": "Anthropic", "relationType": "works at"},
]  # fmt: skip


def test_mcp_memory_server_lines_import_as_entities_pending_observations_and_facts(
    db: Database, write_jsonl
) -> None:
    source = write_jsonl(MCP_MEMORY_LINES, "memory.jsonl")
    conn = owner(db.url)
    before = counts(conn)
    code, report, _ = mempg_import(db, source)  # the server keeps no users
    assert code == 1
    assert report["events"] == {}
    assert sorted((r["kind"], r["error_code"]) for r in report["rejected_rows"]) == [
        ("entity", "22004"), ("entity", "22004"), ("memory", "22023"), ("memory", "22023"),
        ("relation", "22004"),
    ]  # fmt: skip
    assert {k: v for k, v in counts(conn).items() if k != "memory.import_runs"} == {
        k: v for k, v in before.items() if k != "memory.import_runs"
    }

    code, report, err = mempg_import(db, source, "--user", "u1")
    assert code == 0, err
    assert report["events"] == {
        "entity": {"ADD": 2},
        "memory": {"PENDING": 2},
        "relation": {"ADD": 1},
    }
    entities = dict(
        conn.execute("SELECT name, id FROM memory.entities WHERE user_id = 'u1'").fetchall()
    )
    assert conn.execute(
        "SELECT name, entity_type FROM memory.entities ORDER BY name"
    ).fetchall() == [("Anthropic", "organization"), ("John_Smith", "person")]
    assert conn.execute(
        "SELECT memory, source, entities FROM memory.pending_memories WHERE user_id = 'u1' ORDER BY memory"
    ).fetchall() == [
        ("Graduated in 2019", "mcp-memory", [{"id": str(entities["John_Smith"]), "role": "subject"}]),
        ("Speaks fluent Spanish", "mcp-memory", [{"id": str(entities["John_Smith"]), "role": "subject"}]),
    ]  # fmt: skip
    fact = conn.execute(
        "SELECT r.subject_id, r.relation, r.object_id, r.valid_from = i.started_at, r.valid_to"
        " FROM memory.entity_relations AS r, memory.import_runs AS i WHERE i.id = %s",
        (report["run_id"],),
    ).fetchall()
    assert fact == [(entities["John_Smith"], "works_at", entities["Anthropic"], True, None)]

    spanish = conn.execute(
        "SELECT id FROM memory.pending_memories WHERE memory = 'Speaks fluent Spanish'"
    ).fetchone()[0]
    memory_id, event = conn.execute(
        "SELECT memory_id, event FROM memory.embed_pending_memory(%s, %s::vector)",
        (spanish, str(vec(1)).replace(" ", "")),
    ).fetchone()
    assert event == "ADD"
    assert conn.execute(
        "SELECT entity_id FROM memory.memory_entities WHERE memory_id = %s", (memory_id,)
    ).fetchall() == [(entities["John_Smith"],)]  # the observation is about its entity


def test_langchain_stores_v1_and_v2_import_with_the_user_from_metadata(
    db: Database, source_db: Database
) -> None:
    from langchain_core.embeddings import DeterministicFakeEmbedding
    from langchain_postgres import PGEngine, PGVector, PGVectorStore
    from sqlalchemy import create_engine

    embeddings = DeterministicFakeEmbedding(size=DIM)
    engine = create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(source_db.url))
    v1 = PGVector(embeddings=embeddings, connection=engine, collection_name="notes", use_jsonb=True)
    texts = ["The meeting moved to Friday", "Budget approved", "Office closed on Monday"]
    v1.add_texts(
        texts,
        metadatas=[{"owner": "ann", "n": i} for i in range(3)],
        ids=[str(uuid.uuid4()) for _ in texts],
    )
    engine.dispose()

    code, report, err = mempg_import(
        db, source_db.url, "--from", "langchain", "--user-from", "owner"
    )
    assert code == 0, err
    assert report["events"] == {"memory": {"ADD": 3}}
    conn = owner(db.url)
    row = conn.execute(
        "SELECT user_id, metadata FROM memory.memories WHERE memory = 'Budget approved'"
    ).fetchone()
    assert row == ("ann", {"owner": "ann", "n": 1, "langchain_collection": "notes"})
    stored = conn.execute(
        "SELECT embedding::text FROM memory.memories WHERE memory = 'Budget approved'"
    ).fetchone()[0]
    assert json.loads(stored) == pytest.approx(
        embeddings.embed_query("Budget approved"), abs=STORED_ATOL
    )

    params = conninfo_to_dict(source_db.url)
    pg_engine = PGEngine.from_connection_string(
        url=f"postgresql+psycopg://{params['user']}@/{params['dbname']}?host={params['host']}&port={params['port']}"
    )
    pg_engine.init_vectorstore_table(table_name="docs_v2", vector_size=DIM)
    v2 = PGVectorStore.create_sync(
        engine=pg_engine, embedding_service=embeddings, table_name="docs_v2"
    )
    v2.add_texts(
        ["Release is on track", "Hiring two engineers"],
        metadatas=[{"team": "eng"}, {"team": "eng"}],
    )
    code, report, err = mempg_import(
        db, source_db.url, "--from", "langchain", "--table", "docs_v2", "--user", "eng"
    )
    assert code == 0, err
    assert report["events"] == {"memory": {"ADD": 2}}
    assert conn.execute(
        "SELECT metadata->>'team', source FROM memory.memories WHERE memory = 'Release is on track'"
    ).fetchone() == ("eng", "langchain")


def _session_buddy_files(folder: Path) -> tuple[Path, Path]:
    import duckdb

    reflection = folder / "reflection.duckdb"
    with duckdb.connect(str(reflection)) as con:
        con.execute(
            "CREATE TABLE conversations_v2 (id VARCHAR, content VARCHAR, embedding FLOAT[384], category VARCHAR,"
            " subcategory VARCHAR, importance_score DOUBLE, memory_tier VARCHAR, access_count INTEGER,"
            " last_accessed TIMESTAMP, project VARCHAR, namespace VARCHAR, timestamp TIMESTAMP, session_id VARCHAR,"
            " user_id VARCHAR, searchable_content VARCHAR, reasoning VARCHAR, metadata VARCHAR, source_type VARCHAR,"
            " turn_parent_id VARCHAR, causal_parent_id VARCHAR, fingerprint BLOB)"
        )
        con.execute(
            "CREATE TABLE reflections_v2 (id VARCHAR, conversation_id VARCHAR, content VARCHAR, embedding FLOAT[384],"
            " category VARCHAR, subcategory VARCHAR, importance_score DOUBLE, memory_tier VARCHAR, tags VARCHAR[],"
            " related_entities VARCHAR[], namespace VARCHAR, project VARCHAR, access_count INTEGER,"
            " last_accessed TIMESTAMP, timestamp TIMESTAMP, created_at TIMESTAMP, updated_at TIMESTAMP,"
            " metadata JSON, fingerprint BLOB, source_session_id VARCHAR, source_artifact_uri VARCHAR)"
        )
        for i in range(4):
            con.execute(
                "INSERT INTO conversations_v2 VALUES (?, ?, ?, 'code', 'python', 0.8, 'long', 2, NULL, 'mempg', 'dev',"
                " TIMESTAMP '2025-05-01 09:00:00' + INTERVAL (?) HOUR, 's1', 'dev1', NULL, NULL, '{\"lang\": \"py\"}',"
                " 'chat', NULL, NULL, NULL)",
                [f"c{i}", f"Refactored module {i}", None if i == 3 else vec(i, 384), i],
            )
        con.execute(
            "INSERT INTO reflections_v2 VALUES ('r1', 'c1', 'Prefer small SQL files', ?, 'lesson', NULL, 0.9, 'long',"
            " ['sql', 'style'], ['PostgreSQL'], 'dev', 'mempg', 0, NULL, NULL, TIMESTAMP '2025-05-02 10:00:00',"
            " NULL, '{}', NULL, 's1', NULL)",
            [vec(10, 384)],
        )
    graph = folder / "knowledge_graph.duckdb"
    with duckdb.connect(str(graph)) as con:
        con.execute(
            "CREATE TABLE kg_entities (id VARCHAR, name VARCHAR, entity_type VARCHAR, observations VARCHAR[],"
            " properties JSON, created_at TIMESTAMP, updated_at TIMESTAMP, metadata JSON, embedding FLOAT[384])"
        )
        con.execute(
            "CREATE TABLE kg_relationships (id VARCHAR, from_entity VARCHAR, to_entity VARCHAR, relation_type VARCHAR,"
            " properties JSON, created_at TIMESTAMP, updated_at TIMESTAMP, metadata JSON)"
        )
        con.execute(
            "INSERT INTO kg_entities VALUES ('e1', 'mempg', 'project', ['uses PostgreSQL 18'], '{\"lang\": \"sql\"}',"
            " TIMESTAMP '2025-01-01', NULL, NULL, ?), ('e2', 'PostgreSQL', 'technology', [], NULL,"
            " TIMESTAMP '2025-01-01', NULL, NULL, NULL)",
            [vec(20, 384)],
        )
        con.execute(
            "INSERT INTO kg_relationships VALUES ('r1', 'e1', 'e2', 'depends on', NULL, TIMESTAMP '2025-02-01', NULL, NULL)"
        )
    return reflection, graph


def test_session_buddy_files_import_with_null_and_padded_embeddings(
    db: Database, tmp_path: Path
) -> None:
    reflection, graph = _session_buddy_files(tmp_path)
    conn = owner(db.url)
    before = counts(conn)
    result = run_mempg("import", str(reflection), url=db.url)
    assert result.returncode == 2 and "384 dimensions" in result.stderr
    assert counts(conn) == before

    code, report, err = mempg_import(db, reflection, "--pad-embeddings", "--user", "dev1")
    assert code == 0, err
    assert report["events"] == {"memory": {"ADD": 4, "PENDING": 1}}
    row = conn.execute(
        "SELECT user_id, categories, relevance_score, metadata->>'project', metadata->>'lang', created_at::text"
        " FROM memory.memories WHERE memory = 'Refactored module 1'"
    ).fetchone()
    assert row == (
        "dev1",
        ["code", "python"],
        pytest.approx(0.8),
        "mempg",
        "py",
        "2025-05-01 10:00:00+00",
    )
    assert conn.execute(
        "SELECT e.name FROM memory.memories AS m JOIN memory.memory_entities AS l ON l.memory_id = m.id"
        " JOIN memory.entities AS e ON e.id = l.entity_id WHERE m.memory = 'Prefer small SQL files'"
    ).fetchall() == [("PostgreSQL",)]

    code, report, err = mempg_import(db, graph, "--pad-embeddings", "--user", "dev1")
    assert code == 0, err
    assert report["events"] == {
        "entity": {"ADD": 2},
        "memory": {"PENDING": 1},
        "relation": {"ADD": 1},
    }
    fact = conn.execute(
        "SELECT s.name, r.relation, o.name, lower(r.valid)::text FROM memory.entity_relations AS r"
        " JOIN memory.entities AS s ON s.id = r.subject_id JOIN memory.entities AS o ON o.id = r.object_id"
    ).fetchone()
    assert fact == ("mempg", "depends_on", "PostgreSQL", "2025-02-01 00:00:00+00")


SEED_SCHEMA = """
CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT, api_key_hash TEXT, oauth_provider TEXT, oauth_id TEXT,
                    is_active INTEGER DEFAULT 1, created_at TEXT);
CREATE TABLE entities (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT, name TEXT, entity_type TEXT,
                       person_type TEXT, description TEXT, importance INTEGER, last_interaction TEXT,
                       interaction_count INTEGER DEFAULT 0, social_media TEXT, email TEXT, created_at TEXT, updated_at TEXT);
CREATE TABLE memories (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT, content TEXT, memory_type TEXT,
                       importance INTEGER, entity_ids TEXT, embedding TEXT, is_archived INTEGER DEFAULT 0,
                       created_at TEXT, updated_at TEXT);
CREATE TABLE interactions (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT, entity_id INTEGER,
                           interaction_type TEXT, content TEXT, created_at TEXT);
CREATE TABLE api_usage_tracking (id TEXT PRIMARY KEY, user_id TEXT, api_provider TEXT, date TEXT, tokens INTEGER);
"""


def test_the_seed_sqlite_database_imports_entities_memories_and_interactions(
    db: Database, tmp_path: Path
) -> None:
    path = tmp_path / "memory.db"
    with sqlite3.connect(path) as con:
        con.executescript(SEED_SCHEMA)
        con.execute("INSERT INTO users (id, email) VALUES ('u1', 'u1@example.com')")
        con.execute(
            "INSERT INTO entities (user_id, name, entity_type, person_type, importance, social_media, email, created_at)"
            " VALUES ('u1', 'Dana Scully', 'person', 'colleague', 8, '{\"x\": \"@dana\"}', 'dana@example.com', '2025-01-01')"
        )
        con.execute(
            "INSERT INTO entities (user_id, name, entity_type) VALUES ('u1', 'FBI', 'organization')"
        )
        con.execute(
            "INSERT INTO memories (user_id, content, memory_type, importance, entity_ids, embedding, created_at)"
            " VALUES ('u1', 'Dana works at the FBI', 'fact', 7, '[1, 2]', ?, '2025-01-02 08:00:00')",
            (json.dumps(vec(3)),),
        )
        con.execute(
            "INSERT INTO memories (user_id, content, memory_type, entity_ids, is_archived) VALUES"
            " ('u1', 'Dana prefers email', 'preference', '[1]', 1)"
        )
        con.execute(
            "INSERT INTO memories (user_id, content, embedding) VALUES ('u1', 'corrupt', '[1, 2')"
        )
        con.execute(
            "INSERT INTO interactions (user_id, entity_id, interaction_type, content, created_at)"
            " VALUES ('u1', 1, 'email', 'Sent the report', '2025-01-03 09:00:00')"
        )
    code, report, _ = mempg_import(db, path)
    assert code == 1
    assert report["events"] == {
        "entity": {"ADD": 2},
        "memory": {"ADD": 1, "PENDING": 1},
        "interaction": {"ADD": 1},
    }
    assert [(r["source_id"], r["error_code"]) for r in report["rejected_rows"]] == [("3", "22P02")]
    conn = owner(db.url)
    # the corrupt row wrote nothing at all (no memory, pending or not, no import record)
    assert scalar(conn, "SELECT count(*) FROM memory.memories WHERE memory = 'corrupt'") == 0
    assert (
        scalar(conn, "SELECT count(*) FROM memory.pending_memories WHERE memory = 'corrupt'") == 0
    )
    # and the others landed
    assert sorted(
        conn.execute("SELECT record_kind, source_id FROM memory.import_sources").fetchall()
    ) == [("entity", "1"), ("entity", "2"), ("interaction", "1"), ("memory", "1"), ("memory", "2")]
    assert conn.execute(
        "SELECT importance, person_type, contact, interaction_count FROM memory.entities WHERE name = 'Dana Scully'"
    ).fetchone() == (
        pytest.approx(0.8),
        "colleague",
        {"social_media": {"x": "@dana"}, "email": "dana@example.com"},
        1,
    )
    assert (
        conn.execute(
            "SELECT count(*) FROM memory.memory_entities AS l JOIN memory.memories AS m ON m.id = l.memory_id"
            " WHERE m.memory = 'Dana works at the FBI'"
        ).fetchone()[0]
        == 2
    )
    assert conn.execute(
        "SELECT metadata->>'is_archived', memory_type FROM memory.pending_memories"
    ).fetchone() == ("true", "preference")


def test_bad_sources_get_a_clear_error_and_change_nothing(
    db: Database, source_db: Database, tmp_path: Path
) -> None:
    conn = owner(db.url)
    before = counts(conn)
    binary = tmp_path / "photo.jsonl"
    binary.write_bytes(bytes(range(256)) * 20)
    empty_sqlite = tmp_path / "empty.db"
    sqlite3.connect(empty_sqlite).execute("CREATE TABLE notes (id INTEGER)").connection.close()
    not_duckdb = tmp_path / "x.duckdb"
    not_duckdb.write_text("hello")
    cases = [
        ([str(tmp_path / "missing.jsonl")], 4, "no such file"),
        ([str(binary)], 4, "not a UTF-8"),
        ([str(empty_sqlite)], 4, "no memories table"),
        ([str(not_duckdb)], 4, "not a DuckDB"),
        ([source_db.url, "--from", "mem0-pg"], 4, "no table mem0"),
        ([source_db.url, "--from", "langchain"], 4, "langchain_pg_embedding"),
        ([source_db.url], 4, "needs --from"),
        ([str(tmp_path / "x.csv")], 4, "cannot tell"),
        ([str(binary), "--batch-size", "0"], 2, "batch-size"),
        ([str(binary), "--user", "a", "--user-from", "b"], 2, "not both"),
        ([str(binary), "--from", "nosuch"], 2, "nosuch"),
    ]
    for args, expected, message in cases:
        result = run_mempg("import", *args, url=db.url)
        assert result.returncode == expected, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
    assert counts(conn) == before
