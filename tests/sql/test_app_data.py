"""Users, preferences, API usage and chat."""

from __future__ import annotations

import threading

import psycopg
import pytest


def test_emails_are_unique_regardless_of_case(admin, people):
    with pytest.raises(psycopg.errors.UniqueViolation):
        admin.execute("INSERT INTO app.users (email) VALUES ('A@Example.COM')")


@pytest.mark.parametrize(
    ("column", "value", "sqlstate"),
    [
        ("email", "not-an-email", "23514"),
        ("email", None, "23502"),
        ("auth_provider", "Google OAuth", "23514"),
        ("profile", "[]", "23514"),
        ("preferences", '"dark"', "23514"),
        ("display_name", "", "23514"),
    ],
)
def test_user_checks(admin, column, value, sqlstate):
    with pytest.raises(psycopg.Error) as caught:
        admin.execute(
            f"INSERT INTO app.users (email, {column}) VALUES ('x@example.com', %s)"
            if column != "email"
            else "INSERT INTO app.users (email) VALUES (%s)",
            (value,),
        )
    assert caught.value.sqlstate == sqlstate


def test_preferences_are_deep_merged_over_the_defaults(people, session_as):
    a = session_as(people.a)
    a.execute(
        'UPDATE app.users SET preferences = \'{"theme": "dark", "travel": {"seat": "window"}}\''
        " WHERE id = %s",
        (people.a,),
    )
    preferences = a.execute("SELECT app.user_preferences(%s)", (people.a,)).fetchone()[0]
    assert preferences["theme"] == "dark" and preferences["currency"] == "USD"
    assert preferences["travel"] == {
        "seat": "window",
        "cabin_class": "economy",
        "budget_level": "moderate",
        "dietary": [],
        "accessibility": [],
    }


def test_preferences_of_someone_else_are_not_found(people, session_as):
    with pytest.raises(psycopg.errors.NoDataFound):
        session_as(people.b).execute("SELECT app.user_preferences(%s)", (people.a,))
    with pytest.raises(psycopg.errors.NullValueNotAllowed):
        session_as(people.b).execute("SELECT app.user_preferences(NULL)")


def test_api_usage_accumulates_per_day_even_under_concurrency(db, people, session_as):
    def record() -> None:
        with psycopg.connect(db.url, autocommit=True) as conn:
            conn.execute(
                "SELECT set_config('role', 'authenticated', false), set_config('app.user_id', %s, false)",
                (str(people.a),),
            )
            for _ in range(20):
                conn.execute(
                    "SELECT app.record_api_usage(%s, 'openai', 1, 100, 0.001)", (people.a,)
                )

    threads = [threading.Thread(target=record) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    row = (
        session_as(people.a).execute("SELECT requests, tokens, cost FROM app.api_usage").fetchone()
    )
    assert (row[0], row[1], float(row[2])) == (80, 8000, pytest.approx(0.08))


@pytest.mark.parametrize(
    ("args", "sqlstate"),
    [
        ("%(a)s, 'openai', -1", "22023"),
        ("%(a)s, 'openai', 1, -5", "22023"),
        ("%(a)s, 'openai', 1, 1, -0.1", "22023"),
        ("NULL, 'openai'", "22004"),
        ("%(a)s, NULL", "22004"),
        ("%(a)s, 'Not A Provider'", "23514"),
        ("%(b)s, 'openai'", "42501"),
    ],
)
def test_record_api_usage_refuses_bad_input(people, session_as, args, sqlstate):
    with pytest.raises(psycopg.Error) as caught:
        session_as(people.a).execute(
            f"SELECT app.record_api_usage({args})", {"a": people.a, "b": people.b}
        )
    assert caught.value.sqlstate == sqlstate


def test_chat_sessions_count_their_messages_and_page_newest_first(people, session_as):
    a = session_as(people.a)
    session = a.execute(
        "INSERT INTO app.chat_sessions (user_id, title) VALUES (%s, 'plan') RETURNING id",
        (people.a,),
    ).fetchone()[0]
    for i in range(7):
        a.execute(
            "INSERT INTO app.chat_messages (session_id, role, content, tool_calls) VALUES (%s, %s, %s, %s)",
            (
                session,
                "user" if i % 2 == 0 else "assistant",
                f"message {i}",
                None if i != 3 else '[{"name": "search"}]',
            ),
        )
    assert a.execute("SELECT message_count FROM app.chat_sessions").fetchone() == (7,)
    pages, before = [], None
    while True:
        rows = a.execute(
            "SELECT id, content FROM app.list_chat_messages(%s, %s, 3)", (session, before)
        ).fetchall()
        if not rows:
            break
        pages.append([content for _id, content in rows])
        before = rows[-1][0]
    assert pages == [
        ["message 6", "message 5", "message 4"],
        ["message 3", "message 2", "message 1"],
        ["message 0"],
    ]
    a.execute("DELETE FROM app.chat_messages WHERE content = 'message 0'")
    assert a.execute("SELECT message_count FROM app.chat_sessions").fetchone() == (6,)


@pytest.mark.parametrize(
    ("column", "value"), [("role", "robot"), ("metadata", "[]"), ("tool_calls", "{}")]
)
def test_chat_message_checks(people, session_as, column, value):
    a = session_as(people.a)
    session = a.execute(
        "INSERT INTO app.chat_sessions (user_id) VALUES (%s) RETURNING id", (people.a,)
    ).fetchone()[0]
    values = {"role": "user", "metadata": "{}", "tool_calls": None, column: value}
    with pytest.raises(psycopg.errors.CheckViolation):
        a.execute(
            "INSERT INTO app.chat_messages (session_id, role, content, metadata, tool_calls)"
            " VALUES (%s, %s, 'x', %s, %s)",
            (session, values["role"], values["metadata"], values["tool_calls"]),
        )


def test_page_size_is_checked(people, session_as):
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        session_as(people.a).execute(
            "SELECT * FROM app.list_chat_messages(gen_random_uuid(), NULL, 0)"
        )
