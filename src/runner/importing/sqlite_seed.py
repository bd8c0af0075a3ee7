"""The SQLite memory database of seed 003 (../shared/seeds/003: users, entities, memories,
interactions, api_usage_tracking), read with the standard library.

What is read, and how it maps (columns a file lacks are skipped; others land in metadata or
attributes, so nothing of a row is lost):
- `entities(id, user_id, name, entity_type, person_type, importance, last_interaction,
  interaction_count, social_media, ...)` -> entities: importance on 0..1 as is, on 0..10 scaled,
  contact fields (social_media, email, phone, ...) in contact; the counters are recomputed by
  mempg from the interactions, so the seed's own are kept in attributes only;
- `memories(id, user_id, content, memory_type, importance, entity_ids JSON, embedding JSON,
  is_archived, created_at, updated_at)` -> memories linked to their entities;
- `interactions(id, user_id, entity_id, ..., created_at)` -> interactions of those entities.
`users` and `api_usage_tracking` are the application's, not memories: not imported.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runner.importing.loader import SourceError
from runner.importing.records import Item, MemoryRow, Record, Unreadable

CONTACT_COLUMNS = ("social_media", "email", "phone", "website", "linkedin", "twitter")
ENTITY_COLUMNS = {
    "id",
    "user_id",
    "name",
    "entity_type",
    "person_type",
    "importance",
    "created_at",
    "updated_at",
}
MEMORY_COLUMNS = {
    "id",
    "user_id",
    "content",
    "memory_type",
    "entity_ids",
    "embedding",
    "created_at",
    "updated_at",
}


def is_mem0_history(path: Path) -> bool:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            tables = {
                row[0]
                for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
    except sqlite3.DatabaseError:
        return False
    return "history" in tables and "memories" not in tables


class SeedSqliteSource:
    kind = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = str(path.resolve())
        if not path.is_file():
            raise SourceError(f"{path}: no such file")
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
                self.tables = {
                    row[0]: {column[1] for column in conn.execute(f"PRAGMA table_info({row[0]})")}
                    for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                }
        except sqlite3.DatabaseError as exc:
            raise SourceError(f"{path}: not a SQLite database ({exc})") from None
        if "memories" not in self.tables:
            raise SourceError(f"{path}: no memories table (not the seed's memory database)")
        missing = {"id", "user_id", "content"} - self.tables["memories"]
        if missing:
            raise SourceError(f"{path}: memories has no column {', '.join(sorted(missing))}")
        for table in ("entities", "interactions"):
            if table in self.tables and "id" not in self.tables[table]:
                raise SourceError(f"{path}: {table} has no column id")

    def items(self) -> Iterator[Item]:
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        try:
            if "entities" in self.tables:
                for row in conn.execute("SELECT * FROM entities ORDER BY id"):
                    yield _entity(_plain(dict(row)))
            for row in conn.execute("SELECT * FROM memories ORDER BY id"):
                yield _memory(_plain(dict(row)))
            if "interactions" in self.tables:
                for row in conn.execute("SELECT * FROM interactions ORDER BY id"):
                    yield _interaction(_plain(dict(row)))
        finally:
            conn.close()


def timestamp(value: Any) -> str | None:
    """SQLite keeps times as text or as Unix seconds."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000 if value > 1e11 else value, UTC).isoformat()
    return str(value)


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """A row with BLOBs as hex text, so that metadata stays JSON."""
    return {key: value.hex() if isinstance(value, bytes) else value for key, value in row.items()}


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _importance(value: Any) -> float | None:
    if not isinstance(value, int | float):
        return None
    if 0 <= value <= 1:
        return float(value)
    if 1 < value <= 10:
        return value / 10
    return None


def _entity(row: dict[str, Any]) -> Item:
    contact = {key: _json(row[key]) for key in CONTACT_COLUMNS if row.get(key) not in (None, "")}
    attributes = {
        key: value
        for key, value in row.items()
        if key not in ENTITY_COLUMNS and key not in CONTACT_COLUMNS and value is not None
    }
    doc = {
        "name": row.get("name"),
        "type": row.get("entity_type"),
        "person_type": row.get("person_type"),
        "importance": _importance(row.get("importance")),
        "contact": contact,
        "attributes": attributes,
    }
    return Record(
        "entity",
        str(row.get("id")),
        _text(row.get("user_id")),
        {k: v for k, v in doc.items() if v is not None},
    )


def _memory(row: dict[str, Any]) -> Item:
    ident = str(row.get("id"))
    embedding = _json(row.get("embedding"))
    if embedding is not None and not isinstance(embedding, list):
        return Unreadable(ident, "embedding is not a JSON array")
    entity_ids = _json(row.get("entity_ids"))
    if entity_ids is not None and not isinstance(entity_ids, list):
        return Unreadable(ident, "entity_ids is not a JSON array")
    metadata = {
        key: value for key, value in row.items() if key not in MEMORY_COLUMNS and value is not None
    }
    if "is_archived" in metadata:
        metadata["is_archived"] = bool(metadata["is_archived"])
    return MemoryRow(
        source_id=ident,
        user_id=_text(row.get("user_id")),
        memory=row.get("content"),
        embedding=embedding or None,
        memory_type=row.get("memory_type"),
        metadata=metadata,
        relevance_score=_importance(row.get("importance")),
        created_at=timestamp(row.get("created_at")),
        updated_at=timestamp(row.get("updated_at")),
        entities=[{"id": str(e)} for e in entity_ids] if entity_ids else None,
        source="seed-sqlite",
    )


def _interaction(row: dict[str, Any]) -> Item:
    summary = next(
        (row[key] for key in ("summary", "content", "notes", "description") if row.get(key)), None
    )
    doc = {
        "entity": None if row.get("entity_id") is None else str(row["entity_id"]),
        "summary": summary,
        "occurred_at": timestamp(
            row.get("date") or row.get("occurred_at") or row.get("created_at")
        ),
        "channel": row.get("interaction_type") or row.get("type") or row.get("channel"),
        "metadata": {
            key: value
            for key, value in row.items()
            if key
            not in {"id", "user_id", "entity_id", "summary", "content", "notes", "created_at"}
            and value is not None
        },
    }
    return Record(
        "interaction",
        str(row.get("id")),
        _text(row.get("user_id")),
        {k: v for k, v in doc.items() if v is not None},
    )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
