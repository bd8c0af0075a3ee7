"""agent.unified_search: one hybrid ranking over a user's memories, RAG chunks, conversations and
entities; each row says what it is and where it came from; kinds, agent and repository scope it;
the same chunk text in two documents is one hit; with memories alone it ranks exactly as
hybrid_search_memories; the HNSW paths walk as far as a user's share needs; row-level security
holds."""

from __future__ import annotations

import re

import psycopg
import pytest
from psycopg.types.json import Jsonb

from helpers import Database
from vectors import add_memory, connect_as, nested_plans, unit, with_similarity

QUERY = unit(100)


def seed(conn: psycopg.Connection, user: str = "alice") -> None:
    add_memory(
        conn,
        "The deploy key rotates every month",
        with_similarity(QUERY, 0.9, 1),
        user=user,
        agent_id="ops",
    )
    add_memory(conn, "Lunch is at noon", unit(2), user=user)
    conn.execute(
        "SELECT agent.ingest_document(%s, 'infra', 'keys.md', ARRAY['Rotate the deploy key with the vault CLI',"
        " 'Unrelated text about gardens'], %s::vector[])",
        (user, [with_similarity(QUERY, 0.8, 3), unit(4)]),
    )
    conn.execute(
        "SELECT agent.ingest_document(%s, 'web', 'copy.md', ARRAY['rotate the DEPLOY key with the vault cli'],"
        " %s::vector[])",
        (user, [with_similarity(QUERY, 0.8, 3)]),
    )
    conn.execute(
        "SELECT agent.add_message(%s, 'ops', 'run-9', 'assistant', 'I rotated the deploy key today', %s)",
        (user, with_similarity(QUERY, 0.85, 5)),
    )
    conn.execute(
        "SELECT agent.add_message(%s, 'chat', 'run-1', 'user', 'what is the deploy key policy?')",
        (user,),
    )


def search(
    conn: psycopg.Connection, text: str = "deploy key rotate", **arguments: object
) -> list[tuple]:
    named = "".join(f", {name} => %({name})s" for name in arguments)
    return conn.execute(
        "SELECT kind, content, origin_agent_id, origin_session_id, origin_source_id, uri, ordinal,"
        f" round(similarity::numeric, 3), full_text_rank, semantic_rank FROM agent.unified_search(%(text)s,"
        f" %(query)s, 'alice'{named})",
        {"text": text, "query": QUERY, **arguments},
    ).fetchall()


def test_one_search_finds_memories_chunks_and_messages_and_says_where_each_came_from(alice):
    seed(alice)
    rows = search(alice)
    by_content = {r[1]: r for r in rows}
    assert by_content["The deploy key rotates every month"][:4] == (
        "memory",
        "The deploy key rotates every month",
        "ops",
        None,
    )
    assert by_content["I rotated the deploy key today"][:4] == (
        "conversation",
        "I rotated the deploy key today",
        "ops",
        "run-9",
    )
    chunk = next(r for r in rows if r[0] == "chunk" and "vault" in r[1].lower())
    assert chunk[4] in {"infra", "web"} and chunk[5] in {"keys.md", "copy.md"} and chunk[6] == 0
    assert by_content["what is the deploy key policy?"][7] is None  # no embedding: full text only
    assert rows[0][1] == "The deploy key rotates every month"  # best on both sides


def test_the_same_chunk_text_in_two_documents_is_one_hit(alice):
    seed(alice)
    rows = search(alice, kinds=["chunk"])
    assert len([r for r in rows if "vault" in r[1].lower()]) == 1
    assert {r[0] for r in rows} == {"chunk"}


def test_kinds_agent_and_repository_scope_the_search(alice):
    seed(alice)
    assert {r[0] for r in search(alice, kinds=["memory", "conversation"])} == {
        "memory",
        "conversation",
    }
    scoped = search(alice, agent_id="ops")
    assert {r[0] for r in scoped} == {"memory", "conversation", "chunk"}
    assert all(r[2] == "ops" for r in scoped if r[0] != "chunk")
    in_web = search(alice, source_id="web", kinds=["chunk"])
    assert {(r[4], r[5]) for r in in_web} == {("web", "copy.md")}


