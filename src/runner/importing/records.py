"""What a source yields: memories (typed, sent by COPY) and other records (JSON documents)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

RECORD_KINDS = ("entity", "relation", "interaction", "history")


@dataclass
class MemoryRow:
    """One memory of a source, in the columns of pg_temp.memory_import_rows (import_staging.sql)."""

    source_id: str
    user_id: str | None
    memory: Any
    embedding: list[float] | None = None
    agent_id: str | None = None
    run_id: str | None = None
    metadata: dict[str, Any] | None = None
    categories: list[str] | None = None
    memory_type: str | None = None
    source: str | None = None
    relevance_score: float | None = None
    expires_at: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    entities: list[Any] | None = None
    restore: dict[str, Any] | None = None
    preferred_id: str | None = None  # any source id: used when it is a uuid no memory holds


@dataclass
class Record:
    """An entity, relation, interaction or history record: a JSON document (import_batch.sql)."""

    kind: str
    source_id: str
    user_id: str | None
    doc: dict[str, Any] = field(default_factory=dict)


@dataclass
class Unreadable:
    """A row the reader could not parse: reported as rejected, with its place in the source."""

    source_id: str
    reason: str
    kind: str = "memory"


Item = MemoryRow | Record | Unreadable
