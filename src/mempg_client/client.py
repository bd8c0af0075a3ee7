"""One connection to mempg that acts for an application user per call, as the product expects.

Every call runs in its own transaction that sets the role (`authenticated`) and `app.user_id`
transaction-locally (`set_config(..., true)`), then calls one of mempg's SQL functions: row-level
security decides what the user sees, and nothing of the identity outlives the call (so the
connection may sit behind pgbouncer in transaction mode). The adapters (Mem0, LangChain, MCP) call
through `Client.call`; they hold no logic of their own beyond mapping arguments.

Identity, in this order:
1. `acting_as(user)`: a context variable, for one request of a multi-user process;
2. `Client(user_id=...)`: the pinned user of this client (one user per process or object);
3. the user id the call itself names (a Mem0 filter's `user_id`, a payload's `user_id`), when
   neither of the above is set.
With an allow-list (`allowed_users`), any other user is refused (SQLSTATE 42501) before SQL runs.
A call with no identity runs with an empty `app.user_id`: every policy then matches no row.
"""

from __future__ import annotations

import contextvars
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row

_ACTING: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "mempg_acting_as", default=None
)


class MempgError(Exception):
    """A refusal from mempg (or from the adapter before SQL ran), with its SQLSTATE."""

    def __init__(self, sqlstate: str, message: str, detail: str | None = None) -> None:
        super().__init__(f"{message} (SQLSTATE {sqlstate})")
        self.sqlstate = sqlstate
        self.message = message
        self.detail = detail

    @classmethod
    def from_psycopg(cls, exc: psycopg.Error) -> MempgError:
        diag = exc.diag
        return cls(exc.sqlstate or "XX000", diag.message_primary or str(exc), diag.message_detail)


class DimensionMismatch(MempgError):
    """An embedder whose dimension is not the installed one (refused at start-up)."""

    def __init__(self, embedder: str, embedder_dim: int, installed_dim: int) -> None:
        super().__init__(
            "22023",
            f"embedder {embedder} gives {embedder_dim}-dimensional embeddings, but this mempg "
            f"database is installed with {installed_dim} (memory.embedding_dim()): use an embedder "
            f"of {installed_dim} dimensions, or install a database with "
            f"`mempg apply --embedding-dim {embedder_dim}`",
        )
        self.embedder_dim = embedder_dim
        self.installed_dim = installed_dim


@contextmanager
def acting_as(user_id: str | None) -> Iterator[None]:
    """Calls inside this block act for `user_id` (per thread / asyncio task)."""
    token = _ACTING.set(user_id)
    try:
        yield
    finally:
        _ACTING.reset(token)


def default_dsn() -> str:
    """DATABASE_URL, else the project's embedded server (started if needed, as `mempg` does)."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    from runner import embedded
    from runner.config import find_project

    return embedded.start(find_project().root).url()


def vector_literal(vector: Sequence[float] | None) -> str | None:
    """pgvector's text form; the SQL functions check dimension and usability (22023)."""
    if vector is None:
        return None
    return "[" + ",".join(repr(float(x)) for x in vector) + "]"


class Client:
    """A connection to mempg acting for one user per call (see the module docstring)."""

    def __init__(
        self,
        dsn: str | None = None,
        *,
        user_id: str | None = None,
        allowed_users: Iterable[str] | None = None,
        role: str = "authenticated",
        connection: psycopg.Connection | None = None,
    ) -> None:
        self.dsn = dsn
        self.user_id = user_id
        self.allowed_users = None if allowed_users is None else frozenset(allowed_users)
        if (
            self.allowed_users is not None
            and user_id is not None
            and user_id not in self.allowed_users
        ):
            raise MempgError("42501", f"user_id {user_id!r} is not in allowed_users")
        self.role = role
        self._conn = connection
        self._lock = threading.RLock()

    # -- connection -------------------------------------------------------------------------
    def connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            # no server-side prepared statements: the pooler (pgbouncer 1.18, transaction mode)
            # does not track them across server connections
            self._conn = psycopg.connect(
                self.dsn or default_dsn(), row_factory=dict_row, prepare_threshold=None
            )
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- identity ---------------------------------------------------------------------------
    def identity(self, named: str | None = None) -> str | None:
        """The user a call acts for: acting_as(), else the pinned user, else `named`."""
        who = _ACTING.get() or self.user_id or named
        if who is not None and self.allowed_users is not None and who not in self.allowed_users:
            raise MempgError(
                "42501", f"user {who!r} is not allowed on this connection (allowed_users)"
            )
        return who

    # -- calls ------------------------------------------------------------------------------
    @contextmanager
    def transaction(self, user: str | None) -> Iterator[psycopg.Cursor[dict[str, Any]]]:
        """One transaction as `role` acting for `user` (transaction-local); yields a cursor."""
        with self._lock:
            conn = self.connection()
            try:
                with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
                    cur.execute(
                        "SELECT set_config('role', %s, true), set_config('app.user_id', %s, true)",
                        (self.role, user or ""),
                    )
                    yield cur
            except psycopg.Error as exc:
                if exc.sqlstate is None:
                    raise
                raise MempgError.from_psycopg(exc) from exc

    def call(
        self, query: str, params: Sequence[Any] | dict[str, Any] = (), *, user: str | None = None
    ) -> list[dict[str, Any]]:
        """Run one statement in its own transaction, as `role` acting for `user`."""
        with self.transaction(user) as cur:
            cur.execute(query, params)
            return cur.fetchall() if cur.description else []

    def embedding_dim(self) -> int:
        rows = self.call("SELECT memory.embedding_dim() AS dim")
        return int(rows[0]["dim"])

    def check_dimension(self, name: str, dimension: int) -> None:
        """Refuse an embedder of another dimension than the installed one, naming both."""
        installed = self.embedding_dim()
        if dimension != installed:
            raise DimensionMismatch(name, dimension, installed)