def test_with_memories_alone_it_ranks_exactly_as_the_hybrid_memory_search(alice):
    for i in range(30):
        add_memory(
            alice,
            f"note {i} about deploy keys and rotation {i % 7}",
            with_similarity(QUERY, 0.3 + i / 50, i),
        )
    for fusion in ("rrf", "weighted"):
        unified = alice.execute(
            "SELECT id, score, full_text_rank, semantic_rank FROM agent.unified_search('rotation of deploy keys 3',"
            " %s, 'alice', 15, '{memory}', fusion => %s)",
            (QUERY, fusion),
        ).fetchall()
        hybrid = alice.execute(
            "SELECT id, score, full_text_rank, semantic_rank FROM memory.hybrid_search_memories('rotation of deploy keys 3',"
            " %s, 'alice', 15, fusion => %s)",
            (QUERY, fusion),
        ).fetchall()
        assert [r[0] for r in unified] == [r[0] for r in hybrid]
        assert [r[2:] for r in unified] == [r[2:] for r in hybrid]
        assert [round(r[1], 12) for r in unified] == [round(r[1], 12) for r in hybrid]


def test_the_hnsw_path_finds_what_the_exact_path_finds(alice, admin):
    seed(alice)
    alice.execute(  # a second message with an embedding: the bound below is one
        "SELECT agent.add_message('alice', 'ops', 'run-9', 'assistant', 'keys rotated', %s)",
        (with_similarity(QUERY, 0.6, 6),),
    )
    exact = search(alice, kinds=["chunk", "conversation"])
    admin.execute("UPDATE memory.settings SET exact_search_max_rows = 1")
    assert alice.execute(
        "SELECT agent.takes_exact_path('chunk', 'alice', NULL, NULL), agent.takes_exact_path('conversation', 'alice', NULL, NULL)"
    ).fetchone() == (False, False)
    assert search(alice, kinds=["chunk", "conversation"]) == exact


def test_another_users_rows_are_never_found(db: Database):
    with connect_as(db.url, "bob") as bob:
        seed(bob, "bob")
        seed_entities(bob, "bob")
    with connect_as(db.url, "alice") as alice:
        assert search(alice) == []
        rows = alice.execute(
            "SELECT count(*) FROM agent.unified_search('deploy key', %s, 'bob')", (QUERY,)
        ).fetchone()
        assert rows == (0,)  # naming bob is not being bob
    with connect_as(db.url, None, role="service_role") as service:
        found = service.execute(
            "SELECT kind, content FROM agent.unified_search('deploy key', %s, 'bob')", (QUERY,)
        ).fetchall()
        assert {"memory", "chunk", "conversation"} <= {kind for kind, _ in found}
        assert ("entity", "Vault Team") in found  # what alice did not see was there


def seed_entities(conn: psycopg.Connection, user: str = "alice") -> dict[str, str]:
    """Entities of `user`: one that matches the query by text and embedding, one by neither, one
    deleted and one merged away that would match by both, one without an embedding that matches by
    text. Returns their ids by name."""

    def entity(name: str, attributes: dict, embedding: object, aliases: list[str]) -> str:
        return str(
            conn.execute(
                "SELECT id FROM memory.upsert_entity(%s, %s, 'organization', %s, %s, embedding => %s)",
                (user, name, aliases, Jsonb(attributes), embedding),
            ).fetchone()[0]
        )

    ids = {
        "Vault Team": entity(
            "Vault Team",
            {"duty": "rotates the deploy key"},
            with_similarity(QUERY, 0.95, 7),
            ["keymasters"],
        ),
        "Garden Club": entity("Garden Club", {"duty": "roses"}, unit(8), []),
        "Keyholders Guild": entity(
            "Keyholders Guild", {"duty": "rotated deploy keys"}, with_similarity(QUERY, 0.9, 9), []
        ),
        "Rotation Squad": entity(
            "Rotation Squad", {"duty": "deploy key rotation"}, with_similarity(QUERY, 0.9, 11), []
        ),
        "Audit Ledger": entity("Audit Ledger", {"duty": "lists every deploy key"}, None, []),
    }
    conn.execute("SELECT memory.delete_entity(%s)", (ids["Keyholders Guild"],))
    conn.execute("SELECT memory.merge_entities(%s, %s)", (ids["Vault Team"], ids["Rotation Squad"]))
    return ids


