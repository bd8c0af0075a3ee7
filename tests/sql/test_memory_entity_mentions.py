"""Entities named in text (0019, 0020): one entity lock per user (no deadlock between calls that
name entities of several types, no second entity for a name whose entity is being added or
merged), extraction of names from text, and the repair of entities older extraction made of
grammar (memory.repair_mention_entities)."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from itertools import pairwise
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import Database, wait_until_blocked_on_advisory_locks
from vectors import add_memory, connect_as, owner, unit


def upsert(conn: psycopg.Connection, name: str, entity_type: str = "person") -> str:
    row = conn.execute(
        "SELECT id::text FROM memory.upsert_entity('alice', %s, %s)", (name, entity_type)
    ).fetchone()
    assert row is not None
    return row[0]


def link(conn: psycopg.Connection, memory_id: str, entities: str) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT entity_id::text, event FROM memory.link_entities(%s, %s)", (memory_id, entities)
    ).fetchall()


def linked_names(conn: psycopg.Connection, memory_id: str) -> list[tuple[str, str]]:
    return conn.execute(
        "SELECT e.name, e.entity_type FROM memory.memory_entities me"
        " JOIN memory.entities e ON e.id = me.entity_id WHERE me.memory_id = %s ORDER BY 1",
        (memory_id,),
    ).fetchall()


def in_background(
    work: Callable[[], Any],
) -> tuple[threading.Thread, list[Any], list[BaseException]]:
    results: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(work())
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, results, errors


# ----------------------------------------------------------------------------- one lock a user
def test_two_calls_naming_entities_of_two_types_in_opposite_orders_do_not_deadlock(db: Database):
    with (
        connect_as(db.url, "alice") as first,
        connect_as(db.url, "alice") as second,
        owner(db.url) as admin,
    ):
        one, _ = add_memory(first, "Ada joined Acme", unit(1))
        two, _ = add_memory(first, "Acme hired Ada", unit(2))
        first.execute("BEGIN")
        first.execute(
            "SELECT set_config('role', 'authenticated', true), set_config('app.user_id', 'alice', true)"
        )
        link(first, one, '[{"name": "Ada", "type": "person"}]')
        # the second call names the organisation first, then the person the first call holds
        thread, results, errors = in_background(
            lambda: link(
                second,
                two,
                '[{"name": "Acme", "type": "organization"}, {"name": "Ada", "type": "person"}]',
            )
        )
        wait_until_blocked_on_advisory_locks(admin, [second.info.backend_pid], errors)
        link(first, one, '[{"name": "Acme", "type": "organization"}]')  # was a deadlock (40P01)
        first.execute("COMMIT")
        thread.join(timeout=60)
        assert not errors, errors
        assert [event for _, event in results[0]] == ["LINK", "LINK"]
        assert (
            linked_names(admin, one)
            == linked_names(admin, two)
            == [
                ("Acme", "organization"),
                ("Ada", "person"),
            ]
        )
        assert admin.execute("SELECT count(*) FROM memory.entities").fetchone() == (2,)


def test_a_bare_name_waits_for_the_person_being_added_and_links_her(db: Database):
    with (
        connect_as(db.url, "alice") as adder,
        connect_as(db.url, "alice") as linker,
        owner(db.url) as admin,
    ):
        memory_id, _ = add_memory(linker, "Hey Caroline, how was the parade?", unit(3))
        adder.execute("BEGIN")
        adder.execute(
            "SELECT set_config('role', 'authenticated', true), set_config('app.user_id', 'alice', true)"
        )
        caroline = upsert(adder, "Caroline", "person")
        thread, results, errors = in_background(lambda: link(linker, memory_id, '["Caroline"]'))
        wait_until_blocked_on_advisory_locks(admin, [linker.info.backend_pid], errors)
        adder.execute("COMMIT")
        thread.join(timeout=60)
        assert not errors, errors
        assert results[0] == [(caroline, "LINK")]  # before 0020: a second Caroline of type other
        assert admin.execute("SELECT count(*) FROM memory.entities").fetchone() == (1,)


def test_a_bare_name_waits_for_a_merge_and_links_the_entity_it_went_into(db: Database):
    with (
        connect_as(db.url, "alice") as merger,
        connect_as(db.url, "alice") as linker,
        owner(db.url) as admin,
    ):
        mention = upsert(merger, "Caroline", "other")
        person = upsert(merger, "Caroline Smith", "person")
        memory_id, _ = add_memory(linker, "Caroline called", unit(4))
        merger.execute("BEGIN")
        merger.execute(
            "SELECT set_config('role', 'authenticated', true), set_config('app.user_id', 'alice', true)"
        )
        merger.execute("SELECT memory.merge_entities(%s, %s)", (person, mention))
        thread, results, errors = in_background(lambda: link(linker, memory_id, '["Caroline"]'))
        wait_until_blocked_on_advisory_locks(admin, [linker.info.backend_pid], errors)
        merger.execute("COMMIT")
        thread.join(timeout=60)
        assert not errors, errors
        assert results[0] == [(person, "LINK")]  # before 0020: a new Caroline of type other
        assert admin.execute("SELECT count(*) FROM memory.entities").fetchone() == (2,)


def begin_as_alice(conn: psycopg.Connection) -> None:
    conn.execute("BEGIN")
    conn.execute(
        "SELECT set_config('role', 'authenticated', true), set_config('app.user_id', 'alice', true)"
    )


@pytest.mark.parametrize(
    "first_step",
    [
        "SELECT * FROM memory.link_entities(%(m1)s, jsonb_build_array(%(e)s::text))",  # a link by id
        "SELECT memory.record_interaction(%(e)s, 'call')",
        "SELECT memory.assert_fact(%(e)s, 'likes', value => 'jazz', valid_from => '2024-01-01')",
        "SELECT * FROM memory.delete_entity(%(f)s)",
    ],
    ids=["link-by-id", "interaction", "fact", "delete"],
)
def test_a_writer_that_locks_an_entity_row_then_resolves_a_name_does_not_deadlock_with_a_merge(
    db: Database, first_step: str
):
    with (
        connect_as(db.url, "alice") as first,
        connect_as(db.url, "alice") as merger,
        owner(db.url) as admin,
    ):
        caroline = upsert(first, "Caroline", "person")
        caro = upsert(first, "Caro", "other")
        spare = upsert(first, "Spare", "other")
        m1, _ = add_memory(first, "Caroline called", unit(11))
        m2, _ = add_memory(first, "Mel called", unit(12))
        begin_as_alice(first)
        first.execute(
            first_step, {"m1": m1, "e": caroline, "f": spare}
        )  # before 0020: a row lock only
        thread, _, errors = in_background(
            lambda: merger.execute(
                "SELECT memory.merge_entities(%s, %s)", (caroline, caro)
            ).fetchall()
        )
        wait_until_blocked_on_advisory_locks(admin, [merger.info.backend_pid], errors)
        link(first, m2, '["Mel"]')  # was 40P01 against the merge waiting for the row
        first.execute("COMMIT")
        thread.join(timeout=60)
        assert not errors, errors
        assert admin.execute(
            "SELECT merged_into::text FROM memory.entities WHERE id = %s", (caro,)
        ).fetchone() == (caroline,)


def test_an_upsert_then_a_memory_does_not_deadlock_with_a_memory_that_links_names(db: Database):
    with (
        connect_as(db.url, "alice") as first,
        connect_as(db.url, "alice") as second,
        owner(db.url) as admin,
    ):
        begin_as_alice(first)
        upsert(first, "Acme", "organization")
        thread, results, errors = in_background(
            lambda: add_memory(second, "Mel likes jazz", unit(13), entities='["Mel"]')
        )
        wait_until_blocked_on_advisory_locks(admin, [second.info.backend_pid], errors)
        add_memory(
            first, "Acme hired Bob", unit(14)
        )  # the scope lock: was 40P01 for the other call
        first.execute("COMMIT")
        thread.join(timeout=60)
        assert not errors, errors
        assert results[0][1] == "ADD"
        assert admin.execute("SELECT count(*) FROM memory.memory_entities").fetchone() == (1,)


def test_a_bare_name_takes_0019s_type_then_the_name_before_an_alias(db: Database, alice):
    melanie, event, _ = alice.execute(
        "SELECT id::text, event, matched_by FROM memory.upsert_entity('alice', 'Melanie', 'person',"
        " aliases => '{Mel}', importance => 0.9)"
    ).fetchone()
    assert event == "ADD"
    band = upsert(alice, "Mel", "organization")
    with owner(db.url) as admin:  # a second person whose name is Mel (upsert would match Melanie)
        person_mel = admin.execute(
            "INSERT INTO memory.entities (user_id, entity_type, name) VALUES ('alice', 'person', 'Mel')"
            " RETURNING id::text"
        ).fetchone()[0]
    memory_id, _ = add_memory(alice, "Mel painted a lake", unit(5))
    # the type: person (typed, and Melanie is the most important); within it the name before an alias
    assert link(alice, memory_id, '["mel"]') == [(person_mel, "LINK")]
    resolved = alice.execute(
        "SELECT id::text FROM memory.upsert_entity('alice', 'Mel', 'person')"
    ).fetchone()
    assert resolved == (person_mel,)  # what upsert_entity finds in that type
    assert melanie != band != person_mel


def test_a_bare_name_with_aliases_teaches_the_entity_found(alice):
    person = upsert(alice, "Mel", "person")
    memory_id, _ = add_memory(alice, "Mel painted a lake", unit(6))
    assert link(alice, memory_id, '[{"name": "Mel", "aliases": ["Melanie"]}]') == [(person, "LINK")]
    aliases = alice.execute(
        "SELECT aliases FROM memory.entities WHERE id = %s", (person,)
    ).fetchone()
    assert aliases == (["Melanie"],)


# ---------------------------------------------------------------------------------- extraction
@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("Hey Good Morning John", ["John"]),
        ("Oh Hey John! Happy Birthday Mel.", ["John", "Mel"]),
        ("Good Morning", []),
        ("Happy Thanksgiving!", []),
        ("Happy Easter Caroline", ["Caroline"]),
        (
            "Great Britain voted. Good Will Hunting is a film.",
            ["Good Will Hunting", "Great Britain"],
        ),
        ("Awesome Caroline! Great Caroline, thanks", ["Caroline"]),
        ("He read about World War I today, and Part I of it.", ["Part I", "World War I"]),
        ("After Class I went home", ["After Class"]),
        ("Caroline: Hey Mel, how are you?", ["Mel"]),
        ("we spoke\nThanks Nate, see you", ["Nate"]),
        ("Thank You Caroline", ["Caroline"]),
        ("So I told Caroline I would come", ["Caroline"]),
        ("so, Hey John", ["John"]),
        ("an ex-Google engineer", ["Google"]),
        # greeting-like words inside a sentence are part of the name
        ("I bought a Hello Kitty bag", ["Hello Kitty"]),
        ("We watched Good Morning America", ["Good Morning America"]),
        ("I love No Doubt and met Oh Yeon-seo", ["No Doubt", "Oh Yeon-seo"]),
        # a colon or a new line opens a clause, not a sentence: single names stay
        ("Attendees: Caroline", ["Caroline"]),
        ("Guests: Ada, Bob and Carol", ["Ada", "Bob", "Carol"]),
        ("Team:\nAda\nBob", ["Ada", "Bob"]),
    ],
)
def test_extraction_drops_greetings_keeps_names_that_start_like_one(alice, text, names):
    assert alice.execute("SELECT memory.extract_entity_names(%s)", (text,)).fetchone()[0] == names


GREETINGS = ["Hey", "Hi", "Thanks", "Oh", "Wow", "Good Morning", "Happy Birthday", "So", "Well"]
NAMES = [
    "Caroline",
    "Mel",
    "New York",
    "Acme Corp",
    "Great Britain",
    "World War I",
    "Hello Kitty",
    "Oh Yeon-seo",
]
WORDS = ["went", "to", "the", "park", "I", "I'm", "I've", "and", "saw", "it"]
PRONOUNS = {"I", "I'm", "I've"}


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["", *GREETINGS]),
            st.lists(st.sampled_from(NAMES + WORDS), min_size=1, max_size=6),
            st.sampled_from([". ", "! ", "? ", ", ", ": ", "\n", " "]),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_extracted_names_are_in_the_text_and_never_a_greeting_or_the_pronoun(alice, sentences):
    text = "".join(
        " ".join(filter(None, [greeting, *words])) + end for greeting, words, end in sentences
    )
    names = alice.execute("SELECT memory.extract_entity_names(%s)", (text,)).fetchone()[0]
    for name in names:
        assert name in text
        words = name.split()
        for before, word in zip(["", *words[:-1]], words, strict=True):
            assert word not in PRONOUNS or (word == "I" and before == "War"), (text, name)
        # a greeting is a name only where a sentence does not open with it ("went Hey went",
        # "I Hey went": the pronoun opened that sentence)
        assert name not in GREETINGS or re.search(rf"(?:[a-z']|\bI) {re.escape(name)}\b", text), (
            text,
            name,
        )
    assert names == sorted(set(names))
    # a name after a lower-case word is found whole, even one that begins like a greeting
    for _, words, _ in sentences:
        for before, word in pairwise(words):
            if before in WORDS and before not in PRONOUNS and word in NAMES:
                assert any(word in n for n in names), (text, word, names)


# ------------------------------------------------------------------------------------- repair
def junk(admin: psycopg.Connection, name: str, memory_id: str | None) -> str:
    """An entity as extraction before 0020 made it: type other, nothing but its name."""
    row = admin.execute(
        "INSERT INTO memory.entities (user_id, entity_type, name) VALUES ('alice', 'other', %s) RETURNING id::text",
        (name,),
    ).fetchone()
    assert row is not None
    if memory_id is not None:
        admin.execute(
            "INSERT INTO memory.memory_entities (memory_id, entity_id, user_id) VALUES (%s, %s, 'alice')",
            (memory_id, row[0]),
        )
    return row[0]


def test_repair_merges_greeted_names_deletes_greetings_and_leaves_real_names(db: Database, alice):
    with owner(db.url) as admin:
        first, _ = add_memory(alice, "Hey John, I'm home", unit(7))
        second, _ = add_memory(alice, "Thanks Nate! I bought a Hello Kitty bag", unit(8))
        john = upsert(alice, "John", "person")
        hey_john = junk(admin, "Hey John", first)
        im = junk(admin, "I'm", first)
        thanks_nate = junk(admin, "Thanks Nate", second)
        good_morning = junk(admin, "Good Morning", None)
        unlinked = junk(admin, "Hi Zed", None)
        several = junk(admin, "Ada I'm Bob", second)  # two names in one
        # not candidates: real names, a name someone gave more, facts, stop words, the numeral I
        kept = [
            junk(admin, name, second)
            for name in ["Good Will Hunting", "The Who", "Elizabeth I", "Mel"]
        ]
        hello_kitty = upsert(alice, "Hello Kitty", "other")
        alice.execute(
            "SELECT memory.upsert_entity('alice', 'Hello Kitty', attributes => '{\"kind\": \"brand\"}')"
        )
        written = junk(admin, "Hello Ada", second)
        alice.execute(
            "SELECT memory.assert_fact(%s, 'knows', %s, valid_from => '2024-01-01')",
            (written, john),
        )
        before = admin.execute(
            "SELECT count(*), count(*) FILTER (WHERE is_deleted) FROM memory.entities"
        ).fetchone()

        plan = alice.execute(
            "SELECT entity_id::text, action, names, into_id::text, links FROM memory.repair_mention_entities('alice')"
        ).fetchall()
        assert sorted(plan) == sorted(
            [
                (hey_john, "MERGE", ["John"], john, 1),
                (im, "DELETE", [], None, 1),
                (thanks_nate, "MERGE", ["Nate"], None, 1),  # None: a new entity Nate
                (good_morning, "DELETE", [], None, 0),
                (unlinked, "DELETE", ["Zed"], None, 0),  # nothing to move: no entity is made
                (several, "SKIP", ["Ada", "Bob"], None, 1),
            ]
        )
        assert (
            admin.execute(
                "SELECT count(*), count(*) FILTER (WHERE is_deleted) FROM memory.entities"
            ).fetchone()
            == before
        )

        done = alice.execute(
            "SELECT entity_id::text, action, into_id::text FROM memory.repair_mention_entities('alice', false)"
        ).fetchall()
        nate = admin.execute("SELECT id::text FROM memory.entities WHERE name = 'Nate'").fetchone()
        assert nate is not None
        assert (thanks_nate, "MERGE", nate[0]) in done and (hey_john, "MERGE", john) in done
        assert linked_names(admin, first) == [("I'm", "other"), ("John", "person")]
        assert ("Nate", "other") in linked_names(admin, second)
        assert ("Thanks Nate", "other") not in linked_names(admin, second)
        states = dict(
            admin.execute(
                "SELECT id::text, CASE WHEN merged_into IS NOT NULL THEN 'merged' WHEN is_deleted THEN 'deleted'"
                " ELSE 'live' END FROM memory.entities"
            ).fetchall()
        )
        assert states[hey_john] == states[thanks_nate] == "merged"
        assert states[im] == states[good_morning] == states[unlinked] == "deleted"
        assert {states[e] for e in [*kept, hello_kitty, written, several, john]} == {"live"}
        # merged, so undone by unmerge_entity: the link goes back
        alice.execute("SELECT memory.unmerge_entity(%s)", (hey_john,))
        assert linked_names(admin, first) == [("Hey John", "other"), ("I'm", "other")]
        # a second run: the unmerged entity has a history now, so only the one left to a person
        again = alice.execute(
            "SELECT entity_id::text, action FROM memory.repair_mention_entities('alice')"
        )
        assert again.fetchall() == [(several, "SKIP")]


def test_repair_of_another_users_entities_is_refused_before_any_lock(db: Database):
    with (
        owner(db.url) as admin,
        connect_as(db.url, "alice") as alice,
        connect_as(db.url, "bob") as bob,
    ):
        memory_id, _ = add_memory(alice, "Hey John", unit(9))
        junk(admin, "Hey John", memory_id)
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="user_id"):
            bob.execute("SELECT * FROM memory.repair_mention_entities('alice', false)")
        assert admin.execute(
            "SELECT count(*) FROM memory.entities WHERE is_deleted OR merged_into IS NOT NULL"
        ).fetchone() == (0,)
        bob.execute("BEGIN")
        bob.execute(
            "SELECT set_config('role', 'authenticated', true), set_config('app.user_id', 'bob', true)"
        )
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            bob.execute("SELECT * FROM memory.repair_mention_entities('alice')")
        # the failed transaction still holds what it locked until its ROLLBACK: nothing
        held = admin.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = %s",
            (bob.info.backend_pid,),
        ).fetchone()
        assert held == (0,)
        bob.execute("ROLLBACK")


@pytest.mark.parametrize(
    ("arguments", "sqlstate", "parameter"),
    [
        ("NULL", "22004", "user_id"),
        ("''", "22023", "user_id"),
        ("'alice', NULL", "22004", "dry_run"),
    ],
)
def test_repair_rejects_bad_arguments_by_name(alice, arguments, sqlstate, parameter):
    with pytest.raises(psycopg.Error) as raised:
        alice.execute(f"SELECT * FROM memory.repair_mention_entities({arguments})")
    assert raised.value.sqlstate == sqlstate
    assert parameter in str(raised.value)
