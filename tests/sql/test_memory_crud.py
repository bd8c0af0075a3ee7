"""Mem0's API in SQL: get, list (keyset pages), update, delete, restore, history; other users' ids."""

from __future__ import annotations

import psycopg
import pytest

from helpers import Database
from vectors import DIM, add_memory, connect_as, owner, unit, with_similarity

ALICE = "alice"


@pytest.fixture
def bob(db: Database):
    with connect_as(db.url, "bob") as conn:
        yield conn


def add(conn, text, embedding=None, user=ALICE, **kwargs) -> str:
    """An add whose embedding, unless given, follows from the text."""
    vector = unit(hash(text) % 10_000) if embedding is None else embedding
    return add_memory(conn, text, vector, user, **kwargs)[0]


def events(conn, memory_id) -> list[str]:
    return [r[0] for r in conn.execute("SELECT event FROM memory.memory_history(%s)", (memory_id,))]


def test_get_memory_returns_the_record_without_its_embedding(alice):
    memory_id = add(
        alice, "Alice likes tea", metadata='{"a": 1}', categories=["Food"], agent_id="planner"
    )
    row = alice.execute("SELECT * FROM memory.get_memory(%s)", (memory_id,)).fetchone()
    columns = [
        d.name
        for d in alice.execute("SELECT * FROM memory.get_memory(%s)", (memory_id,)).description
    ]
    assert "embedding" not in columns and "fts" not in columns
    record = dict(zip(columns, row, strict=True))
    assert (
        record["memory"],
        record["metadata"],
        record["categories"],
        record["agent_id"],
        record["version"],
    ) == ("Alice likes tea", {"a": 1}, ["food"], "planner", 1)


@pytest.mark.parametrize("function", ["get_memory", "delete_memory", "memory_history"])
def test_unknown_ids_are_p0002(alice, function):
    with pytest.raises(psycopg.errors.NoDataFound):
        alice.execute(f"SELECT * FROM memory.{function}(gen_random_uuid())")


@pytest.mark.parametrize(
    "function", ["get_memory", "delete_memory", "restore_memory", "memory_history"]
)
def test_null_ids_are_22004(alice, function):
    with pytest.raises(psycopg.errors.NullValueNotAllowed, match="must not be NULL"):
        alice.execute(f"SELECT * FROM memory.{function}(NULL)")


def test_list_memories_pages_newest_first_and_stays_stable_while_memories_are_added(alice):
    with alice.transaction():  # 25 memories with one created_at: the id breaks the tie
        for i in range(25):
            add(alice, f"memory number {i}", unit(i + 1))
    seen: list[str] = []
    cursor: tuple | None = None
    pages = 0
    while True:
        rows = alice.execute(
            "SELECT id::text, created_at FROM memory.list_memories(%s, after_created_at => %s,"
            " after_id => %s, page_size => 10)",
            (ALICE, cursor[0] if cursor else None, cursor[1] if cursor else None),
        ).fetchall()
        if not rows:
            break
        pages += 1
        seen += [r[0] for r in rows]
        cursor = (rows[-1][1], rows[-1][0])
        add(alice, f"added while paging {pages}", unit(1000 + pages))  # lands before page one
    assert pages == 3
    assert len(seen) == len(set(seen)) == 25


def test_list_memories_filters_by_agent_and_run_and_hides_deleted(alice):
    add(alice, "a", unit(1), agent_id="planner", run_id="r1")
    add(alice, "b", unit(2), agent_id="booker", run_id="r1")
    gone = add(alice, "c", unit(3), agent_id="planner", run_id="r2")
    alice.execute("SELECT memory.delete_memory(%s)", (gone,))

    def listed(**kwargs):
        params = "".join(f", {k} => %({k})s" for k in kwargs)
        return sorted(
            r[0]
            for r in alice.execute(
                f"SELECT memory FROM memory.list_memories(%(u)s{params})", {"u": ALICE, **kwargs}
            )
        )

    assert listed() == ["a", "b"]
    assert listed(agent_id="planner") == ["a"]
    assert listed(run_id="r1") == ["a", "b"]


