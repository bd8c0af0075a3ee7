"""Mem0 (mem0ai 2.x) as its own code writes it.

- Its pgvector store: a table `(id uuid, vector vector(n), payload jsonb)` (collection `mem0` by
  default, --table otherwise), the payload holding `data` (the text), `hash`, `user_id`,
  `agent_id`, `run_id`, `created_at`, `updated_at`, `text_lemmatized` (its BM25 copy, dropped)
  and the memory's metadata keys at the top level. Ids are kept when free.
- Its SQLite history database: `history(id, memory_id, old_memory, new_memory, event, created_at,
  updated_at, is_deleted, actor_id, role)`, appended to the history of memories imported from
  Mem0 before (by memory id); Mem0's event NONE records nothing and is skipped here.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from runner.importing.loader import SourceError
from runner.importing.records import Item, MemoryRow, Record, Unreadable

PAYLOAD_COLUMNS = {
    "data",
    "hash",
    "user_id",
    "agent_id",
    "run_id",
    "created_at",
    "updated_at",
    "text_lemmatized",
    "categories",
}


def _redacted(url: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(url)
    info.pop("password", None)
    return " ".join(f"{key}={value}" for key, value in sorted(info.items()))


class Mem0PgSource:
    kind = "mem0-pg"

    def __init__(self, url: str, table: str) -> None:
        self.url = url
        self.table = table
        self.name = f"{_redacted(url)} table={table}"
        try:
            with psycopg.connect(url, connect_timeout=10) as conn:
                columns = {
                    row[0]
                    for row in conn.execute(
                        "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0"
                        " AND NOT attisdropped",
                        (table,),
                    )
                }
        except psycopg.Error as exc:
            raise SourceError(
                f"cannot read the Mem0 database: {str(exc).splitlines()[0]}"
            ) from None
        if not columns:
            raise SourceError(
                f"the Mem0 database has no table {table} (give its collection with --table)"
            )
        missing = {"id", "vector", "payload"} - columns
        if missing:
            raise SourceError(
                f"{table} is not a Mem0 pgvector table: no column {', '.join(sorted(missing))}"
            )

    def items(self) -> Iterator[Item]:
        query = sql.SQL(
            "SELECT id::text, vector::text, payload FROM {} ORDER BY payload->>'created_at', id"
        ).format(sql.Identifier(*self.table.split(".")))
        with psycopg.connect(self.url) as conn, conn.cursor(name="mempg_import") as cur:
            cur.itersize = 1000
            cur.execute(query)
            for ident, vector, payload in cur:
                yield mem0_row(ident, None if vector is None else json.loads(vector), payload)


def mem0_row(ident: str, vector: list[float] | None, payload: Any) -> Item:
    if not isinstance(payload, dict):
        return Unreadable(ident, "payload is not a JSON object")
    metadata = {key: value for key, value in payload.items() if key not in PAYLOAD_COLUMNS}
    categories = payload.get("categories")
    return MemoryRow(
        source_id=ident,
        preferred_id=ident,
        user_id=payload.get("user_id"),
        memory=payload.get("data"),
        embedding=vector,
        agent_id=payload.get("agent_id"),
        run_id=payload.get("run_id"),
        metadata=metadata,
        categories=categories if isinstance(categories, list) else None,
        created_at=payload.get("created_at"),
        updated_at=payload.get("updated_at"),
        source="mem0",
    )


class Mem0HistorySource:
    kind = "mem0-history"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = str(path.resolve())
        if not path.is_file():
            raise SourceError(f"{path}: no such file")
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
                columns = {row[1] for row in conn.execute("PRAGMA table_info(history)")}
        except sqlite3.DatabaseError as exc:
            raise SourceError(f"{path}: not a SQLite database ({exc})") from None
        if not columns:
            raise SourceError(f"{path}: no history table (not a Mem0 history database)")
        missing = {"id", "memory_id", "old_memory", "new_memory", "event", "created_at"} - columns
        if missing:
            raise SourceError(f"{path}: history has no column {', '.join(sorted(missing))}")

    def items(self) -> Iterator[Item]:
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        try:
            for row in conn.execute("SELECT * FROM history ORDER BY created_at, rowid"):
                if row["event"] == "NONE":
                    continue
                doc = {
                    "memory": row["memory_id"],
                    "event": row["event"],
                    "old_memory": row["old_memory"],
                    "new_memory": row["new_memory"],
                    "created_at": row["created_at"],
                    "actor": dict(row).get("actor_id"),
                }
                yield Record(
                    "history", str(row["id"]), None, {k: v for k, v in doc.items() if v is not None}
                )
        finally:
            conn.close()
