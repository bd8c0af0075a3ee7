"""Entities named in text (0019, 0020): one entity lock per user (no deadlock between calls that
name entities of several types, no second entity for a name whose entity is being added or
merged), extraction of names from text, and the repair of entities older extraction made of
grammar (memory.repair_mention_entities)."""

from __future__ import annotations

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


def test_a_bare_name_links_the_typed_entity_and_its_name_before_an_alias(alice):
    person = upsert(alice, "Mel", "person")
    upsert(alice, "Mel", "other")
    alice.execute(
        "SELECT memory.upsert_entity('alice', 'Melanie', 'person', aliases => '{Mel}', importance => 0.9)"
    )
    memory_id, _ = add_memory(alice, "Mel painted a lake", unit(5))
    assert link(alice, memory_id, '["mel"]') == [(person, "LINK")]
    assert link(alice, memory_id, '["Mel"]') == [(person, "NOOP")]


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
        ("Good Morning!", []),
        (
            "Great Britain voted. Good Will Hunting is a film.",
            ["Good Will Hunting", "Great Britain"],
        ),
        ("He read about World War I today, and Part I of it.", ["Part I", "World War I"]),
        ("Caroline: Hey Mel, how are you?", ["Mel"]),
        ("we spoke\nThanks Nate, see you", ["Nate"]),
        ("Met Ada\nLovelace later", ["Met Ada"]),
        ("Thank You Caroline", ["Caroline"]),
        ("So I told Caroline I would come", ["Caroline"]),
        ("an ex-Google engineer", ["Google"]),
    ],
)
def test_extraction_drops_greetings_keeps_names_that_start_like_one(alice, text, names):
    assert alice.execute("SELECT memory.extract_entity_names(%s)", (text,)).fetchone()[0] == names


OPENERS = ["Hey", "Hi", "Thanks", "Oh", "Wow", "Good Morning", "Happy Birthday", "So", "Well"]
NAMES = ["Caroline", "Mel", "New York", "Acme Corp", "Great Britain", "World War I"]
WORDS = ["went", "to", "the", "park", "I", "I'm", "I've", "and", "saw", "it"]
PRONOUNS = {"I", "I'm", "I've"}


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["", *OPENERS]),
            st.lists(st.sampled_from(NAMES + WORDS), min_size=1, max_size=6),
            st.sampled_from([". ", "! ", "? ", ", ", ": ", "\n", " "]),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_extracted_names_are_in_the_text_and_never_a_greeting_or_the_pronoun(alice, sentences):
    text = "".join(
        " ".join(filter(None, [opener, *words])) + end for opener, words, end in sentences
    )
    names = alice.execute("SELECT memory.extract_entity_names(%s)", (text,)).fetchone()[0]
    for name in names:
        assert name in text
        words = name.split()
        for before, word in zip(["", *words[:-1]], words, strict=True):
            assert word not in PRONOUNS or (word == "I" and before == "War"), (text, name)
        assert name not in OPENERS and words[0] not in {"Hey", "Hi", "Thanks", "Oh", "Wow"}, (
            text,
            name,
        )
    assert names == sorted(set(names))
    # a name that follows a lower-case word is found whole, greetings or not before the sentence
    for _, words, _ in sentences:
        for before, word in pairwise(words):
            if (
                before in WORDS
                and before not in PRONOUNS
                and word in NAMES
                and word != "Great Britain"
            ):
                assert word in names or any(word in n for n in names), (text, word, names)


# ------------------------------------------------------------------------------------- repair
def junk(admin: psycopg.Connection, name: str, memory_id: str) -> str:
    row = admin.execute(
        "INSERT INTO memory.entities (user_id, entity_type, name) VALUES ('alice', 'other', %s) RETURNING id::text",
        (name,),
    ).fetchone()
    assert row is not None
    admin.execute(
        "INSERT INTO memory.memory_entities (memory_id, entity_id, user_id) VALUES (%s, %s, 'alice')",
        (memory_id, row[0]),
    )
    return row[0]


def test_repair_relinks_greeted_names_deletes_the_pronoun_and_skips_what_was_written_to(
    db: Database, alice
):
    with owner(db.url) as admin:
        first, _ = add_memory(alice, "Hey John, I'm home", unit(7))
        second, _ = add_memory(alice, "Thanks Nate", unit(8))
        john = upsert(alice, "John", "person")
        hey_john = junk(admin, "Hey John", first)
        im = junk(admin, "I'm", first)
        thanks_nate = junk(admin, "Thanks Nate", second)
        kept = junk(admin, "Good Will Hunting", second)
        written = junk(admin, "Hello Ada", second)
        alice.execute(
            "SELECT memory.assert_fact(%s, 'knows', %s, valid_from => '2024-01-01')",
            (written, john),
        )
        before = admin.execute("SELECT count(*) FROM memory.memory_entities").fetchone()

        plan = alice.execute(
            "SELECT name, action, names FROM memory.repair_mention_entities('alice') ORDER BY name"
        ).fetchall()
        assert plan == [
            ("Hello Ada", "SKIP", ["Ada"]),
            ("Hey John", "RELINK", ["John"]),
            ("I'm", "DELETE", []),
            ("Thanks Nate", "RELINK", ["Nate"]),
        ]
        assert admin.execute("SELECT count(*) FROM memory.memory_entities").fetchone() == before

        done = alice.execute(
            "SELECT entity_id::text, action, into_ids::text[] FROM memory.repair_mention_entities('alice', false)"
        ).fetchall()
        nate = admin.execute("SELECT id::text FROM memory.entities WHERE name = 'Nate'").fetchone()
        assert nate is not None
        assert sorted(done) == sorted(
            [
                (hey_john, "RELINK", [john]),
                (im, "DELETE", []),
                (thanks_nate, "RELINK", [nate[0]]),
                (written, "SKIP", []),
            ]
        )
        assert linked_names(admin, first) == [("I'm", "other"), ("John", "person")]
        assert linked_names(admin, second) == [
            ("Good Will Hunting", "other"),
            ("Hello Ada", "other"),
            ("Nate", "other"),
        ]
        deleted = admin.execute(
            "SELECT id::text FROM memory.entities WHERE is_deleted ORDER BY name"
        ).fetchall()
        assert deleted == [(hey_john,), (im,), (thanks_nate,)]
        assert kept not in {d[0] for d in deleted}
        # a second run finds nothing left to do but the entity a person wrote to
        again = alice.execute(
            "SELECT entity_id::text, action FROM memory.repair_mention_entities('alice', false)"
        )
        assert again.fetchall() == [(written, "SKIP")]


def test_repair_reaches_only_the_callers_entities(db: Database, alice):
    with owner(db.url) as admin, connect_as(db.url, "bob") as bob:
        memory_id, _ = add_memory(alice, "Hey John", unit(9))
        junk(admin, "Hey John", memory_id)
        assert (
            bob.execute("SELECT * FROM memory.repair_mention_entities('alice', false)").fetchall()
            == []
        )
        assert admin.execute(
            "SELECT count(*) FROM memory.entities WHERE is_deleted"
        ).fetchone() == (0,)


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
