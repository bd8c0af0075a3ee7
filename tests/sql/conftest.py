"""Fixtures for the SQL tests: application users and sessions acting as them."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import psycopg
import pytest

from helpers import Database
from vectors import connect_as, owner


@dataclass(frozen=True)
class People:
    a: uuid.UUID
    b: uuid.UUID
    c: uuid.UUID


@pytest.fixture
def people(db: Database) -> People:
    """Three application users, A, B and C, created by the owner."""
    ids = People(uuid.uuid4(), uuid.uuid4(), uuid.uuid4())
    with owner(db.url) as conn:
        for name, user_id in (("a", ids.a), ("b", ids.b), ("c", ids.c)):
            conn.execute(
                "INSERT INTO app.users (id, email, display_name) VALUES (%s, %s, %s)",
                (user_id, f"{name}@example.com", name.upper()),
            )
    return ids


@pytest.fixture
def session_as(db: Database) -> Iterator[Callable[..., psycopg.Connection]]:
    """session_as(user_id, role='authenticated'): a session acting as that user, closed afterwards."""
    opened: list[psycopg.Connection] = []

    def open_session(
        user_id: uuid.UUID | str | None, role: str = "authenticated"
    ) -> psycopg.Connection:
        conn = connect_as(db.url, None if user_id is None else str(user_id), role=role)
        opened.append(conn)
        return conn

    yield open_session
    for conn in opened:
        conn.close()


@pytest.fixture
def admin(db: Database) -> Iterator[psycopg.Connection]:
    with owner(db.url) as conn:
        yield conn


@pytest.fixture
def alice(db: Database) -> Iterator[psycopg.Connection]:
    """A session acting as the application user "alice" (identity set per transaction)."""
    with connect_as(db.url, "alice") as conn:
        yield conn
