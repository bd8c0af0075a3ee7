"""The peers driven through their own packages: mem0ai's PGVector store and langchain-postgres'
PGVector (v1), against the same server and the same vectors as mempg.

Each package creates its own tables and indexes (Mem0: `id uuid, vector, payload jsonb` with an
HNSW index; LangChain: langchain_pg_collection / langchain_pg_embedding, no vector index) and
answers every benchmark query through its own search call. Only the bulk load bypasses them: the
rows are copied in with COPY (Mem0's executemany would take minutes), and Mem0's HNSW index is
dropped for the load and re-created from its own definition afterwards, as a bulk load would.

When a package is not installed (`make bench` installs both), bench/systems.py's re-creations of
their SQL are measured instead and the results say so.
"""

from __future__ import annotations

import logging
import os
from importlib import metadata
from typing import Any

import numpy as np
import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

MEM0_TABLE = "mem0_memories"
LANGCHAIN_COLLECTION_NAME = "mempg_bench"


def available() -> dict[str, str]:
    """Installed peer packages and their versions."""
    found = {}
    for package in ("mem0ai", "langchain-postgres"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return found


def _peer_url(url: str) -> str:
    """The peers' own tables go to schema bench (Mem0 looks its table up in public: also listed;
    the vector type lives in schema extensions)."""
    params = conninfo_to_dict(url)
    params["options"] = "-c search_path=bench,public,extensions"
    return make_conninfo(**params)


class Mem0Store:
    """mem0.vector_stores.pgvector.PGVector with Mem0's defaults (HNSW on, DiskANN off)."""

    def __init__(self, url: str, dim: int) -> None:
        os.environ.setdefault("MEM0_TELEMETRY", "False")
        from mem0.vector_stores.pgvector import PGVector

        logging.getLogger("mem0").setLevel(logging.WARNING)
        self.store = PGVector(
            dbname=None, collection_name=MEM0_TABLE, embedding_model_dims=dim, user=None,
            password=None, host=None, port=None, diskann=False, hnsw=True, minconn=1, maxconn=4,
            connection_string=_peer_url(url),
        )  # fmt: skip
        self.store.create_col()

    def load(self, conn: psycopg.Connection) -> None:
        """Copy mempg's memories in (same ids and vectors, Mem0's payload), index rebuilt after."""
        index = conn.execute(
            "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index"
            " WHERE indrelid = 'bench.mem0_memories'::regclass AND indexrelid::regclass::text LIKE '%hnsw%'"
        ).fetchone()
        conn.execute(f"DROP INDEX {index[0]}")
        conn.execute(
            "INSERT INTO bench.mem0_memories (id, vector, payload)"
            " SELECT id, embedding, jsonb_build_object('user_id', user_id, 'data', memory)"
            " FROM memory.memories"
        )
        conn.execute(index[1])

    def search(self, user: str, query: np.ndarray) -> list[str]:
        hits = self.store.search(
            query="", vectors=query.tolist(), top_k=10, filters={"user_id": user}
        )
        return [hit.id for hit in hits]

    def close(self) -> None:
        self.store.connection_pool.close()


class _GivenEmbeddings:
    """LangChain wants an Embeddings object; every vector here is computed beforehand."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        raise NotImplementedError("the benchmark passes vectors, never texts")

    def embed_query(self, text: str) -> list[float]:
        raise NotImplementedError("the benchmark passes vectors, never texts")


class LangChainStore:
    """langchain_postgres.PGVector (v1 API, jsonb metadata, its default cosine distance)."""

    def __init__(self, url: str, dim: int) -> None:
        from langchain_postgres import PGVector
        from sqlalchemy import create_engine

        peer_url = _peer_url(url)  # any libpq URL or key=value string, as given
        engine = create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(peer_url))
        self.store = PGVector(
            embeddings=_GivenEmbeddings(),  # type: ignore[arg-type]
            connection=engine,
            collection_name=LANGCHAIN_COLLECTION_NAME,
            embedding_length=dim,
            use_jsonb=True,
        )

    def load(self, conn: psycopg.Connection) -> None:
        collection = conn.execute(
            "SELECT uuid FROM bench.langchain_pg_collection WHERE name = %s",
            (LANGCHAIN_COLLECTION_NAME,),
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO bench.langchain_pg_embedding (id, collection_id, embedding, document, cmetadata)"
            " SELECT id::text, %s, embedding, memory, jsonb_build_object('user_id', user_id)"
            " FROM memory.memories",
            (collection,),
        )

    def search(self, user: str, query: np.ndarray) -> list[str]:
        hits = self.store.similarity_search_with_score_by_vector(
            query.tolist(), k=10, filter={"user_id": {"$eq": user}}
        )
        return [str(doc.id) for doc, _score in hits]

    def close(self) -> None:
        self.store._engine.dispose()


def open_stores(url: str, dim: int) -> dict[str, Any]:
    """The installed peers' stores, created (tables and indexes) by the packages themselves."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS bench")
    found = available()
    stores: dict[str, Any] = {}
    if "mem0ai" in found:
        stores["mem0"] = Mem0Store(url, dim)
    if "langchain-postgres" in found:
        stores["langchain"] = LangChainStore(url, dim)
    return stores
