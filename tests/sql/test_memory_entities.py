"""Entities (0012): resolution without an LLM, links, merges and their undo, facts with time,
traversal, interactions, entity-aware search, row-level security and bad input."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import Database, wait_until_blocked_on_advisory_locks
from vectors import add_memory, connect_as, owner, unit, with_similarity


def upsert(
    conn: psycopg.Connection,
    name: str,
    entity_type: str = "person",
    user: str = "alice",
    **arguments: object,
) -> tuple[str, str, str | None]:
    named = "".join(f", {key} => %({key})s" for key in arguments)
    row = conn.execute(
        f"SELECT id::text, event, matched_by FROM memory.upsert_entity(%(user)s, %(name)s, %(type)s{named})",
        {"user": user, "name": name, "type": entity_type, **arguments},
    ).fetchone()
    assert row is not None
    return row[0], row[1], row[2]


def fact(
    conn: psycopg.Connection,
    subject: str,
    relation: str,
    obj: str | None = None,
    **arguments: object,
) -> tuple[str, str, list[str]]:
    named = "".join(f", {key} => %({key})s" for key in arguments)
    row = conn.execute(
        f"SELECT id::text, event, closed::text[] FROM memory.assert_fact(%(s)s, %(r)s, %(o)s{named})",
        {"s": subject, "r": relation, "o": obj, **arguments},
    ).fetchone()
    assert row is not None
    return row[0], row[1], row[2]


def timeline(conn: psycopg.Connection, entity: str) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT relation, coalesce(object, value), valid_from::date::text, valid_to::date::text"
        " FROM memory.entity_facts(%s, include_past => true)",
        (entity,),
    ).fetchall()


@pytest.fixture
def bob(db: Database):
    conn = connect_as(db.url, "bob")
    yield conn
    conn.close()


# ------------------------------------------------------------------------------- resolution
def test_a_name_resolves_to_its_entity_whatever_its_case_accents_and_punctuation(alice):
    first = upsert(alice, "José O'Brien")
    assert first[1] == "ADD"
    for spelling in ["jose obrien", "  JOSÉ  O\u2019Brien ", "José O'Brien's"]:
        assert upsert(alice, spelling) == (first[0], "MATCH", "name")


def test_an_alias_resolves_and_a_new_spelling_becomes_an_alias(alice):
    city, _, _ = upsert(alice, "New York City", "place", aliases=["Big Apple"])
    assert upsert(alice, "big apple", "place") == (city, "MATCH", "alias")
    # a new name whose given alias is the entity's name: matched, and learnt as an alias
    assert upsert(alice, "NYC", "place", aliases=["New York City"]) == (city, "MATCH", "alias")
    assert upsert(alice, "nyc", "place") == (city, "MATCH", "alias")
    aliases = alice.execute("SELECT aliases FROM memory.entities WHERE id = %s", (city,)).fetchone()
    assert aliases == (["Big Apple", "NYC"],)


def test_the_same_name_of_another_type_is_another_entity(alice):
    person, _, _ = upsert(alice, "Jordan", "person")
    place, event, _ = upsert(alice, "Jordan", "place")
    assert event == "ADD" and place != person


def test_a_near_spelling_matches_by_trigram_only_above_the_threshold(alice, admin):
    nolan, _, _ = upsert(alice, "Christopher Nolan")
    assert upsert(alice, "Christoper Nolan")[:3:2] == (nolan, "trigram")
    caroline, _, _ = upsert(alice, "Caroline")
    carolina = upsert(alice, "Carolina")  # similarity 0.64 < 0.7: two people
    assert carolina[1] == "ADD" and carolina[0] != caroline
    john, _, _ = upsert(alice, "John Smith")
    admin.execute("UPDATE memory.entity_resolution_settings SET trigram_threshold = 0.6")
    assert upsert(alice, "Jon Smith")[:3:2] == (john, "trigram")  # 0.62


def test_a_fuzzy_match_does_not_make_its_spelling_an_alias(alice, admin):
    nolan, _, _ = upsert(alice, "Christopher Nolan", embedding=unit(3))
    history = "SELECT count(*) FROM memory.entity_history WHERE entity_id = %s"
    before = admin.execute(history, (nolan,)).fetchone()
    for _ in range(2):  # found the same way again: nothing was learnt, nothing written
        assert upsert(alice, "Christoper Nolan")[:3:2] == (nolan, "trigram")
    assert upsert(alice, "C. Nolan", embedding=with_similarity(unit(3), 0.97, 4))[2] == "embedding"
    assert admin.execute(history, (nolan,)).fetchone() == before
    row = alice.execute("SELECT aliases FROM memory.entities WHERE id = %s", (nolan,)).fetchone()
    assert row == ([],)
    # the aliases a fuzzy call asserts are still taken
    upsert(alice, "Christoper Nolan", aliases=["Chris Nolan"])
    assert upsert(alice, "chris nolan") == (nolan, "MATCH", "alias")


def test_exact_names_are_tried_before_trigrams(alice):
    jon, _, _ = upsert(alice, "Jon Smith")
    john, _, _ = upsert(alice, "John Smith")
    assert john != jon
    assert upsert(alice, "John Smith") == (john, "MATCH", "name")
    assert upsert(alice, "jon smith") == (jon, "MATCH", "name")


def test_an_embedding_matches_at_cosine_095_and_not_below(alice):
    base = unit(7)
    acme, _, _ = upsert(alice, "Acme", "organization", embedding=base)
    close = upsert(
        alice, "Zenith Holdings", "organization", embedding=with_similarity(base, 0.96, 1)
    )
    assert close[0] == acme and close[2] == "embedding"
    far = upsert(alice, "Quantum Widgets", "organization", embedding=with_similarity(base, 0.94, 2))
    assert far[1] == "ADD"


def test_a_match_merges_attributes_and_contact_and_raises_importance(alice):
    ada, _, _ = upsert(alice, "Ada", attributes='{"team": "core"}', importance=0.3)
    upsert(
        alice,
        "ada",
        attributes='{"city": "Paris"}',
        contact='{"email": "ada@x.org"}',
        importance=0.9,
    )
    upsert(alice, "ADA", importance=0.1)
    row = alice.execute(
        "SELECT attributes, contact, importance FROM memory.entities WHERE id = %s", (ada,)
    ).fetchone()
    assert row == ({"team": "core", "city": "Paris"}, {"email": "ada@x.org"}, pytest.approx(0.9))


def test_a_match_that_brings_nothing_new_writes_no_history(alice):
    ada, _, _ = upsert(alice, "Ada")
    upsert(alice, "ada")
    events = alice.execute("SELECT event FROM memory.entity_history_of(%s)", (ada,)).fetchall()
    assert events == [("ADD",)]


def test_sixteen_sessions_upserting_one_new_name_make_one_entity(db: Database):
    sessions = 16
    conns = [connect_as(db.url, "alice") for _ in range(sessions)]
    results: list[Any] = [None] * sessions
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            spelling = ["Grace Hopper", "grace hopper", "GRACE  HOPPER", "Grace Hopper's"][
                index % 4
            ]
            results[index] = [upsert(conns[index], spelling)[1] for _ in range(10)]
        except BaseException as exc:  # reported below
            errors.append(exc)

    try:
        with owner(db.url) as admin:
            admin.execute("SELECT pg_advisory_lock(memory.entity_lock_key('alice'))")
            threads = [threading.Thread(target=work, args=(i,)) for i in range(sessions)]
            for thread in threads:
                thread.start()
            wait_until_blocked_on_advisory_locks(admin, [c.info.backend_pid for c in conns], errors)
            admin.execute("SELECT pg_advisory_unlock_all()")
            for thread in threads:
                thread.join(timeout=120)
            assert not errors, errors
            count = admin.execute("SELECT count(*) FROM memory.entities").fetchone()
    finally:
        for conn in conns:
            conn.close()
    events = Counter(event for session in results for event in session)
    assert events == {"ADD": 1, "MATCH": sessions * 10 - 1}
    assert count == (1,)


def test_a_concurrent_add_under_repeatable_read_is_a_serialization_failure(db: Database):
    with connect_as(db.url, "alice") as first, connect_as(db.url, "alice") as second:
        second.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        second.execute("SELECT 1 FROM memory.entities")  # the snapshot is taken now
        upsert(first, "Linus")
        with pytest.raises(psycopg.errors.SerializationFailure):
            upsert(second, "Linus")
        second.execute("ROLLBACK")
        assert upsert(second, "Linus")[1] == "MATCH"


# ------------------------------------------------------------------------------------ links
def test_add_memory_links_entities_by_name_and_id(alice):
    acme, _, _ = upsert(alice, "Acme", "organization")
    memory_id, _ = add_memory(
        alice,
        "Ada joined Acme",
        unit(1),
        entities=f'[{{"name": "Ada", "type": "person", "role": "subject"}}, "{acme}"]',
    )
    links = alice.execute(
        "SELECT e.name, me.role FROM memory.memory_entities me JOIN memory.entities e ON e.id = me.entity_id"
        " WHERE me.memory_id = %s ORDER BY 1",
        (memory_id,),
    ).fetchall()
    assert links == [("Acme", "mention"), ("Ada", "subject")]
    assert [
        r[0] for r in alice.execute("SELECT memory FROM memory.memories_of_entity(%s)", (acme,))
    ] == ["Ada joined Acme"]


def test_a_deduplicated_memory_carries_its_links_to_the_memory_that_stays(alice):
    first, _ = add_memory(alice, "Ada likes tea", unit(1), entities='["Ada"]')
    second, event = add_memory(alice, "ada likes TEA", unit(1), entities='["Tea House"]')
    assert (second, event) == (first, "NOOP")
    names = alice.execute(
        "SELECT e.name FROM memory.memory_entities me JOIN memory.entities e ON e.id = me.entity_id"
        " WHERE me.memory_id = %s ORDER BY 1",
        (first,),
    ).fetchall()
    assert names == [("Ada",), ("Tea House",)]


def test_a_name_without_a_type_links_the_entity_of_that_name_whatever_its_type(alice):
    caroline, _, _ = upsert(alice, "Caroline", "person")
    oslo, _, _ = upsert(alice, "Oslo", "place", aliases=["Christiania"])
    memory_id, _ = add_memory(
        alice,
        "Caroline moved to Christiania, met Bob",
        unit(1),
        entities='["caroline", {"name": "Christiania", "role": "place"}, "Bob"]',
    )
    links = alice.execute(
        "SELECT e.id::text, e.name, e.entity_type FROM memory.memory_entities me"
        " JOIN memory.entities e ON e.id = me.entity_id WHERE me.memory_id = %s ORDER BY 2",
        (memory_id,),
    ).fetchall()
    assert [(i, n) for i, n, _ in links if n != "Bob"] == [(caroline, "Caroline"), (oslo, "Oslo")]
    assert ("Bob", "other") in [(n, t) for _, n, t in links]  # unknown: a new entity of type other
    # a typed entity is preferred to one of type other; an explicit type is kept
    upsert(alice, "Jordan", "other")
    jordan, _, _ = upsert(alice, "Jordan", "place")
    second, _ = add_memory(alice, "Jordan in spring", unit(2), entities='["Jordan"]')
    assert alice.execute(
        "SELECT entity_id::text FROM memory.memory_entities WHERE memory_id = %s", (second,)
    ).fetchall() == [(jordan,)]
    third, _ = add_memory(
        alice, "Caroline the ship", unit(3), entities='[{"name": "Caroline", "type": "other"}]'
    )
    assert alice.execute(
        "SELECT e.entity_type FROM memory.memory_entities me JOIN memory.entities e"
        " ON e.id = me.entity_id WHERE me.memory_id = %s",
        (third,),
    ).fetchall() == [("other",)]


def test_a_bad_entity_in_add_memory_writes_nothing(alice, admin):
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        add_memory(
            alice, "Ada met Bob", unit(1), entities='["Ada", {"name": "Bob", "type": "robot"}]'
        )
    counts = admin.execute(
        "SELECT (SELECT count(*) FROM memory.memories), (SELECT count(*) FROM memory.entities)"
    ).fetchone()
    assert counts == (0, 0)


def test_hard_deleting_a_memory_removes_its_links(alice, admin):
    memory_id, _ = add_memory(alice, "Ada joined Acme", unit(1), entities='["Ada"]')
    admin.execute("DELETE FROM memory.memories WHERE id = %s", (memory_id,))
    assert admin.execute("SELECT count(*) FROM memory.memory_entities").fetchone() == (0,)


# ------------------------------------------------------------------------------------ facts
def test_the_database_refuses_two_employers_at_once(alice, admin):
    ada, _, _ = upsert(alice, "Ada")
    acme, _, _ = upsert(alice, "Acme", "organization")
    globex, _, _ = upsert(alice, "Globex", "organization")
    insert = (
        "INSERT INTO memory.entity_relations (user_id, subject_id, relation, object_id, valid_from, valid_to)"
        " VALUES ('alice', %s, 'works_at', %s, %s, %s)"
    )
    admin.execute(insert, (ada, acme, "2020-01-01", None))
    with pytest.raises(psycopg.errors.ExclusionViolation):
        admin.execute(insert, (ada, globex, "2023-01-01", None))
    admin.execute(insert, (ada, globex, "2018-01-01", "2020-01-01"))  # adjacent, not overlapping


def test_a_new_employer_closes_the_current_one(alice):
    ada, _, _ = upsert(alice, "Ada")
    acme, _, _ = upsert(alice, "Acme", "organization")
    globex, _, _ = upsert(alice, "Globex", "organization")
    old, _, _ = fact(alice, ada, "works_at", acme, valid_from="2020-01-01")
    _, event, closed = fact(alice, ada, "works_at", globex, valid_from="2024-03-01")
    assert (event, closed) == ("SUPERSEDE", [old])
    assert timeline(alice, ada) == [
        ("works_at", "Acme", "2020-01-01", "2024-03-01"),
        ("works_at", "Globex", "2024-03-01", None),
    ]
    current = alice.execute("SELECT subject, relation, object FROM memory.current_facts").fetchall()
    assert current == [("Ada", "works_at", "Globex")]
    as_of = alice.execute(
        "SELECT object FROM memory.entity_facts(%s, as_of => '2021-06-01')", (ada,)
    ).fetchall()
    assert as_of == [("Acme",)]


def test_a_fact_learnt_late_ends_where_the_later_one_starts(alice):
    ada, _, _ = upsert(alice, "Ada")
    fact(alice, ada, "lives_in", value="Lisbon", valid_from="2022-01-01")
    _, event, closed = fact(alice, ada, "lives_in", value="Porto", valid_from="2019-05-01")
    assert (event, closed) == ("ADD", [])
    assert timeline(alice, ada) == [
        ("lives_in", "Porto", "2019-05-01", "2022-01-01"),
        ("lives_in", "Lisbon", "2022-01-01", None),
    ]


def test_a_bounded_fact_inside_another_splits_it(alice):
    ada, _, _ = upsert(alice, "Ada")
    fact(alice, ada, "lives_in", value="Lisbon", valid_from="2020-01-01")
    fact(alice, ada, "lives_in", value="Tokyo", valid_from="2021-01-01", valid_to="2021-07-01")
    assert sorted(timeline(alice, ada), key=lambda r: r[2]) == [
        ("lives_in", "Lisbon", "2020-01-01", "2021-01-01"),
        ("lives_in", "Tokyo", "2021-01-01", "2021-07-01"),
        ("lives_in", "Lisbon", "2021-07-01", None),
    ]


def test_the_same_start_with_another_object_is_a_correction(alice):
    ada, _, _ = upsert(alice, "Ada")
    wrong, _, _ = fact(alice, ada, "role", value="engineer", valid_from="2020-01-01")
    _, event, closed = fact(alice, ada, "role", value="designer", valid_from="2020-01-01")
    assert (event, closed) == ("SUPERSEDE", [wrong])
    assert timeline(alice, ada) == [("role", "designer", "2020-01-01", None)]
    retracted = alice.execute(
        "SELECT expired_at IS NOT NULL FROM memory.entity_relations WHERE id = %s", (wrong,)
    ).fetchone()
    assert retracted == (True,)


def test_restating_a_fact_is_a_noop_and_an_overlapping_one_extends_it(alice):
    ada, _, _ = upsert(alice, "Ada")
    first, _, _ = fact(
        alice, ada, "likes", value="tea", valid_from="2020-01-01", valid_to="2021-01-01"
    )
    assert fact(
        alice, ada, "likes", value="Tea", valid_from="2020-03-01", valid_to="2020-09-01"
    ) == (first, "NOOP", [])
    _, event, closed = fact(
        alice, ada, "likes", value="tea", valid_from="2020-06-01", valid_to="2022-01-01"
    )
    assert (event, closed) == ("EXTEND", [first])
    assert timeline(alice, ada) == [("likes", "tea", "2020-01-01", "2022-01-01")]


def test_disjoint_intervals_of_one_fact_stay_separate(alice):
    ada, _, _ = upsert(alice, "Ada")
    acme, _, _ = upsert(alice, "Acme", "organization")
    globex, _, _ = upsert(alice, "Globex", "organization")
    fact(alice, ada, "works_at", acme, valid_from="2010-01-01", valid_to="2012-01-01")
    fact(alice, ada, "works_at", globex, valid_from="2012-01-01", valid_to="2015-01-01")
    fact(alice, ada, "works_at", acme, valid_from="2015-01-01")
    assert [r[1:3] for r in timeline(alice, ada)] == [
        ("Acme", "2010-01-01"),
        ("Globex", "2012-01-01"),
        ("Acme", "2015-01-01"),
    ]


def test_multi_valued_relations_hold_several_objects_at_once(alice):
    ada, _, _ = upsert(alice, "Ada")
    for hobby in ["tea", "chess"]:
        assert fact(alice, ada, "likes", value=hobby, valid_from="2020-01-01")[1] == "ADD"
    assert len(timeline(alice, ada)) == 2


def test_valid_from_is_the_source_memorys_time_never_now(alice):
    ada, _, _ = upsert(alice, "Ada")
    memory_id, _ = add_memory(alice, "Ada lives in Lisbon", unit(1))
    alice.execute(
        "UPDATE memory.memories SET created_at = '2021-02-03' WHERE id = %s", (memory_id,)
    )
    fact(alice, ada, "lives_in", value="Lisbon", source_memory_id=memory_id)
    assert timeline(alice, ada) == [("lives_in", "Lisbon", "2021-02-03", None)]
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        fact(alice, ada, "lives_in", value="Porto")


def test_other_facts_are_never_touched_by_a_supersession(alice):
    ada, _, _ = upsert(alice, "Ada")
    grace, _, _ = upsert(alice, "Grace")
    acme, _, _ = upsert(alice, "Acme", "organization")
    globex, _, _ = upsert(alice, "Globex", "organization")
    fact(alice, grace, "works_at", acme, valid_from="2020-01-01")
    fact(alice, ada, "lives_in", value="Lisbon", valid_from="2020-01-01")
    fact(alice, ada, "works_at", acme, valid_from="2020-01-01")
    fact(alice, ada, "works_at", globex, valid_from="2023-01-01")
    assert timeline(alice, grace) == [("works_at", "Acme", "2020-01-01", None)]
    assert ("lives_in", "Lisbon", "2020-01-01", None) in timeline(alice, ada)


# ------------------------------------------------------------------------- merge and undo
def arrange_two_bobs(alice) -> dict[str, str]:
    ids = {
        "bob": upsert(alice, "Bob")[0],
        "robert": upsert(alice, "Robert", aliases=["Rob"])[0],
        "acme": upsert(alice, "Acme", "organization")[0],
        "ada": upsert(alice, "Ada")[0],
    }
    ids["m1"] = add_memory(alice, "Bob likes tea", unit(1), entities=f'["{ids["bob"]}"]')[0]
    ids["m2"] = add_memory(
        alice, "Robert plays chess", unit(2), entities=f'["{ids["robert"]}", "{ids["bob"]}"]'
    )[0]
    fact(alice, ids["robert"], "works_at", ids["acme"], valid_from="2020-01-01")
    fact(alice, ids["ada"], "knows", ids["robert"], valid_from="2020-01-01")
    alice.execute("SELECT memory.record_interaction(%s, 'call', '2024-01-01')", (ids["robert"],))
    return ids


def test_merging_moves_links_facts_and_interactions_and_keeps_the_loser(alice):
    ids = arrange_two_bobs(alice)
    alice.execute("SELECT memory.merge_entities(%s, %s)", (ids["bob"], ids["robert"]))
    links = alice.execute(
        "SELECT memory_id::text, entity_id::text FROM memory.memory_entities ORDER BY 1"
    ).fetchall()
    assert sorted(links) == sorted([(ids["m1"], ids["bob"]), (ids["m2"], ids["bob"])])
    facts = alice.execute(
        "SELECT subject, relation, object FROM memory.entity_facts(%s) ORDER BY 2", (ids["bob"],)
    ).fetchall()
    assert facts == [("Ada", "knows", "Bob"), ("Bob", "works_at", "Acme")]
    row = alice.execute(
        "SELECT aliases, interaction_count FROM memory.entities WHERE id = %s", (ids["bob"],)
    ).fetchone()
    assert row == (["Robert", "Rob"], 1)
    assert upsert(alice, "rob") == (ids["bob"], "MATCH", "alias")
    followed = alice.execute(
        "SELECT id::text, merged_from::text FROM memory.get_entity(%s)", (ids["robert"],)
    )
    assert followed.fetchone() == (ids["bob"], ids["robert"])
    events = alice.execute(
        "SELECT event FROM memory.entity_history_of(%s)", (ids["robert"],)
    ).fetchall()
    assert events == [("ADD",), ("MERGE",)]


def test_unmerging_puts_everything_back(alice):
    ids = arrange_two_bobs(alice)
    before = {
        "links": alice.execute(
            "SELECT memory_id, entity_id, role FROM memory.memory_entities ORDER BY 1, 2"
        ).fetchall(),
        "facts": alice.execute(
            "SELECT id, subject_id, object_id, expired_at FROM memory.entity_relations ORDER BY 1"
        ).fetchall(),
        "entities": alice.execute(
            "SELECT id, aliases, interaction_count, merged_into FROM memory.entities ORDER BY 1"
        ).fetchall(),
    }
    alice.execute("SELECT memory.merge_entities(%s, %s)", (ids["bob"], ids["robert"]))
    alice.execute("SELECT memory.unmerge_entity(%s)", (ids["robert"],))
    after = {
        "links": alice.execute(
            "SELECT memory_id, entity_id, role FROM memory.memory_entities ORDER BY 1, 2"
        ).fetchall(),
        "facts": alice.execute(
            "SELECT id, subject_id, object_id, expired_at FROM memory.entity_relations ORDER BY 1"
        ).fetchall(),
        "entities": alice.execute(
            "SELECT id, aliases, interaction_count, merged_into FROM memory.entities ORDER BY 1"
        ).fetchall(),
    }
    assert after == before
    events = alice.execute(
        "SELECT event FROM memory.entity_history_of(%s)", (ids["robert"],)
    ).fetchall()
    assert events == [("ADD",), ("MERGE",), ("UNMERGE",)]


def test_a_merge_that_would_give_two_employers_at_once_is_refused_and_changes_nothing(alice):
    ids = arrange_two_bobs(alice)
    globex, _, _ = upsert(alice, "Globex", "organization")
    fact(alice, ids["bob"], "works_at", globex, valid_from="2021-01-01")
    snapshot = alice.execute("SELECT * FROM memory.entity_relations ORDER BY id").fetchall()
    with pytest.raises(psycopg.errors.ExclusionViolation):
        alice.execute("SELECT memory.merge_entities(%s, %s)", (ids["bob"], ids["robert"]))
    assert alice.execute("SELECT * FROM memory.entity_relations ORDER BY id").fetchall() == snapshot
    assert alice.execute(
        "SELECT merged_into FROM memory.entities WHERE id = %s", (ids["robert"],)
    ).fetchone() == (None,)


def test_the_same_fact_on_both_sides_of_a_merge_is_kept_once(alice):
    ids = arrange_two_bobs(alice)
    fact(alice, ids["bob"], "works_at", ids["acme"], valid_from="2020-01-01")
    details = alice.execute(
        "SELECT memory.merge_entities(%s, %s)", (ids["bob"], ids["robert"])
    ).fetchone()[0]
    assert len(details["retracted_facts"]) == 1
    assert [r[1] for r in timeline(alice, ids["bob"]) if r[0] == "works_at"] == ["Acme"]


# -------------------------------------------------------------------------------- traversal
def test_the_neighbourhood_follows_facts_both_ways_to_the_given_depth_and_stops_at_cycles(alice):
    names = ["A", "B", "C", "D"]
    ids = {n: upsert(alice, n)[0] for n in names}
    for s, o in [("A", "B"), ("B", "C"), ("C", "A"), ("C", "D")]:
        fact(alice, ids[s], "knows", ids[o], valid_from="2020-01-01")

    def reach(depth: int) -> list[tuple[str, int]]:
        return alice.execute(
            "SELECT name, distance FROM memory.entity_neighbourhood(%s, %s) ORDER BY 1",
            (ids["A"], depth),
        ).fetchall()

    assert reach(1) == [("B", 1), ("C", 1)]
    assert reach(2) == [("B", 1), ("C", 1), ("D", 2)]
    assert reach(3) == [("B", 1), ("C", 1), ("D", 2)]


def test_the_neighbourhood_walks_current_facts_unless_asked_for_another_time(alice):
    ada, _, _ = upsert(alice, "Ada")
    acme, _, _ = upsert(alice, "Acme", "organization")
    globex, _, _ = upsert(alice, "Globex", "organization")
    fact(alice, ada, "works_at", acme, valid_from="2020-01-01")
    fact(alice, ada, "works_at", globex, valid_from="2023-01-01")
    now = alice.execute("SELECT name FROM memory.entity_neighbourhood(%s)", (ada,)).fetchall()
    then = alice.execute(
        "SELECT name FROM memory.entity_neighbourhood(%s, as_of => '2021-01-01')", (ada,)
    ).fetchall()
    assert (now, then) == ([("Globex",)], [("Acme",)])


# ----------------------------------------------------------------------------- interactions
def test_interactions_keep_the_entity_counters(alice):
    ada, _, _ = upsert(alice, "Ada")
    first = alice.execute(
        "SELECT memory.record_interaction(%s, 'lunch', '2024-01-01', 'meeting')", (ada,)
    ).fetchone()[0]
    alice.execute("SELECT memory.record_interaction(%s, 'call', '2024-03-01', 'call')", (ada,))
    counters = "SELECT interaction_count, last_interaction_at::date::text FROM memory.entities WHERE id = %s"
    assert alice.execute(counters, (ada,)).fetchone() == (2, "2024-03-01")
    listed = alice.execute(
        "SELECT summary FROM memory.list_interactions('alice', %s)", (ada,)
    ).fetchall()
    assert listed == [("call",), ("lunch",)]
    alice.execute("DELETE FROM memory.interactions WHERE id <> %s", (first,))
    assert alice.execute(counters, (ada,)).fetchone() == (1, "2024-01-01")


def test_interaction_pages_follow_the_cursor(alice):
    ada, _, _ = upsert(alice, "Ada")
    for day in range(1, 8):
        alice.execute(
            "SELECT memory.record_interaction(%s, %s, %s)", (ada, f"day {day}", f"2024-01-0{day}")
        )
    seen: list[str] = []
    cursor: tuple[Any, Any] = (None, None)
    while True:
        page = alice.execute(
            "SELECT summary, occurred_at, id FROM memory.list_interactions('alice', after_occurred_at => %s,"
            " after_id => %s, page_size => 3)",
            cursor,
        ).fetchall()
        if not page:
            break
        seen += [row[0] for row in page]
        cursor = (page[-1][1], page[-1][2])
    assert seen == [f"day {d}" for d in range(7, 0, -1)]


# ----------------------------------------------------------------------------------- search
def test_search_entities_finds_by_partial_name_alias_and_text_with_current_facts(alice):
    ada, _, _ = upsert(alice, "Ada Lovelace", attributes='{"note": "analytical engine programmer"}')
    acme, _, _ = upsert(alice, "Acme", "organization", aliases=["Acme Corporation"])
    upsert(alice, "Grace Hopper")
    fact(alice, ada, "works_at", acme, valid_from="2020-01-01")

    def top(query: str) -> tuple[Any, ...]:
        return alice.execute(
            "SELECT id::text, facts FROM memory.search_entities(%s, NULL, 'alice')", (query,)
        ).fetchone()

    assert top("Ada Lovelaze")[0] == ada
    assert top("who works at acme corporation?")[0] == acme
    assert top("engine programmer")[0] == ada
    assert [f["object"] for f in top("ada lovelace")[1]] == ["Acme"]


def test_the_entity_boost_lifts_memories_about_the_entities_a_query_names(alice):
    query_vector = unit(100)
    # the same similarity to the query; only one is about Ada
    add_memory(alice, "someone went to the museum", with_similarity(query_vector, 0.5, 1))
    about, _ = add_memory(
        alice,
        "went to the museum on Sunday",
        with_similarity(query_vector, 0.5, 2),
        entities='["Ada"]',
    )
    rows = alice.execute(
        "SELECT id::text, entity_boost FROM memory.hybrid_search_memories('Where did Ada go?', %s, 'alice',"
        " entity_weight => 1)",
        (query_vector,),
    ).fetchall()
    assert rows[0] == (about, 1.0)
    plain = alice.execute(
        "SELECT entity_boost FROM memory.hybrid_search_memories('Where did Ada go?', %s, 'alice')",
        (query_vector,),
    ).fetchall()
    assert {r[0] for r in plain} == {0.0}


def test_extracted_names_are_capitalised_spans_without_sentence_openers(alice):
    names = alice.execute(
        "SELECT memory.extract_entity_names('Thanks! I met Caroline and the LGBTQ group in New York City.')"
    ).fetchone()[0]
    assert names == ["Caroline", "LGBTQ", "New York City"]


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("Hey Mel! Good to see you. Thanks Nate, I'm fine.", ["Mel", "Nate"]),
        (
            "Wow John, Harry Potter again? Sometimes I'm tired. Glad I went.",
            ["Harry Potter", "John"],
        ),
        ("I've met I'm sure Ada Lovelace and I'll see Bob.", ["Ada Lovelace", "Bob"]),
        ("So I said hi to Caroline I think", ["Caroline"]),
        ("", []),
    ],
)
def test_greetings_and_the_pronoun_i_are_not_names(alice, text, names):
    assert alice.execute("SELECT memory.extract_entity_names(%s)", (text,)).fetchone()[0] == names


# ------------------------------------------------------------------------ row-level security
def test_another_users_entities_look_like_unknown_ids(alice, bob):
    ada, _, _ = upsert(alice, "Ada")
    acme, _, _ = upsert(alice, "Acme", "organization")
    fact(alice, ada, "works_at", acme, valid_from="2020-01-01")
    alice.execute("SELECT memory.record_interaction(%s, 'call')", (ada,))
    add_memory(alice, "Ada joined Acme", unit(1), entities=f'["{ada}"]')
    bob_memory, _ = add_memory(bob, "Bob's note", unit(2), user="bob")
    for table in [
        "entities",
        "memory_entities",
        "entity_relations",
        "interactions",
        "entity_history",
    ]:
        assert bob.execute(
            f"SELECT count(*) FROM memory.{table} WHERE user_id = 'alice'"
        ).fetchone() == (0,)
    assert bob.execute("SELECT count(*) FROM memory.get_entity(%s)", (ada,)).fetchone() == (0,)
    assert bob.execute(
        "SELECT count(*) FROM memory.entity_neighbourhood(%s, 3)", (ada,)
    ).fetchone() == (0,)
    assert bob.execute(
        "SELECT count(*) FROM memory.entity_facts(%s, include_past => true)", (ada,)
    ).fetchone() == (0,)
    assert bob.execute("SELECT count(*) FROM memory.memories_of_entity(%s)", (ada,)).fetchone() == (
        0,
    )
    assert bob.execute(
        "SELECT count(*) FROM memory.search_entities('Ada', NULL, 'alice')"
    ).fetchone() == (0,)
    for call, args in [
        ("SELECT memory.link_entities(%s, %s)", (bob_memory, f'["{ada}"]')),
        ("SELECT memory.assert_fact(%s, 'knows', value => 'x', valid_from => now())", (ada,)),
        ("SELECT memory.record_interaction(%s, 'hello')", (ada,)),
        ("SELECT memory.merge_entities(%s, %s)", (ada, acme)),
    ]:
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            bob.execute(call, args)
    assert bob.execute("SELECT count(*) FROM memory.delete_entity(%s)", (ada,)).fetchone() == (0,)
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        bob.execute(
            "INSERT INTO memory.memory_entities (memory_id, entity_id, user_id) VALUES (%s, %s, 'bob')",
            (bob_memory, ada),
        )
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        upsert(bob, "Mallory", user="alice")


def test_a_deleted_entity_leaves_listings_and_comes_back(alice):
    ada, _, _ = upsert(alice, "Ada")
    assert alice.execute("SELECT event FROM memory.delete_entity(%s)", (ada,)).fetchone() == (
        "DELETE",
    )
    assert alice.execute("SELECT count(*) FROM memory.list_entities('alice')").fetchone() == (0,)
    assert upsert(alice, "Ada")[1] == "ADD"  # a new Ada: the old one is deleted
    with pytest.raises(psycopg.errors.UniqueViolation):
        alice.execute("SELECT memory.restore_entity(%s)", (ada,))


# -------------------------------------------------------------------------------- bad input
BAD_CALLS = [
    ("SELECT memory.upsert_entity(NULL, 'Ada')", "22004"),
    ("SELECT memory.upsert_entity('alice', NULL)", "22004"),
    ("SELECT memory.upsert_entity('alice', '  ')", "22023"),
    ("SELECT memory.upsert_entity('alice', '!!!')", "22023"),
    ("SELECT memory.upsert_entity('alice', repeat('a', 201))", "22001"),
    ("SELECT memory.upsert_entity('alice', 'Ada', 'robot')", "22023"),
    ("SELECT memory.upsert_entity('alice', 'Ada', NULL)", "22004"),
    ("SELECT memory.upsert_entity('alice', 'Ada', aliases => ARRAY[NULL])", "22004"),
    (
        "SELECT memory.upsert_entity('alice', 'Ada', aliases => array_fill('x'::text, ARRAY[51]))",
        "22023",
    ),
    ("SELECT memory.upsert_entity('alice', 'Ada', attributes => '[1]')", "22023"),
    ("SELECT memory.upsert_entity('alice', 'Ada', contact => 'null')", "22023"),
    ("SELECT memory.upsert_entity('alice', 'Ada', importance => 1.5)", "22023"),
    ("SELECT memory.upsert_entity('alice', 'Ada', importance => 'NaN')", "22023"),
    ("SELECT memory.upsert_entity('alice', 'Ada', embedding => '[1,2,3]')", "22023"),
    (
        "SELECT memory.upsert_entity('alice', 'Acme', 'organization', person_type => 'friend')",
        "22023",
    ),
    ("SELECT memory.link_entities(NULL, '[]')", "22004"),
    ("SELECT memory.link_entities(gen_random_uuid(), '[]')", "22023"),
    ("SELECT memory.assert_fact(NULL, 'works_at', value => 'x', valid_from => now())", "22004"),
    (
        "SELECT memory.assert_fact(gen_random_uuid(), 'works_at', value => 'x', valid_from => now())",
        "22023",
    ),
    ("SELECT memory.entity_neighbourhood(gen_random_uuid(), 4)", "22023"),
    ("SELECT memory.entity_neighbourhood(gen_random_uuid(), 0)", "22023"),
    ("SELECT memory.entity_neighbourhood(NULL)", "22004"),
    ("SELECT memory.merge_entities(NULL, gen_random_uuid())", "22004"),
    ("SELECT memory.merge_entities(gen_random_uuid(), gen_random_uuid())", "22023"),
    ("SELECT memory.unmerge_entity(gen_random_uuid())", "22023"),
    ("SELECT memory.record_interaction(gen_random_uuid(), 'x')", "22023"),
    ("SELECT memory.list_entities('alice', order_by => 'name')", "22023"),
    ("SELECT memory.list_entities('alice', type_filter => 'robot')", "22023"),
    ("SELECT memory.list_entities('alice', page_size => 0)", "22023"),
    ("SELECT memory.list_interactions('alice', after_id => gen_random_uuid())", "22023"),
    ("SELECT memory.search_entities(NULL, NULL, 'alice')", "22004"),
    ("SELECT memory.search_entities('x', NULL, NULL)", "22004"),
    ("SELECT memory.search_entities('x', NULL, 'alice', match_count => -1)", "22023"),
    (
        "SELECT * FROM memory.hybrid_search_memories('x', %(v)s, 'alice', entity_weight => -1)",
        "22023",
    ),
]


@pytest.mark.parametrize(("statement", "sqlstate"), BAD_CALLS)
def test_bad_input_gets_a_documented_sqlstate(alice, statement: str, sqlstate: str):
    with pytest.raises(psycopg.Error) as caught:
        alice.execute(statement, {"v": unit(1)})
    assert caught.value.sqlstate == sqlstate, caught.value


BAD_FACTS = [
    ({"o": None, "value": None}, "22023"),  # neither object nor value
    ({"value": "x", "relation": "eats"}, "22023"),  # unknown relation
    ({"value": "x", "valid_from": None}, "22023"),  # no start, no source
    ({"value": "x", "valid_to": "2019-01-01"}, "22023"),  # ends before it starts
    ({"value": "x", "valid_from": "infinity"}, "22023"),
    ({"value": " "}, "22023"),
    ({"value": "x", "source_memory_id": "00000000-0000-0000-0000-000000000000"}, "22023"),
    ({"self": True}, "22023"),  # object is the subject
]


@pytest.mark.parametrize(("change", "sqlstate"), BAD_FACTS)
def test_bad_facts_are_refused_and_write_nothing(alice, change: dict[str, Any], sqlstate: str):
    ada, _, _ = upsert(alice, "Ada")
    arguments: dict[str, Any] = {
        "s": ada,
        "relation": "lives_in",
        "o": None,
        "value": None,
        "valid_from": "2020-01-01",
        "valid_to": None,
        "source_memory_id": None,
    }
    arguments.update(change)
    if arguments.pop("self", False):
        arguments["o"] = ada
    with pytest.raises(psycopg.Error) as caught:
        alice.execute(
            "SELECT memory.assert_fact(%(s)s, %(relation)s, %(o)s, %(value)s, valid_from => %(valid_from)s,"
            " valid_to => %(valid_to)s, source_memory_id => %(source_memory_id)s)",
            arguments,
        )
    assert caught.value.sqlstate == sqlstate
    assert alice.execute("SELECT count(*) FROM memory.entity_relations").fetchone() == (0,)


BAD_ENTITY_LISTS = [
    '{"name": "x"}',
    "[1]",
    '[{"name": "x", "colour": "red"}]',
    '[{"id": "nope"}]',
    '[{"name": "x", "role": "Speaker!"}]',
    '[{"id": "%s", "name": "x"}]',
    "[{}]",
    '[{"name": "x", "aliases": "y"}]',
    '[{"name": 3}]',
]


@pytest.mark.parametrize("entities", BAD_ENTITY_LISTS)
def test_bad_entity_lists_are_refused_and_write_nothing(alice, admin, entities: str):
    memory_id, _ = add_memory(alice, "a note", unit(1))
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        alice.execute(
            "SELECT memory.link_entities(%s, %s)", (memory_id, entities.replace("%s", memory_id))
        )
    assert admin.execute(
        "SELECT (SELECT count(*) FROM memory.entities), (SELECT count(*) FROM memory.memory_entities)"
    ).fetchone() == (0, 0)


NO_NUL = st.characters(
    exclude_characters="\x00", exclude_categories=("Cs",)
)  # psycopg refuses NUL and lone surrogates before sending
DOCUMENTED = {"22004", "22001", "22023", "23503", "40001", "PGRST"}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.text(NO_NUL, max_size=40),
    aliases=st.lists(st.text(NO_NUL, max_size=12), max_size=4),
    entity_type=st.sampled_from(["person", "place", "other", "robot", ""]),
)
def test_any_name_is_resolved_or_refused_with_a_documented_code(alice, name, aliases, entity_type):
    before = alice.execute("SELECT count(*) FROM memory.entities").fetchone()[0]
    try:
        _, event, _ = upsert(alice, name, entity_type, aliases=aliases)
    except psycopg.Error as exc:
        assert exc.sqlstate in DOCUMENTED, (name, aliases, exc)
        assert alice.execute("SELECT count(*) FROM memory.entities").fetchone()[0] == before
        return
    assert event in {"ADD", "MATCH"}
    assert alice.execute(
        "SELECT normalized_name <> '' FROM memory.entities ORDER BY updated_at DESC LIMIT 1"
    ).fetchone() == (True,)


# ---------------------------------------------------------------------------------- indexes
def test_the_seed_listings_are_served_by_their_indexes(alice, admin):
    admin.execute(
        "INSERT INTO memory.entities (user_id, entity_type, name, importance)"
        " SELECT 'u' || (i % 50), (ARRAY['person', 'organization', 'project', 'place', 'other'])[1 + i % 5],"
        "        'entity ' || i, (i % 100) / 100.0 FROM generate_series(1, 20000) AS i"
    )
    admin.execute(
        "INSERT INTO memory.interactions (user_id, entity_id, summary, occurred_at)"
        " SELECT e.user_id, e.id, 'x', now() - (g || ' hours')::interval"
        " FROM memory.entities e, generate_series(1, 3) g"
    )
    admin.execute("ANALYZE memory.entities, memory.interactions")
    plans = {
        "entities_live_name_unique": "SELECT id FROM memory.entities WHERE user_id = 'u1' AND entity_type = 'person'"
        " AND NOT is_deleted AND merged_into IS NULL",
        "entities_user_importance": "SELECT id FROM memory.entities WHERE user_id = 'u1' AND NOT is_deleted"
        " AND merged_into IS NULL ORDER BY importance DESC, id DESC LIMIT 20",
        "entities_user_created": "SELECT id FROM memory.entities WHERE user_id = 'u1' AND NOT is_deleted"
        " AND merged_into IS NULL ORDER BY created_at DESC, id DESC LIMIT 20",
        "interactions_user_occurred": "SELECT id FROM memory.interactions WHERE user_id = 'u1'"
        " ORDER BY occurred_at DESC, id DESC LIMIT 20",
    }
    for index, query in plans.items():
        plan = "\n".join(r[0] for r in admin.execute("EXPLAIN " + query).fetchall())
        assert index in plan, (index, plan)
