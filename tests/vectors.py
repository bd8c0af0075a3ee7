"""Embeddings for tests: exact similarities on demand, and clustered data sets.

Random Gaussian vectors have no neighbours (every pair is nearly orthogonal), so recall measured
on them means nothing; `clustered` draws points around a few centres, as real embeddings are.
"""

from __future__ import annotations

import numpy as np
import psycopg
from pgvector.psycopg import register_vector

DIM = 1536  # the default the template database is installed with


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


def connect_as(url: str, user: str | None, role: str = "authenticated") -> psycopg.Connection:
    """A session acting as `role` for app user `user` (None: no identity)."""
    conn = psycopg.connect(url, autocommit=True)
    register_vector(conn)
    conn.execute("SELECT set_config('role', %s, false)", (role,))
    if user is not None:
        conn.execute("SELECT set_config('app.user_id', %s, false)", (user,))
    return conn


def owner(url: str) -> psycopg.Connection:
    """A superuser session (bypasses RLS) for arranging and inspecting test data."""
    conn = psycopg.connect(url, autocommit=True)
    register_vector(conn)
    return conn


def nested_plans(url: str, user: str, statement: str, params: tuple, calls: int = 1) -> str:
    """The plans of every statement `statement` runs on its last call, as auto_explain logs them
    (nested statements included), in a session acting as `user`.

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
        conn.execute("SET client_min_messages = log")
        conn.execute(
            "SELECT set_config('role', 'authenticated', false), set_config('app.user_id', %s, false)",
            (user,),
        )
        for _ in range(calls):
            plans.clear()
            conn.execute(statement, params).fetchall()
    return "\n".join(plans)