@pytest.mark.parametrize(
    ("args", "sqlstate"),
    [
        ("NULL", "22004"),
        ("'alice', page_size => 0", "22023"),
        ("'alice', page_size => 1001", "22023"),
        ("'alice', after_created_at => now()", "22023"),
        ("'alice', after_id => gen_random_uuid()", "22023"),
    ],
)
def test_list_memories_refuses_bad_input(alice, args, sqlstate):
    with pytest.raises(psycopg.Error) as caught:
        alice.execute(f"SELECT * FROM memory.list_memories({args})")
    assert caught.value.sqlstate == sqlstate


def test_update_memory_changes_in_place_with_a_new_version_and_history(alice):
    memory_id = add(alice, "Alice likes tea", unit(1), metadata='{"a": 1}')
    row = alice.execute(
        "SELECT * FROM memory.update_memory(%s, memory => 'Alice loves tea', embedding => %s)",
        (memory_id, unit(2)),
    ).fetchone()
    assert (str(row[0]), row[1], row[2]) == (memory_id, "UPDATE", 2)
    alice.execute(
        "SELECT memory.update_memory(%s, metadata => '{\"b\": 2}', categories => '{Drinks}')",
        (memory_id,),
    )
    record = alice.execute(
        "SELECT memory, metadata, categories, version FROM memory.get_memory(%s)", (memory_id,)
    ).fetchone()
    assert record == ("Alice loves tea", {"b": 2}, ["drinks"], 3)
    history = alice.execute(
        "SELECT event, old_memory, new_memory, old_version, new_version"
        " FROM memory.memory_history(%s)",
        (memory_id,),
    ).fetchall()
    assert history == [
        ("ADD", None, "Alice likes tea", None, 1),
        ("UPDATE", "Alice likes tea", "Alice loves tea", 1, 2),
        ("UPDATE", "Alice loves tea", "Alice loves tea", 2, 3),
    ]


@pytest.mark.parametrize(
    ("args", "sqlstate"),
    [
        ("NULL, metadata => '{}'", "22004"),
        ("%(id)s, memory => 'text without embedding'", "22004"),
        ("%(id)s", "22023"),
        ("%(id)s, metadata => '[]'", "22023"),
        ("%(id)s, memory => 'x', embedding => '[1,2,3]'", "22023"),
        ("%(id)s, memory => '', embedding => %(e)s", "22023"),
        ("%(id)s, memory => repeat('x', 10001), embedding => %(e)s", "22001"),
        ("%(id)s, memory => repeat('many words ', 100000), embedding => %(e)s", "22001"),
        (
            "%(id)s, memory => 'x', embedding => array_fill(1e38::real, ARRAY[1536])::vector",
            "22023",
        ),
        ("%(id)s, categories => ARRAY[repeat('c', 1000000)]", "22001"),
        (
            "%(id)s, categories => (SELECT array_agg('c' || i) FROM generate_series(1, 101) AS i)",
            "22001",
        ),
        (
            "%(id)s, metadata => (SELECT jsonb_object_agg('k' || i, i) FROM generate_series(1, 100000) AS i)",
            "22001",
        ),
        ("gen_random_uuid(), metadata => '{}'", "P0002"),
    ],
)
def test_update_memory_refuses_bad_input_and_changes_nothing(alice, args, sqlstate):
    memory_id = add(alice, "Alice likes tea", unit(1))
    with pytest.raises(psycopg.Error) as caught:
        alice.execute(
            f"SELECT * FROM memory.update_memory({args})", {"id": memory_id, "e": unit(2)}
        )
    assert caught.value.sqlstate == sqlstate, str(caught.value)
    assert alice.execute("SELECT memory, version FROM memory.memories").fetchall() == [
        ("Alice likes tea", 1)
    ]


def test_delete_hides_a_memory_and_restore_brings_it_back(alice):
    memory_id = add(alice, "Alice likes tea", unit(1))
    assert (
        alice.execute("SELECT * FROM memory.delete_memory(%s)", (memory_id,)).fetchone()[1]
        == "DELETE"
    )
    assert (
        alice.execute("SELECT * FROM memory.search_memories(%s, %s)", (unit(1), ALICE)).fetchall()
        == []
    )
    with pytest.raises(psycopg.errors.NoDataFound):
        alice.execute("SELECT * FROM memory.get_memory(%s)", (memory_id,))
    with pytest.raises(psycopg.errors.NoDataFound):
        alice.execute("SELECT * FROM memory.delete_memory(%s)", (memory_id,))  # already deleted
    assert (
        alice.execute("SELECT * FROM memory.restore_memory(%s)", (memory_id,)).fetchone()[1]
        == "RESTORE"
    )
    assert (
        len(
            alice.execute(
                "SELECT * FROM memory.search_memories(%s, %s)", (unit(1), ALICE)
            ).fetchall()
        )
        == 1
    )
    with pytest.raises(psycopg.errors.NoDataFound):
        alice.execute("SELECT * FROM memory.restore_memory(%s)", (memory_id,))  # not deleted
    assert events(alice, memory_id) == ["ADD", "DELETE", "RESTORE"]


