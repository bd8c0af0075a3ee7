"""Mem0's own `Memory` (mem0ai 2.2.1, infer=False: no LLM) on the "mempg" vector-store provider."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mem0", reason="the mem0 extra is not installed (make test installs it)")

from mem0 import Memory

import mempg_client.mem0 as mempg_mem0
from helpers import Database
from mempg_client import DimensionMismatch, MempgError, acting_as
from mempg_client.embeddings import HashEmbedder
from runner.operations import bulk_load_memories
from vectors import DIM, EMBEDDING_TYPE, clustered, connect_as, owner


class LookupEmbedder:
    """A fixed embedder: each known text has its vector; anything else is hashed."""

    def __init__(self, table: dict[str, np.ndarray]) -> None:
        self.table = table
        self.fallback = HashEmbedder(DIM)
        self.name = "lookup"
        self.dimension = DIM

    def embed(self, texts):
        return [
            [float(x) for x in self.table[t]] if t in self.table else self.fallback.embed([t])[0]
            for t in texts
        ]


def memory_for(db: Database, tmp_path: Path, user: str | None, **store: object) -> Memory:
    config = {"dsn": db.url, **({"user_id": user} if user else {}), **store}
    return Memory.from_config(
        {
            "vector_store": {"provider": "mempg", "config": config},
            "embedder": {"provider": "mempg"},
            # Mem0 builds its LLM client at start-up; with infer=False it is never called.
            "llm": {"provider": "openai", "config": {"api_key": "unused-with-infer-false"}},
            "history_db_path": str(tmp_path / f"history-{user or 'shared'}.db"),
        }
    )


@pytest.fixture(autouse=True)
def hash_embedder() -> None:
    mempg_mem0.register(embedder=HashEmbedder(DIM))


def test_two_users_add_search_get_all_update_delete_and_history_through_mem0(
    module_db: Database, tmp_path: Path
):
    alice_id, bob_id = f"alice-{uuid.uuid4().hex[:8]}", f"bob-{uuid.uuid4().hex[:8]}"
    alice = memory_for(module_db, tmp_path, alice_id)
    bob = memory_for(module_db, tmp_path, bob_id)

    tea = alice.add(
        "Alice drinks green tea every morning",
        user_id=alice_id,
        infer=False,
        metadata={"topic": "food"},
    )
    alice.add(
        "Alice flies to Lisbon in May", user_id=alice_id, infer=False, metadata={"topic": "travel"}
    )
    bob.add(
        "Bob drinks black coffee at night", user_id=bob_id, infer=False, metadata={"topic": "food"}
    )
    tea_id = tea["results"][0]["id"]
    assert tea["results"][0]["event"] == "ADD"

    found = alice.search("green tea", filters={"user_id": alice_id}, top_k=5)["results"]
    assert found[0]["id"] == tea_id and found[0]["memory"] == "Alice drinks green tea every morning"
    assert found[0]["metadata"] == {"topic": "food"}
    assert {r["user_id"] for r in found} == {alice_id}
    assert [r["memory"] for r in bob.search("drinks", filters={"user_id": bob_id})["results"]] == [
        "Bob drinks black coffee at night"
    ]
    # Bob's store cannot read Alice's memories, even by naming her (row-level security)
    assert bob.search("green tea", filters={"user_id": alice_id})["results"] == []
    assert bob.get(tea_id) is None
    with pytest.raises(ValueError):
        bob.update(tea_id, text="Bob was here")
    with pytest.raises(ValueError):
        bob.delete(tea_id)

    listed = alice.get_all(filters={"user_id": alice_id})["results"]
    assert sorted(r["memory"] for r in listed) == [
        "Alice drinks green tea every morning",
        "Alice flies to Lisbon in May",
    ]

    alice.update(tea_id, text="Alice drinks jasmine tea every morning")
    assert alice.get(tea_id)["memory"] == "Alice drinks jasmine tea every morning"
    alice.delete(tea_id)
    assert alice.get(tea_id) is None
    assert [h["event"] for h in alice.history(tea_id)] == ["ADD", "UPDATE", "DELETE"]
    with connect_as(module_db.url, alice_id) as conn:  # mempg's own history agrees
        events = conn.execute("SELECT event FROM memory.memory_history(%s)", (tea_id,)).fetchall()
    assert [e for (e,) in events] == ["ADD", "UPDATE", "DELETE"]
    assert [r["memory"] for r in alice.get_all(filters={"user_id": alice_id})["results"]] == [
        "Alice flies to Lisbon in May"
    ]


def test_mem0_filters_and_scope_reach_mempgs_filter_language(
    module_db: Database, tmp_path: Path, user: str
):
    memory = memory_for(module_db, tmp_path, user)
    rows = [
        ("Trip to Lisbon in May", {"topic": "travel", "month": 5}, "planner"),
        ("Trip to Oslo in December", {"topic": "travel", "month": 12}, "planner"),
        ("Dinner with Ana on Friday", {"topic": "social", "month": 5}, "butler"),
        ("Dentist appointment", {"month": 3}, None),
    ]
    for text, metadata, agent in rows:
        memory.add(text, user_id=user, agent_id=agent, infer=False, metadata=metadata)

    def search(filters):
        return sorted(
            r["memory"]
            for r in memory.search(
                "trip dinner dentist", filters={"user_id": user, **filters}, threshold=0
            )["results"]
        )

    assert search({"topic": "travel", "month": {"gte": 6}}) == ["Trip to Oslo in December"]
    assert search({"topic": {"in": ["social", "work"]}}) == ["Dinner with Ana on Friday"]
    assert search({"OR": [{"month": 3}, {"topic": "social"}]}) == [
        "Dentist appointment",
        "Dinner with Ana on Friday",
    ]
    assert search({"NOT": [{"topic": "travel"}]}) == [
        "Dentist appointment",
        "Dinner with Ana on Friday",
    ]
    assert search({"topic": "*"}) == [
        "Dinner with Ana on Friday",
        "Trip to Lisbon in May",
        "Trip to Oslo in December",
    ]
    assert search({"agent_id": "butler"}) == ["Dinner with Ana on Friday"]
    # Mem0 refuses an operator on agent_id itself; the store passes one to mempg's filter
    query = HashEmbedder(DIM).embed(["trip"])[0]
    found = memory.vector_store.search(
        "trip", query, top_k=10, filters={"user_id": user, "agent_id": {"ne": "planner"}}
    )
    assert sorted(o.payload["data"] for o in found) == [
        "Dentist appointment",
        "Dinner with Ana on Friday",
    ]
    assert sorted(
        r["memory"]
        for r in memory.get_all(filters={"user_id": user, "month": {"lt": 5}})["results"]
    ) == ["Dentist appointment"]
    assert len(memory.get_all(filters={"user_id": user, "agent_id": "planner"})["results"]) == 2


def test_bad_filters_are_refused_by_sql_with_their_sqlstate(module_db: Database, user: str):
    store = mempg_mem0.MempgVectorStore(dsn=module_db.url, user_id=user)
    query = HashEmbedder(DIM).embed(["anything"])[0]
    for bad in ({"month": {"regex": "5"}}, {"OR": [{"user_id": "bob"}]}, {"month": {"in": []}}):
        with pytest.raises(MempgError) as refused:
            store.search("anything", query, filters={"user_id": user, **bad})
        assert refused.value.sqlstate == "22023"
    with pytest.raises(MempgError) as refused:
        store.search("anything", [0.0] * DIM, filters={"user_id": user})
    assert refused.value.sqlstate == "22023"  # a zero vector has no cosine


def test_an_embedder_of_another_dimension_is_refused_at_start_up(
    module_db: Database, tmp_path: Path, user: str
):
    with pytest.raises(DimensionMismatch) as refused:
        memory_for(module_db, tmp_path, user, embedding_model_dims=384)
    assert refused.value.sqlstate == "22023"
    assert (refused.value.embedder_dim, refused.value.installed_dim) == (384, DIM)
    mempg_mem0.register(embedder=HashEmbedder(384))
    with pytest.raises(DimensionMismatch):
        memory_for(module_db, tmp_path, user)


def test_a_shared_store_acts_for_the_user_each_call_names_and_fails_closed_without_one(
    module_db: Database, tmp_path: Path
):
    shared = memory_for(module_db, tmp_path, None)
    carol, dave = f"carol-{uuid.uuid4().hex[:8]}", f"dave-{uuid.uuid4().hex[:8]}"
    carols = shared.add("Carol keeps bees", user_id=carol, infer=False)["results"][0]["id"]
    shared.add("Dave plays the cello", user_id=dave, infer=False)
    assert [
        r["memory"] for r in shared.search("bees cello", filters={"user_id": carol})["results"]
    ] == ["Carol keeps bees"]
    assert shared.get(carols) is None  # a call by id names no user: no identity, no rows
    with acting_as(carol):
        assert shared.get(carols)["memory"] == "Carol keeps bees"
    with acting_as(dave):
        assert shared.get(carols) is None
        # writing for another user is refused by row-level security
        with pytest.raises(MempgError) as refused:
            shared.vector_store.insert(
                [HashEmbedder(DIM).embed(["x"])[0]],
                [{"data": "x", "user_id": carol}],
                [str(uuid.uuid4())],
            )
        assert refused.value.sqlstate == "42501"


def test_allowed_users_refuse_anyone_else_before_sql(module_db: Database, user: str):
    store = mempg_mem0.MempgVectorStore(dsn=module_db.url, allowed_users=[user])
    vector = HashEmbedder(DIM).embed(["x"])[0]
    assert store.search("x", vector, filters={"user_id": user}) == []
    with pytest.raises(MempgError) as refused:
        store.search("x", vector, filters={"user_id": "mallory"})
    assert refused.value.sqlstate == "42501"


def test_deduplication_folds_a_repeated_insert_into_the_memory_mempg_has(
    module_db: Database, user: str
):
    store = mempg_mem0.MempgVectorStore(dsn=module_db.url, user_id=user)
    vector = HashEmbedder(DIM).embed(["Erin likes kites"])[0]
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    store.insert([vector], [{"data": "Erin likes kites", "user_id": user}], [first])
    store.insert([vector], [{"data": "  erin likes KITES", "user_id": user}], [second])
    assert store.last_insert_outcomes == [{"mem0_id": second, "id": first, "event": "NOOP"}]
    assert store.get(second) is None and store.get(first).payload["data"] == "Erin likes kites"


def test_collections_reset_and_col_info(module_db: Database, user: str):
    store = mempg_mem0.MempgVectorStore(dsn=module_db.url, user_id=user)
    other = mempg_mem0.MempgVectorStore(dsn=module_db.url, user_id=user + "-other")
    vector = HashEmbedder(DIM).embed(["Fay"])[0]
    store.insert([vector], [{"data": "Fay sings"}], [str(uuid.uuid4())])
    other.insert([vector], [{"data": "Fay sings too"}], [str(uuid.uuid4())])
    assert store.col_info()["dimension"] == DIM and store.list_cols() == ["mem0"]
    store.reset()  # the acting user's memories only
    assert store.list(filters={"user_id": user}) == [[]]
    assert [o.payload["data"] for o in other.list(filters={"user_id": user + "-other"})[0]] == [
        "Fay sings too"
    ]
    entities = mempg_mem0.MempgVectorStore(
        dsn=module_db.url, user_id=user, collection_name="mem0_entities"
    )
    with pytest.raises(MempgError) as refused:
        entities.list(filters={"user_id": user})
    assert refused.value.sqlstate == "0A000"


def test_search_through_mem0_equals_exact_search_beside_other_users(
    module_db: Database, tmp_path: Path, user: str
):
    """Recall: a light user among 2,000 other memories (HNSW-indexed) gets the exact top 10."""
    centres = np.random.default_rng(18).normal(size=(12, DIM)).astype(np.float32)
    with (
        owner(module_db.url) as conn,
        bulk_load_memories(conn),
        conn.cursor().copy(
            "COPY memory.memories (user_id, memory, embedding) FROM STDIN WITH (FORMAT BINARY)"
        ) as copy,
    ):
        copy.set_types(["text", "text", EMBEDDING_TYPE])
        for i, row in enumerate(clustered(2000, centres, spread=0.8, seed=1)):
            copy.write_row((f"crowd-{i % 20}", f"crowd memory {i}", row))
    mine = clustered(60, centres, spread=0.8, seed=2)
    queries = clustered(10, centres, spread=0.8, seed=3)
    texts = [f"note {i} zq{i}x" for i in range(len(mine))]
    asks = [f"qq{i}w" for i in range(len(queries))]  # no word in common: Mem0's BM25 adds nothing
    table = dict(zip(texts, mine, strict=True)) | dict(zip(asks, queries, strict=True))
    mempg_mem0.register(embedder=LookupEmbedder(table))
    memory = memory_for(module_db, tmp_path, user)
    ids = [memory.add(t, user_id=user, infer=False)["results"][0]["id"] for t in texts]

    for ask, q in zip(asks, queries, strict=True):
        sims = mine @ q / (np.linalg.norm(mine, axis=1) * np.linalg.norm(q))
        exact = [ids[i] for i in np.argsort(-sims)[:10]]
        store = memory.vector_store.search(
            "", [float(x) for x in q], top_k=10, filters={"user_id": user}
        )
        assert [o.id for o in store] == exact  # the store: the exact top 10, in order
        through_mem0 = memory.search(ask, top_k=10, threshold=0, filters={"user_id": user})[
            "results"
        ]
        assert {r["id"] for r in through_mem0} == set(exact)  # Mem0's own search over it
