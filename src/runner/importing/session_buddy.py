"""Session-Buddy's DuckDB files (a memory server for coding agents), read with the PyPI package
`duckdb` (>= 2.0 opens files of both storage versions; installed on first use).

- `reflection.duckdb`: `conversations_v2` and `reflections_v2` -> memories. Their FLOAT[384]
  embedding is used when present (NULL: a pending memory); category and subcategory (or tags)
  become categories, importance_score the relevance, related_entities entity links by name;
  tier, project, namespace, session, parents, reasoning and the row's metadata JSON land in
  metadata.
- `knowledge_graph.duckdb`: `kg_entities` -> entities (observations -> memories about them,
  pending: they carry no embedding of their own), `kg_relationships` -> relations between them,
  valid from the relationship's created_at.
A file may hold any of these tables; the ones present are read.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from runner.importing.loader import SourceError
from runner.importing.records import Item, MemoryRow, Record

TABLES = ("kg_entities", "conversations_v2", "reflections_v2", "kg_relationships")


def require_duckdb() -> Any:
    """The duckdb module, installed into this environment on first use."""
    try:
        import duckdb
    except ImportError:
        print("installing duckdb (the import's DuckDB reader) ...", file=sys.stderr)
        result = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "duckdb>=2.0"], check=False
        )
        if result.returncode != 0:
            raise SourceError(
                "reading DuckDB files needs the duckdb package: pip install 'mempg[import]'"
            ) from None
        import duckdb
    return duckdb


class SessionBuddySource:
    kind = "session-buddy"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = str(path.resolve())
        if not path.is_file():
            raise SourceError(f"{path}: no such file")
        duckdb = require_duckdb()
        try:
            with duckdb.connect(str(path), read_only=True) as conn:
                columns = set(
                    conn.execute(
                        "SELECT table_name, column_name FROM information_schema.columns"
                    ).fetchall()
                )
                self.tables = {table for table, _ in columns}
        except duckdb.Error as exc:
            raise SourceError(
                f"{path}: not a DuckDB database ({str(exc).splitlines()[0]})"
            ) from None
        if not self.tables & set(TABLES):
            raise SourceError(
                f"{path}: none of Session-Buddy's tables ({', '.join(TABLES)}) is in it"
            )
        without_id = [t for t in TABLES if t in self.tables and (t, "id") not in columns]
        if without_id:
            raise SourceError(f"{path}: {', '.join(without_id)} has no column id")

    def items(self) -> Iterator[Item]:
        duckdb = require_duckdb()
        with duckdb.connect(str(self.path), read_only=True) as conn:
            for table in TABLES:
                if table not in self.tables:
                    continue
                cursor = conn.execute(f"SELECT * FROM {table} ORDER BY id")  # a name from TABLES
                names = [column[0] for column in cursor.description]
                while rows := cursor.fetchmany(1000):
                    for values in rows:
                        yield from READERS[table](dict(zip(names, values, strict=True)))


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return {"text": value}
    return value


def _time(value: Any) -> str | None:
    return (
        None
        if value is None
        else (value.isoformat() if hasattr(value, "isoformat") else str(value))
    )


def _vector(value: Any) -> list[float] | None:
    return None if value is None else [float(x) for x in value]


def _score(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and 0 <= value <= 1 else None


def _metadata(row: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    metadata = _json(row.get("metadata")) or {}
    if not isinstance(metadata, dict):
        metadata = {"metadata": metadata}
    for key in keys:
        value = row.get(key)
        if value is not None:
            metadata.setdefault(key, _time(value) if hasattr(value, "isoformat") else value)
    if (
        isinstance(row.get("importance_score"), int | float)
        and _score(row["importance_score"]) is None
    ):
        metadata.setdefault("importance_score", row["importance_score"])
    return metadata


def _conversation(row: dict[str, Any]) -> Iterator[Item]:
    categories = [c for c in (row.get("category"), row.get("subcategory")) if c]
    yield MemoryRow(
        source_id=f"conversations_v2/{row['id']}",
        user_id=row.get("user_id"),
        memory=row.get("content"),
        embedding=_vector(row.get("embedding")),
        metadata=_metadata(
            row,
            (
                "memory_tier",
                "access_count",
                "last_accessed",
                "project",
                "namespace",
                "session_id",
                "reasoning",
                "source_type",
                "turn_parent_id",
                "causal_parent_id",
            ),
        ),
        categories=categories or None,
        memory_type="conversation",
        relevance_score=_score(row.get("importance_score")),
        created_at=_time(row.get("timestamp")),
        source="session-buddy",
    )


def _reflection(row: dict[str, Any]) -> Iterator[Item]:
    categories = [
        c for c in (row.get("category"), row.get("subcategory"), *(row.get("tags") or [])) if c
    ]
    entities = [{"name": name} for name in row.get("related_entities") or [] if name]
    created = row.get("created_at") or row.get("timestamp")
    yield MemoryRow(
        source_id=f"reflections_v2/{row['id']}",
        user_id=row.get("user_id"),
        memory=row.get("content"),
        embedding=_vector(row.get("embedding")),
        metadata=_metadata(
            row,
            (
                "conversation_id",
                "memory_tier",
                "namespace",
                "project",
                "access_count",
                "last_accessed",
                "source_session_id",
                "source_artifact_uri",
            ),
        ),
        categories=categories or None,
        memory_type="reflection",
        relevance_score=_score(row.get("importance_score")),
        created_at=_time(created),
        updated_at=_time(row.get("updated_at")) if row.get("updated_at") and created else None,
        entities=entities or None,
        source="session-buddy",
    )


def _entity(row: dict[str, Any]) -> Iterator[Item]:
    ident = str(row["id"])
    attributes = _json(row.get("properties")) or {}
    if not isinstance(attributes, dict):
        attributes = {"properties": attributes}
    extra = _json(row.get("metadata"))
    if extra:
        attributes.setdefault("metadata", extra)
    doc: dict[str, Any] = {
        "name": row.get("name"),
        "type": row.get("entity_type"),
        "attributes": attributes,
    }
    embedding = _vector(row.get("embedding"))
    if embedding is not None:
        doc["embedding"] = embedding
    yield Record("entity", ident, row.get("user_id"), doc)
    for index, observation in enumerate(row.get("observations") or []):
        yield MemoryRow(
            source_id=f"kg_entities/{ident}/observation-{index}",
            user_id=row.get("user_id"),
            memory=observation,
            entities=[{"id": ident, "role": "subject"}],
            memory_type="observation",
            created_at=_time(row.get("created_at")),
            source="session-buddy",
        )


def _relationship(row: dict[str, Any]) -> Iterator[Item]:
    properties = _json(row.get("properties"))
    doc = {
        "subject": None if row.get("from_entity") is None else str(row["from_entity"]),
        "object": None if row.get("to_entity") is None else str(row["to_entity"]),
        "relation": row.get("relation_type"),
        "valid_from": _time(row.get("created_at")),
        "fact": json.dumps(properties, sort_keys=True) if properties else None,
    }
    yield Record(
        "relation",
        str(row["id"]),
        row.get("user_id"),
        {k: v for k, v in doc.items() if v is not None},
    )


READERS = {
    "conversations_v2": _conversation,
    "reflections_v2": _reflection,
    "kg_entities": _entity,
    "kg_relationships": _relationship,
}
