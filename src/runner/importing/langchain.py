"""LangChain's pgvector stores (langchain-postgres), as their code writes them.

- v1 (`PGVector`): `langchain_pg_collection(uuid, name, cmetadata)` and
  `langchain_pg_embedding(id, collection_id, embedding, document, cmetadata jsonb)`; every
  collection, or the one --collection names; the collection's name lands in metadata.
- v2 (`PGVectorStore`): one table per store, --table, with `langchain_id uuid, content,
  embedding, langchain_metadata json` and any metadata columns of its own (kept in metadata).
LangChain keeps no user: give --user, or --user-from a metadata field.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg import sql

from runner.importing.loader import SourceError
from runner.importing.mem0 import _redacted
from runner.importing.records import Item, MemoryRow, Unreadable

V2_COLUMNS = {"langchain_id", "content", "embedding", "langchain_metadata"}


class LangChainSource:
    kind = "langchain"

    def __init__(self, url: str, *, collection: str | None, table: str | None) -> None:
        self.url = url
        self.collection = collection
        self.table = table
        try:
            with psycopg.connect(url, connect_timeout=10) as conn:
                if table is not None:
                    columns = _columns(conn, table)
                    if not columns:
                        raise SourceError(f"the LangChain database has no table {table}")
                    missing = V2_COLUMNS - columns
                    if missing:
                        raise SourceError(
                            f"{table} is not a LangChain v2 table: no column {', '.join(sorted(missing))}"
                        )
                elif not _columns(conn, "langchain_pg_embedding"):
                    raise SourceError(
                        "the LangChain database has no langchain_pg_embedding table (a v2 store: give --table)"
                    )
                elif (
                    collection is not None
                    and not conn.execute(
                        "SELECT 1 FROM langchain_pg_collection WHERE name = %s", (collection,)
                    ).fetchone()
                ):
                    raise SourceError(f"the LangChain database has no collection {collection}")
        except psycopg.Error as exc:
            raise SourceError(
                f"cannot read the LangChain database: {str(exc).splitlines()[0]}"
            ) from None
        where = f" table={table}" if table else f" collection={collection or '*'}"
        self.name = _redacted(url) + where

    def items(self) -> Iterator[Item]:
        with psycopg.connect(self.url) as conn, conn.cursor(name="mempg_import") as cur:
            cur.itersize = 1000
            if self.table is not None:
                cur.execute(
                    sql.SQL(
                        "SELECT t.langchain_id::text, t.content, t.embedding::text, t.langchain_metadata::jsonb,"
                        " to_jsonb(t) - 'langchain_id' - 'content' - 'embedding' - 'langchain_metadata'"
                        " FROM {} AS t ORDER BY t.langchain_id"
                    ).format(sql.Identifier(*self.table.split(".")))
                )
                for ident, content, embedding, metadata, columns in cur:
                    merged = (
                        {**(columns or {}), **(metadata or {})}
                        if isinstance(metadata or {}, dict)
                        else metadata
                    )
                    yield _row(ident, content, embedding, merged)
            else:
                cur.execute(
                    "SELECT e.id::text, e.document, e.embedding::text, e.cmetadata, c.name"
                    " FROM langchain_pg_embedding AS e JOIN langchain_pg_collection AS c ON c.uuid = e.collection_id"
                    " WHERE %(collection)s::text IS NULL OR c.name = %(collection)s ORDER BY c.name, e.id",
                    {"collection": self.collection},
                )
                for ident, content, embedding, metadata, collection in cur:
                    if isinstance(metadata, dict):
                        metadata = {**metadata, "langchain_collection": collection}
                    yield _row(
                        f"{collection}/{ident}", content, embedding, metadata, preferred=ident
                    )


def _columns(conn: psycopg.Connection, table: str) -> set[str]:
    return {
        row[0]
        for row in conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped",
            (table,),
        )
    }


def _row(
    ident: str, content: Any, embedding: str | None, metadata: Any, preferred: str | None = None
) -> Item:
    if metadata is not None and not isinstance(metadata, dict):
        return Unreadable(ident, "metadata is not a JSON object")
    return MemoryRow(
        source_id=ident,
        preferred_id=preferred or ident,  # kept when it is a uuid and free (the loader decides)
        user_id=None,
        memory=content,
        embedding=None if embedding is None else json.loads(embedding),
        metadata=metadata or {},
        source="langchain",
    )