def test_entities_are_found_by_text_and_embedding_with_their_type_and_attributes(alice):
    seed(alice)
    ids = seed_entities(alice)
    rows = alice.execute(
        "SELECT kind, id::text, content, metadata, round(similarity::numeric, 3), full_text_rank, semantic_rank"
        " FROM agent.unified_search('deploy key rotate', %s, 'alice', 50) WHERE kind = 'entity'",
        (QUERY,),
    ).fetchall()
    found = {r[2]: r for r in rows}
    assert "Keyholders Guild" not in found and "Rotation Squad" not in found  # deleted, merged away
    team = found["Vault Team"]
    assert team[1] == ids["Vault Team"]
    assert team[3]["entity_type"] == "organization"
    assert team[3]["attributes"] == {"duty": "rotates the deploy key"}
    assert "keymasters" in team[3]["aliases"]
    assert float(team[4]) == pytest.approx(0.95, abs=0.002)
    assert team[5] is not None and team[6] is not None  # on both sides
    assert "Garden Club" not in found or found["Garden Club"][5] is None  # no term in common
    registry = found["Audit Ledger"]  # no embedding: found by its attributes' text alone
    assert registry[4] is None and registry[5] is not None and registry[6] is None


def test_kinds_entity_alone_searches_the_entities_only(alice):
    seed(alice)
    seed_entities(alice)
    rows = search(alice, kinds=["entity"])
    assert {r[0] for r in rows} == {"entity"}
    assert rows[0][1] == "Vault Team"
    by_text = [r[1] for r in search(alice, "roses", kinds=["entity"]) if r[8] == 1]
    assert by_text == ["Garden Club"]  # the best full-text rank


def test_the_entity_hnsw_path_finds_what_the_exact_path_finds(alice, admin):
    seed_entities(alice)
    for i in range(12):
        alice.execute(
            "SELECT memory.upsert_entity('alice', %s, 'person', embedding => %s)",
            (f"Person Number{i}", with_similarity(QUERY, 0.3 + i / 20, 100 + i)),
        )
    exact = search(alice, "person", kinds=["entity"])
    admin.execute("UPDATE memory.settings SET exact_search_max_rows = 1")
    assert alice.execute(
        "SELECT agent.takes_exact_path('entity', 'alice', NULL, NULL)"
    ).fetchone() == (False,)
    assert (
        search(alice, "person", kinds=["entity"]) == exact
    )  # the plan: test_the_entity_sides_read_their_indexes


def test_an_hnsw_walk_reaches_a_user_just_above_the_bound_in_a_large_table(alice, admin):
    """The agent HNSW paths walked at most hnsw_max_scan_tuples entries before 0025: with 8 of
    608 messages, alice got the few of hers met in the first entries; agent.walk_limit() sizes
    the walk by her share (at least bound + 1 rows of the table) as memories' walk is sized."""
    with admin.cursor() as cur:
        cur.executemany(
            "INSERT INTO agent.conversations (user_id, agent_id, session_id, role, content, embedding)"
            " VALUES (%s, 'bot', 's', 'user', %s, %s)",
            [(f"other-{i % 20}", f"message {i}", unit(1_000 + i)) for i in range(600)],
        )
    for i in range(8):
        alice.execute(
            "SELECT agent.add_message('alice', 'ops', 'run-1', 'user', %s, %s)",
            (f"note {i}", with_similarity(QUERY, 0.2 + i / 20, 200 + i)),
        )
    admin.execute("ANALYZE agent.conversations")
    exact = search(alice, "nothing shared", kinds=["conversation"])
    assert len(exact) == 8
    admin.execute(
        "UPDATE memory.settings SET exact_search_max_rows = 5, hnsw_ef_search = 10, hnsw_max_scan_tuples = 20"
    )
    assert alice.execute(
        "SELECT agent.takes_exact_path('conversation', 'alice', NULL, NULL), agent.walk_limit('conversation', 30)"
    ).fetchone() == (False, 608)
    assert search(alice, "nothing shared", kinds=["conversation"]) == exact


@pytest.mark.parametrize(
    ("arguments", "sqlstate"),
    [
        ({"kinds": None}, "22004"),
        ({"kinds": []}, "22023"),
        ({"kinds": ["memory", "relation"]}, "22023"),
        ({"fusion": "max"}, "22023"),
        ({"rrf_k": 0}, "22023"),
        ({"match_count": 0}, "22023"),
        ({"candidate_depth": 0}, "22023"),
        ({"semantic_depth": 1001}, "22023"),
        ({"semantic_depth": None}, "22023"),
        ({"agent_id": ""}, "22023"),
        ({"source_id": "s" * 300}, "22001"),
        ({"text": "   "}, "22023"),
    ],
)
def test_bad_searches_get_their_sqlstate(module_db: Database, arguments, sqlstate):
    arguments = dict(arguments)
    text = arguments.pop("text", "deploy")
    with connect_as(module_db.url, "alice") as conn, pytest.raises(psycopg.Error) as exc:
        search(conn, text, **arguments)
    assert exc.value.sqlstate == sqlstate


