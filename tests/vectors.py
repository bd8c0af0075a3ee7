"""Embeddings for tests: exact similarities on demand, and clustered data sets.

Random Gaussian vectors have no neighbours (every pair is nearly orthogonal), so recall measured
on them means nothing; `clustered` draws points around a few centres, as real embeddings are.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import psycopg
from pgvector.psycopg import register_vector

from helpers import wait_until_blocked_on_advisory_locks

DIM = 1536  # the default the template database is installed with
# how the template stores embeddings (`make test-halfvec` installs halfvec): the type to COPY
# in binary, its operator class, and how close a stored embedding is to the one given (halfvec
# keeps 11 significant bits: about 1e-3 relative)
EMBEDDING_TYPE = os.environ.get("MEMPG_TEST_EMBEDDING_TYPE") or "vector"
COSINE_OPS = f"{EMBEDDING_TYPE}_cosine_ops"
STORED_ATOL = 1e-3 if EMBEDDING_TYPE == "halfvec" else 1e-6


def as_stored(vectors: np.ndarray) -> np.ndarray:
    """The embeddings as the template stores and compares them: rounded to half floats on a
    halfvec install (a query is cast to the column's type too), unchanged on a vector one."""
    if EMBEDDING_TYPE == "halfvec":
        return vectors.astype(np.float16).astype(np.float32)
    return vectors


def unit(seed: int, dim: int = DIM) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=dim)
    return (v / np.linalg.norm(v)).astype(np.float32)


def with_similarity(base: np.ndarray, similarity: float, seed: int = 0) -> np.ndarray:
    """A unit vector whose cosine similarity to `base` is exactly `similarity`."""
    b = base / np.linalg.norm(base)
    other = unit(seed + 10_000, len(base)).astype(np.float64)
    other -= other.dot(b) * b
    other /= np.linalg.norm(other)
    return (similarity * b + np.sqrt(1 - similarity**2) * other).astype(np.float32)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def clustered(count: int, centres: np.ndarray, spread: float, seed: int) -> np.ndarray:
    """`count` points around randomly chosen centres (rows of `centres`), normalised.

    The noise has norm about `spread` against unit centres: 0.8 puts points at cosine ~0.78 from
    their centre and ~0.6 from each other, with real gaps between nearest neighbours.
    """
    rng = np.random.default_rng(seed)
    unit_centres = centres / np.linalg.norm(centres, axis=1, keepdims=True)
    picks = unit_centres[rng.integers(0, len(centres), count)]
    points = picks + spread * rng.normal(size=picks.shape) / np.sqrt(centres.shape[1])
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


TRANSACTION_CONTROL = ("BEGIN", "START", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE")


class ActingConnection(psycopg.Connection):
    """A session that acts for one application user the way an application does per request:
    every statement runs in a transaction that sets the role and app.user_id transaction-locally
    (set_config(..., true)), so nothing of the identity outlives it (DESIGN.md, Tests). Inside a
    transaction the test opened itself, the identity is set in it and lasts until its end."""

    acting_role: str = "authenticated"
    acting_user: str | None = None

    def act_as(self, user: str | None, role: str | None = None) -> None:
        self.acting_user = user
        if role is not None:
            self.acting_role = role

    def execute(self, query, params=None, *, prepare=None, binary=False):  # type: ignore[override]
        text = query if isinstance(query, str) else ""
        if text.lstrip().upper().startswith(TRANSACTION_CONTROL):
            return super().execute(query, params, prepare=prepare, binary=binary)
        with self.transaction():
            super().execute(
                "SELECT set_config('role', %s, true), set_config('app.user_id', %s, true)",
                (self.acting_role, self.acting_user or ""),
            )
            return super().execute(query, params, prepare=prepare, binary=binary)


def connect_as(url: str, user: str | None, role: str = "authenticated") -> ActingConnection:
    """A session acting as `role` for app user `user` (None: no identity), per transaction."""
    conn = ActingConnection.connect(url, autocommit=True)
    register_vector(conn)
    conn.act_as(user, role)
    return conn


def vector_literal(values: list[str] | np.ndarray) -> str:
    """A vector as SQL text, for values that numpy cannot carry (NaN, out-of-range components)."""
    return "[" + ",".join(str(v) for v in values) + "]"


def filled(value: str, dim: int = DIM) -> str:
    """A `dim`-dimensional vector literal with every component `value`."""
    return vector_literal([value] * dim)


def add_memory(
    conn: psycopg.Connection, text: str, embedding: object, user: str = "alice", **arguments: object
) -> tuple[str, str]:
    """memory.add_memory(user, text, embedding, <named arguments>): (id, event)."""
    named = "".join(f", {name} => %({name})s" for name in arguments)
    row = conn.execute(
        f"SELECT id::text, event FROM memory.add_memory(%(user)s, %(text)s, %(embedding)s{named})",
        {"user": user, "text": text, "embedding": embedding, **arguments},
    ).fetchone()
    assert row is not None
    return row[0], row[1]


def owner(url: str) -> psycopg.Connection:
    """A superuser session (bypasses RLS) for arranging and inspecting test data."""
    conn = psycopg.connect(url, autocommit=True)
    register_vector(conn)
    return conn


def nested_plans(
    url: str, user: str, statement: str, params: tuple, calls: int = 1, verbose: bool = False
) -> str:
    """The plans of every statement `statement` runs on its last call, as auto_explain logs them
    (nested statements included), in a session acting as `user`; `verbose` adds each node's
    output expressions.

    Several calls in one session let PL/pgSQL and SQL functions switch to cached generic plans
    (after five executions), which must still take the intended path.
    """
    plans: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        register_vector(conn)
        conn.add_notice_handler(lambda diag: plans.append(diag.message_primary or ""))
        conn.execute("LOAD 'auto_explain'")
        conn.execute("SET auto_explain.log_min_duration = 0")
        conn.execute("SET auto_explain.log_nested_statements = on")
        conn.execute(f"SET auto_explain.log_verbose = {'on' if verbose else 'off'}")
        conn.execute("SET client_min_messages = log")
        conn.execute(
            "SELECT set_config('role', 'authenticated', false), set_config('app.user_id', %s, false)",
            (user,),
        )
        for _ in range(calls):
            plans.clear()
            conn.execute(statement, params).fetchall()
    return "\n".join(plans)


def run_behind_scope_locks(
    url: str, conns: list[psycopg.Connection], users: list[str], work: Callable[[int], Any]
) -> list[Any]:
    """Run work(i) in one thread per session while the owner holds the dedup scope lock of each
    user (no agent); once pg_locks shows every session blocked on it, release them all at once.
    The interleaving is proven, not hoped for. Returns each work's result; re-raises any error."""
    results: list[Any] = [None] * len(conns)
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            results[index] = work(index)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    with owner(url) as admin:
        admin.execute(
            "SELECT pg_advisory_lock(memory.scope_lock_key(u, NULL)) FROM unnest(%s::text[]) AS u",
            (sorted(set(users)),),
        )
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(conns))]
        for thread in threads:
            thread.start()
        wait_until_blocked_on_advisory_locks(admin, [c.info.backend_pid for c in conns], errors)
        admin.execute("SELECT pg_advisory_unlock_all()")
        for thread in threads:
            thread.join(timeout=300)
    assert not errors, errors
    return results