def test_restoring_over_a_live_duplicate_is_refused(alice):
    first = add(alice, "Alice likes tea", unit(1))
    alice.execute("SELECT memory.delete_memory(%s)", (first,))
    add(alice, "alice likes tea", unit(1))  # a new live memory with the same text
    with pytest.raises(psycopg.errors.UniqueViolation, match="cannot be restored"):
        alice.execute("SELECT * FROM memory.restore_memory(%s)", (first,))


def test_a_deleted_memory_does_not_absorb_new_ones(alice):
    first = add(alice, "Alice likes tea", unit(1))
    alice.execute("SELECT memory.delete_memory(%s)", (first,))
    row = alice.execute(
        "SELECT * FROM memory.add_memory(%s, 'Alice likes tea', %s)", (ALICE, unit(1))
    ).fetchone()
    assert row[1] == "ADD" and str(row[0]) != first


def test_another_users_ids_look_like_unknown_ids(alice, bob):
    memory_id = add(alice, "Alice's secret", unit(1))
    for call in (
        "get_memory(%s)",
        "delete_memory(%s)",
        "memory_history(%s)",
        "update_memory(%s, metadata => '{}')",
    ):
        with pytest.raises(psycopg.errors.NoDataFound):
            bob.execute(f"SELECT * FROM memory.{call}", (memory_id,))
    with pytest.raises(psycopg.errors.NoDataFound):
        bob.execute("SELECT * FROM memory.restore_memory(%s)", (memory_id,))
    assert bob.execute("SELECT * FROM memory.list_memories('alice')").fetchall() == []
    assert (
        bob.execute(
            "SELECT * FROM memory.search_memories(%s, 'alice', 10, '{}', '{}', 0)", (unit(1),)
        ).fetchall()
        == []
    )
    assert (
        bob.execute(
            "SELECT * FROM memory.hybrid_search_memories('secret', %s, 'alice')", (unit(1),)
        ).fetchall()
        == []
    )
    assert bob.execute(
        "SELECT memory.touch_memories(ARRAY[%s::uuid])", (memory_id,)
    ).fetchone() == (0,)
    assert alice.execute("SELECT memory, version FROM memory.memories").fetchall() == [
        ("Alice's secret", 1)
    ]


def test_nobody_can_write_memories_for_another_user(db: Database, bob):
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        bob.execute("SELECT * FROM memory.add_memory('alice', 'planted', %s)", (unit(1),))
    with owner(db.url) as admin:
        assert admin.execute("SELECT count(*) FROM memory.memories").fetchone() == (0,)


def test_without_an_identity_nothing_is_visible(db: Database, alice):
    add(alice, "Alice likes tea", unit(1))
    with connect_as(db.url, None) as anonymous_session:
        assert anonymous_session.execute("SELECT count(*) FROM memory.memories").fetchone() == (0,)


def test_anon_may_not_call_memory_functions(db: Database):
    with (
        connect_as(db.url, "alice", role="anon") as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("SELECT * FROM memory.search_memories(%s, 'alice')", (unit(1),))


def test_history_is_append_only_for_users(alice):
    memory_id = add(alice, "Alice likes tea", unit(1))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        alice.execute(
            "UPDATE memory.memory_history SET new_memory = 'forged' WHERE memory_id = %s",
            (memory_id,),
        )
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        alice.execute("DELETE FROM memory.memory_history WHERE memory_id = %s", (memory_id,))


def test_service_role_sees_every_user(db: Database, alice, bob):
    add(alice, "a", unit(1))
    add(bob, "b", unit(2), user="bob")
    with connect_as(db.url, None, role="service_role") as service:
        assert service.execute("SELECT count(*) FROM memory.memories").fetchone() == (2,)


def test_similarity_helper_is_exact():
    base = unit(1)
    assert float(with_similarity(base, 0.37) @ base) == pytest.approx(0.37, abs=1e-5)
    assert len(base) == DIM