def test_the_entity_sides_read_their_indexes(db: Database, admin):
    """The full-text side finds a user's entities through entities_user_terms (0025) and the HNSW
    path walks entities_embedding_ann, as the authenticated role, under row-level security."""
    admin.execute(  # other users' entities around alice's, with the same words
        "INSERT INTO memory.entities (user_id, entity_type, name, attributes)"
        " SELECT 'other-' || (i % 100), 'other', 'Thing ' || i, jsonb_build_object('duty', 'deploy key ' || i)"
        " FROM generate_series(1, 3000) AS i"
    )
    with connect_as(db.url, "alice") as alice:
        seed_entities(alice)
    admin.execute("ANALYZE memory.entities")
    call = "SELECT * FROM agent.unified_search('deploy key', %s, 'alice', kinds => '{entity}')"
    assert "entities_user_terms" in nested_plans(db.url, "alice", call, (QUERY,))
    admin.execute("UPDATE memory.settings SET exact_search_max_rows = 1")
    assert "entities_embedding_ann" in nested_plans(db.url, "alice", call, (QUERY,))


def test_messages_without_an_embedding_do_not_route_to_the_hnsw_index(alice, admin):
    for i in range(8):
        embedding = with_similarity(QUERY, 0.5, 300 + i) if i < 2 else None
        alice.execute(
            "SELECT agent.add_message('alice', 'ops', 'run-1', 'user', %s, %s)",
            (f"note {i}", embedding),
        )
    admin.execute("UPDATE memory.settings SET exact_search_max_rows = 5")
    assert alice.execute(
        "SELECT agent.takes_exact_path('conversation', 'alice', NULL, NULL)"
    ).fetchone() == (True,)  # 2 embedded of 8: the index holds 2 of hers
    assert len(search(alice, "nothing shared", kinds=["conversation"])) == 2


def test_the_walk_is_not_cut_without_statistics_and_refuses_an_unknown_kind(alice):
    # a new database: the indexes were never analyzed (or hold fewer entries than the bound)
    assert alice.execute(
        "SELECT agent.walk_limit('chunk', 30), agent.walk_limit('entity', 30)"
    ).fetchone() == (2147483647, 2147483647)
    for kind in ("memory", None):
        with pytest.raises(psycopg.Error) as exc:
            alice.execute("SELECT agent.walk_limit(%s, 30)", (kind,))
        assert exc.value.sqlstate == "22023"


def test_a_search_reads_the_users_rows_through_their_keys_not_whole_tables(db: Database, admin):
    """Cost linear in the user's matching rows: among 3,000 chunks, messages and entities of
    other users holding the query's words, no side of the search scans a whole table."""
    admin.execute(
        "INSERT INTO agent.documents (user_id, source_id, uri, content_hash)"
        " SELECT 'other-' || i, 'repo', 'doc-' || i, encode(sha256(i::text::bytea), 'hex')"
        " FROM generate_series(1, 100) AS i"
    )
    admin.execute(
        "INSERT INTO agent.chunks (document_id, user_id, source_id, ordinal, content, embedding)"
        " SELECT d.id, d.user_id, d.source_id, g, 'rotate the deploy key, part ' || g,"
        " array_fill(0.01::real, ARRAY[mempg.embedding_dim()])::vector"
        " FROM agent.documents AS d CROSS JOIN generate_series(1, 30) AS g"
    )
    admin.execute(
        "INSERT INTO agent.conversations (user_id, agent_id, session_id, role, content)"
        " SELECT 'other-' || (i % 100), 'bot', 's', 'user', 'the deploy key again ' || i"
        " FROM generate_series(1, 3000) AS i"
    )
    admin.execute(
        "INSERT INTO memory.entities (user_id, entity_type, name, attributes)"
        " SELECT 'other-' || (i % 100), 'other', 'Thing ' || i, jsonb_build_object('duty', 'deploy key ' || i)"
        " FROM generate_series(1, 3000) AS i"
    )
    with connect_as(db.url, "alice") as alice:
        seed(alice)
        seed_entities(alice)
    admin.execute("ANALYZE agent.documents, agent.chunks, agent.conversations, memory.entities")
    plans = nested_plans(
        db.url,
        "alice",
        "SELECT * FROM agent.unified_search('deploy key rotate', %s, 'alice')",
        (QUERY,),
    )
    scans = re.findall(r"Seq Scan on (chunks|conversations|entities|documents|memories)\b", plans)
    assert scans == [], scans
    for index in ("chunks_user_terms", "conversations_user_terms", "entities_user_terms"):
        assert index in plans, index  # the full-text sides, by the user's keys
